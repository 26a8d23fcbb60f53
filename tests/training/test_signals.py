"""The label-free signals against a float64 Spearman, and the warning on constructed cases."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from transencoder.training import signals


def _spearman(a, b) -> float:
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float(100 * (ra @ rb) / np.sqrt((ra @ ra) * (rb @ rb)))


def test_signals_are_spearman_of_the_saved_arrays():
    rng = np.random.default_rng(0)
    start = rng.normal(size=200)
    targets = start + rng.normal(scale=0.3, size=200)
    cross = targets + rng.normal(scale=0.5, size=200)
    bi_targets = 0.5 * cross + 0.5 * start
    found = signals.cycle_signals(cross, targets, start, bi_targets)
    assert found["cross_fit"] == round(_spearman(cross, targets), 2)
    assert found["cross_vs_start"] == round(_spearman(cross, start), 2)
    assert found["targets_vs_start"] == round(_spearman(bi_targets, start), 2)


def test_the_warning_fires_on_a_cross_encoder_that_did_not_learn_its_labels():
    rng = np.random.default_rng(1)
    targets = rng.normal(size=300)
    learnt = targets + rng.normal(scale=0.05, size=300)  # fits: Spearman ~99
    noise = rng.normal(size=300)  # did not learn: Spearman ~0
    limit = signals.WARN_BELOW["cross_fit"]
    good = signals.cycle_signals(learnt, targets, targets, targets)
    bad = signals.cycle_signals(noise, targets, targets, targets)
    assert good["cross_fit"] >= limit > bad["cross_fit"]
    assert signals.warnings(good, 1) == []
    (line,) = signals.warnings(bad, 2)
    assert line.startswith("warning: cycle 2: cross_fit") and "--dev-data" in line
    assert signals.warnings({"cross_fit": float("nan")}, 1)  # undefined counts as a warning
