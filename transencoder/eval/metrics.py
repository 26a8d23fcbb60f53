"""Correlations and SentEval's aggregations over the subsets of a task.

For a task made of subsets (STS12-16), SentEval computes three numbers:

* ``all``: one correlation over the pooled pairs of every subset (what SimCSE reports);
* ``mean``: the plain mean of the per-subset correlations;
* ``wmean``: their mean weighted by subset size.

Every figure is the correlation times 100. A set that cannot be correlated (fewer than two
pairs, constant gold scores, constant or non-finite predictions) gives NaN with a ``reason``,
which :meth:`TaskScore.to_dict` writes as ``null`` plus the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import pearsonr, spearmanr

AGGREGATIONS = ("all", "mean", "wmean")


@dataclass(frozen=True)
class Correlation:
    spearman: float
    pearson: float
    n: int
    reason: str | None = None

    def to_dict(self, digits: int = 4) -> dict:
        out = {
            "spearman": _rounded(self.spearman, digits),
            "pearson": _rounded(self.pearson, digits),
            "n": self.n,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _rounded(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def undefined_reason(predicted: np.ndarray, gold: np.ndarray) -> str | None:
    """Why a correlation of these scores is undefined (``None`` when it is defined)."""
    if len(gold) == 0:
        return "no pairs"
    if len(gold) == 1:
        return "only one pair"
    if np.ptp(gold) == 0:
        return f"constant gold scores (every pair is {float(gold[0]):g})"
    if not np.isfinite(predicted).all():
        return f"{int((~np.isfinite(predicted)).sum())} non-finite predicted scores"
    if np.ptp(predicted) == 0:
        return f"constant predictions (every pair scored {float(predicted[0]):g})"
    return None


def correlate(predicted: np.ndarray, gold: np.ndarray) -> Correlation:
    """Spearman and Pearson x100 between system scores and gold scores (NaN and a reason
    when the correlation is undefined)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if predicted.shape != gold.shape:
        raise ValueError(f"{predicted.shape[0]} predictions for {gold.shape[0]} gold scores")
    reason = undefined_reason(predicted, gold)
    if reason is not None:
        return Correlation(float("nan"), float("nan"), len(gold), reason)
    return Correlation(
        spearman=float(spearmanr(predicted, gold)[0]) * 100,
        pearson=float(pearsonr(predicted, gold)[0]) * 100,
        n=len(gold),
    )


@dataclass
class TaskScore:
    """A task's headline correlation (under ``aggregation``) and its subsets' correlations."""

    spearman: float
    pearson: float
    n: int
    aggregation: str
    subsets: dict[str, Correlation] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    reason: str | None = None
    #: Subsets left out of ``mean`` / ``wmean`` (``"name: reason"``).
    left_out: list[str] = field(default_factory=list)

    @property
    def defined(self) -> bool:
        return math.isfinite(self.spearman)

    def to_dict(self, digits: int = 4) -> dict:
        out = {
            "spearman": _rounded(self.spearman, digits),
            "pearson": _rounded(self.pearson, digits),
            "n": self.n,
            "aggregation": self.aggregation,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.left_out:
            out["left_out"] = self.left_out
        if len(self.subsets) > 1:
            out["subsets"] = {name: c.to_dict(digits) for name, c in self.subsets.items()}
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def aggregate(
    predicted: Sequence[np.ndarray],
    gold: Sequence[np.ndarray],
    names: Sequence[str],
    aggregation: str,
) -> TaskScore:
    """Score a task from its subsets' predictions, as SentEval's STS evaluation does."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    subsets = {name: correlate(p, g) for name, p, g in zip(names, predicted, gold)}
    n = sum(c.n for c in subsets.values())
    if aggregation == "all" or len(subsets) == 1:
        pooled = correlate(np.concatenate(predicted), np.concatenate(gold))
        return TaskScore(
            pooled.spearman, pooled.pearson, n, aggregation, subsets, reason=pooled.reason
        )
    # SentEval's mean / wmean of the per-subset correlations; a subset without one is left out.
    kept = [c for c in subsets.values() if c.reason is None]
    left_out = [f"{name}: {c.reason}" for name, c in subsets.items() if c.reason is not None]
    if not kept:
        nan = float("nan")
        return TaskScore(
            nan,
            nan,
            n,
            aggregation,
            subsets,
            reason="no subset has a correlation (" + "; ".join(left_out) + ")",
        )
    weights = np.array([c.n for c in kept], dtype=np.float64)
    if aggregation == "mean":
        weights = np.ones_like(weights)
    spearman = float(np.average([c.spearman for c in kept], weights=weights))
    pearson = float(np.average([c.pearson for c in kept], weights=weights))
    return TaskScore(spearman, pearson, n, aggregation, subsets, left_out=left_out)
