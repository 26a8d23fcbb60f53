"""Combining teachers' scores into training labels.

``raw``: the weighted mean of the teachers' scores, as mutual distillation does (paper §2.4).

``rank``: each teacher's scores are turned into ranks in [0, 1], the ranks are averaged with
the weights, and the result is mapped onto a reference distribution (quantile mapping): the
pair with the i-th smallest combined rank gets the i-th smallest reference value. With the
student's own current scores as the reference, the student is asked to *re-order* pairs but
keeps its scale, so teachers on different scales (cosine vs sigmoid) can be mixed safely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata


def normalized_ranks(scores: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1] (ties share a rank)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) < 2:
        return np.zeros_like(scores)
    return (rankdata(scores) - 1) / (len(scores) - 1)


def quantile_map(order_scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Values of ``reference`` re-assigned so that their order follows ``order_scores``."""
    order_scores = np.asarray(order_scores, dtype=np.float64)
    reference = np.sort(np.asarray(reference, dtype=np.float64))
    if order_scores.shape != reference.shape:
        raise ValueError(f"{order_scores.shape[0]} scores for a reference of {reference.shape[0]}")
    mapped = np.empty_like(reference)
    mapped[np.argsort(order_scores, kind="stable")] = reference
    return mapped


def combine_teachers(
    scores: Sequence[np.ndarray],
    weights: Sequence[float],
    *,
    mode: str = "raw",
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Labels from several teachers' scores (see the module docstring)."""
    if len(scores) != len(weights) or not scores:
        raise ValueError(f"{len(scores)} score arrays for {len(weights)} weights")
    weights_ = np.asarray(weights, dtype=np.float64)
    if (weights_ < 0).any() or weights_.sum() <= 0:
        raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
    weights_ = weights_ / weights_.sum()
    if mode == "raw":
        return np.sum([w * np.asarray(s, dtype=np.float64) for w, s in zip(weights_, scores)], axis=0)
    if mode == "rank":
        combined = np.sum([w * normalized_ranks(s) for w, s in zip(weights_, scores)], axis=0)
        return quantile_map(combined, reference if reference is not None else scores[0])
    raise ValueError(f"mode must be 'raw' or 'rank', got {mode!r}")
