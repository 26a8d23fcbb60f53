"""Binary pair-classification metrics of a similarity score against 0/1 labels.

The Trans-Encoder paper (section 5) scores QQP, QNLI and MRPC by **ROC-AUC** of the model's
similarity; sentence-transformers' ``BinaryClassificationEvaluator`` reports **average
precision** (its primary metric) and the best-threshold accuracy and F1. Both families are
computed here, from the scores alone (no threshold is learnt elsewhere):

* ``auc``: scikit-learn's ``roc_auc_score`` (the Mann-Whitney statistic ``U / (P * N)``, a
  tie counting one half); x100.
* ``ap``: scikit-learn's ``average_precision_score``, ``sum_k (R_k - R_{k-1}) * P_k`` over the
  distinct score thresholds; x100.
* ``accuracy`` / ``f1``: the best over every threshold between two distinct scores (equal
  scores always fall on the same side), with the threshold that reaches it (the midpoint
  between the two scores); ``precision`` / ``recall`` are those at the F1 threshold. x100.
  These two are computed here because scikit-learn has no search for the best threshold
  (sentence-transformers' ``BinaryClassificationEvaluator`` writes its own too): one sorted
  pass gives both, and the thresholds it reports are midpoints, so no equal score falls on the
  wrong side of one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The metrics of :class:`BinaryScore` that are percentages (the thresholds are raw scores).
PERCENT_METRICS = ("auc", "ap", "accuracy", "f1", "precision", "recall")


@dataclass(frozen=True)
class BinaryScore:
    """A pair task's metrics (NaN with a ``reason`` when the set cannot rank anything)."""

    auc: float
    ap: float
    accuracy: float
    accuracy_threshold: float
    f1: float
    f1_threshold: float
    precision: float
    recall: float
    n: int
    positives: int
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.reason is None

    def to_dict(self, digits: int = 4) -> dict:
        """Percentages rounded to ``digits``; thresholds as they are; ``None`` when undefined."""
        out: dict = {}
        for name in ("auc", "ap", "accuracy", "accuracy_threshold", "f1", "f1_threshold"):
            out[name] = _value(getattr(self, name), digits if name in PERCENT_METRICS else None)
        out["precision"] = _value(self.precision, digits)
        out["recall"] = _value(self.recall, digits)
        out["n"] = self.n
        out["positives"] = self.positives
        out["metric"] = "auc"
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _value(value: float, digits: int | None) -> float | None:
    if not math.isfinite(value):
        return None
    return round(float(value), digits) if digits is not None else float(value)


def degenerate_reason(scores: np.ndarray, labels: np.ndarray) -> str | None:
    """Why these scores and labels cannot be evaluated (``None`` when they can)."""
    n, positives = len(labels), int(labels.sum())
    if n == 0:
        return "no pairs"
    if n == 1:
        return "only one pair"
    if positives in (0, n):
        kind = "positive" if positives else "negative"
        return f"a single class (all {n} pairs are {kind})"
    if not np.isfinite(scores).all():
        return f"{int((~np.isfinite(scores)).sum())} non-finite predicted scores"
    if np.ptp(scores) == 0:
        return f"constant predictions (every pair scored {float(scores[0]):g})"
    return None


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC-AUC x100 (scikit-learn's); NaN when one class is missing (sklearn raises)."""
    from sklearn.metrics import roc_auc_score

    scores, labels = _check(scores, labels)
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        return float("nan")
    return float(roc_auc_score(labels, scores) * 100)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision x100 (scikit-learn's); NaN without positives (sklearn warns, gives 0)."""
    from sklearn.metrics import average_precision_score

    scores, labels = _check(scores, labels)
    if int(labels.sum()) == 0:
        return float("nan")
    return float(average_precision_score(labels, scores) * 100)


def best_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The best accuracy x100 of predicting ``score >= threshold`` as positive, and the threshold.

    Thresholds are tried from the top: first above every score (all pairs negative), then
    below each group of equal scores; the first best one wins.
    """
    scores, labels = _check(scores, labels)
    n = len(labels)
    if n == 0:
        return float("nan"), float("nan")
    sorted_scores, sorted_labels = _sorted_desc(scores, labels)
    ends = _group_ends(sorted_scores)
    true_pos = np.cumsum(sorted_labels)[ends]
    false_pos = ends + 1 - true_pos
    negatives = n - int(labels.sum())
    correct = np.concatenate([[negatives], true_pos + (negatives - false_pos)])
    best = int(np.argmax(correct))  # the first maximum: the highest threshold among ties
    if best == 0:
        dtype = np.result_type(scores.dtype, np.float16)
        threshold = float(np.nextafter(sorted_scores[0].astype(dtype), dtype.type(np.inf)))
    else:
        threshold = _threshold(sorted_scores, ends, best - 1)
    return float(correct[best] / n * 100), threshold


def best_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, float, float]:
    """The best F1 x100 of ``score >= threshold``, its precision and recall x100, and the threshold.

    Returns ``(0, 0, 0, 0)`` when no threshold predicts a true positive (as
    sentence-transformers does).
    """
    scores, labels = _check(scores, labels)
    positives = int(labels.sum())
    if positives == 0:
        return 0.0, 0.0, 0.0, 0.0
    sorted_scores, sorted_labels = _sorted_desc(scores, labels)
    ends = _group_ends(sorted_scores)
    true_pos = np.cumsum(sorted_labels)[ends].astype(np.float64)
    precision = true_pos / (ends + 1)
    recall = true_pos / positives
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(true_pos > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0.0, 0.0, 0.0, 0.0
    threshold = _threshold(sorted_scores, ends, best)
    return float(f1[best] * 100), float(precision[best] * 100), float(recall[best] * 100), threshold


def binary_metrics(scores: np.ndarray, labels: np.ndarray) -> BinaryScore:
    """Every metric of a pair task; NaN with a ``reason`` when the set is degenerate."""
    scores, labels = _check(scores, labels)
    n, positives = len(labels), int(labels.sum())
    reason = degenerate_reason(scores, labels)
    if reason is not None:
        nan = float("nan")
        return BinaryScore(nan, nan, nan, nan, nan, nan, nan, nan, n, positives, reason)
    accuracy, accuracy_threshold = best_accuracy(scores, labels)
    f1, precision, recall, f1_threshold = best_f1(scores, labels)
    return BinaryScore(
        auc=roc_auc(scores, labels),
        ap=average_precision(scores, labels),
        accuracy=accuracy,
        accuracy_threshold=accuracy_threshold,
        f1=f1,
        f1_threshold=f1_threshold,
        precision=precision,
        recall=recall,
        n=n,
        positives=positives,
    )


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"{scores.shape} scores for {labels.shape} labels; expected equal 1-D")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return scores, labels


def _sorted_desc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="mergesort")
    return scores[order], labels[order]


def _group_ends(sorted_scores: np.ndarray) -> np.ndarray:
    """Index of the last element of each run of equal scores (scores sorted)."""
    if len(sorted_scores) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1])
    return np.concatenate([change, [len(sorted_scores) - 1]])


def _threshold(sorted_scores: np.ndarray, ends: np.ndarray, group: int) -> float:
    """Midpoint between a group's score and the next lower one (the score itself if last)."""
    score = sorted_scores[ends[group]]
    if group == len(ends) - 1:
        return float(score)
    lower = sorted_scores[ends[group] + 1]
    middle = (score + lower) / 2
    # A midpoint rounded onto the lower score would put that score above the threshold.
    return float(score if middle == lower else middle)
