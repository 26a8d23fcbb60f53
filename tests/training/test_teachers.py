"""The teachers: pure functions over score arrays, against hand computations."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from transencoder.training import combine_teachers


def test_combine_raw_is_weighted_mean():
    a, b = np.array([0.1, 0.5, 0.9]), np.array([0.3, 0.3, 0.6])
    np.testing.assert_allclose(combine_teachers([a, b], [0.75, 0.25]), 0.75 * a + 0.25 * b)


def test_combine_rank_keeps_the_reference_values_in_the_teachers_order():
    rng = np.random.default_rng(0)
    cross, start, reference = rng.uniform(0, 1, 50), rng.uniform(-0.2, 1, 50), rng.uniform(0, 1, 50)
    labels = combine_teachers([cross, start], [0.5, 0.5], mode="rank", reference=reference)
    np.testing.assert_array_equal(np.sort(labels), np.sort(reference))  # same values ...
    combined = (rankdata(cross) + rankdata(start)) / 2
    for value in np.unique(combined)[:-1]:  # ... in the combined order (ties may go either way)
        following = combined[combined > value].min()
        assert labels[combined == value].max() <= labels[combined == following].min()


