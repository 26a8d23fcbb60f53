"""The shape of an evaluation result as runs, reports, plots and cards read it: a task's
figures are an STS task's correlations or a pair task's classification metrics (x100)."""

from __future__ import annotations

from typing import Any

#: The figures of an STS task and of a pair-classification task, and the counts beside them.
STS_METRICS = ("spearman", "pearson")
PAIR_METRICS = ("auc", "ap", "accuracy", "f1")
COUNTS = ("n", "positives")


def task_family(scores: dict[str, Any]) -> str:
    """``"sts"`` for a task scored by correlation, ``"pair"`` for pair classification (AUC/AP)."""
    if "spearman" in scores:
        return "sts"
    if "auc" in scores or "ap" in scores:
        return "pair"
    raise ValueError(f"a task result needs 'spearman' or 'auc'/'ap', got keys {sorted(scores)}")
