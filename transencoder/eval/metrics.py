"""Correlations and SentEval's aggregations over the subsets of a task.

For a task made of subsets (STS12-16), SentEval computes three numbers:

* ``all``: one correlation over the pooled pairs of every subset (what SimCSE reports);
* ``mean``: the plain mean of the per-subset correlations;
* ``wmean``: their mean weighted by subset size.

Every figure is the correlation times 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import pearsonr, spearmanr

AGGREGATIONS = ("all", "mean", "wmean")


@dataclass(frozen=True)
class Correlation:
    spearman: float
    pearson: float
    n: int


def correlate(predicted: np.ndarray, gold: np.ndarray) -> Correlation:
    """Spearman and Pearson x100 between system scores and gold scores."""
    predicted = np.asarray(predicted, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if predicted.shape != gold.shape:
        raise ValueError(f"{predicted.shape[0]} predictions for {gold.shape[0]} gold scores")
    if len(gold) < 2 or np.ptp(predicted) == 0 or np.ptp(gold) == 0:
        return Correlation(float("nan"), float("nan"), len(gold))
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

    def to_dict(self, digits: int = 4) -> dict:
        out = {
            "spearman": round(self.spearman, digits),
            "pearson": round(self.pearson, digits),
            "n": self.n,
            "aggregation": self.aggregation,
        }
        if len(self.subsets) > 1:
            out["subsets"] = {
                name: {k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(c).items()}
                for name, c in self.subsets.items()
            }
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def aggregate(
    predicted: Sequence[np.ndarray], gold: Sequence[np.ndarray], names: Sequence[str], aggregation: str
) -> TaskScore:
    """Score a task from its subsets' predictions, as SentEval's STS evaluation does."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    subsets = {name: correlate(p, g) for name, p, g in zip(names, predicted, gold)}
    n = sum(c.n for c in subsets.values())
    if aggregation == "all" or len(subsets) == 1:
        pooled = correlate(np.concatenate(predicted), np.concatenate(gold))
        spearman, pearson = pooled.spearman, pooled.pearson
    else:
        weights = np.array([c.n for c in subsets.values()], dtype=np.float64)
        if aggregation == "mean":
            weights = np.ones_like(weights)
        spearman = float(np.average([c.spearman for c in subsets.values()], weights=weights))
        pearson = float(np.average([c.pearson for c in subsets.values()], weights=weights))
    return TaskScore(spearman, pearson, n, aggregation, subsets)
