"""Score bi-encoders, cross-encoders and ensembles on binary pair-classification tasks.

The score of a pair is the cosine of the two embeddings (bi-encoder), ``sigmoid(logit)``
(cross-encoder; optionally the mean of both orders) or the mean of an ensemble's scores; the
metrics are those of :mod:`transencoder.eval.classification`, ROC-AUC (the Trans-Encoder
paper's metric) being the primary one.

    >>> evaluator = PairClassificationEvaluator(find_pair_tasks("../shared/data/pairs"))
    >>> result = evaluator(model)
    >>> print(result.table()); result.primary          # mean AUC x100
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..files import write_json
from ..tables import figure, format_table
from .classification import BinaryScore, binary_metrics
from .data import PairTask
from .evaluator import ScoresPairs, warn_degenerate

#: The averaged metrics of a pair-classification result.
PAIR_AVERAGED = ("auc", "ap")


def mean_of_defined(values: Sequence[float]) -> float:
    """Mean of the finite values (NaN when there is none)."""
    kept = [v for v in values if math.isfinite(v)]
    return float(np.mean(kept)) if kept else float("nan")


def rounded(value: float, digits: int = 4) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


@dataclass
class PairClassificationResult:
    """Per-task metrics and their averages; ``primary`` is the mean ROC-AUC x100."""

    tasks: dict[str, BinaryScore]
    models: list[str] = field(default_factory=list)
    skipped: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def average(self) -> dict[str, float]:
        """Mean AUC and AP over the tasks that have them (NaN when none has)."""
        return {
            m: mean_of_defined([getattr(t, m) for t in self.tasks.values()]) for m in PAIR_AVERAGED
        }

    @property
    def primary(self) -> float:
        return self.average["auc"]

    def task_dict(self, name: str) -> dict:
        out = self.tasks[name].to_dict()
        if self.skipped.get(name):
            out["skipped"] = self.skipped[name]
        return out

    def to_dict(self) -> dict:
        return {
            "tasks": {name: self.task_dict(name) for name in self.tasks},
            "average": {k: rounded(v) for k, v in self.average.items()},
            "n": sum(score.n for score in self.tasks.values()),
            "models": self.models,
        }

    def write_json(self, path: str | Path, **extra) -> None:
        write_json(path, {**self.to_dict(), **extra}, allow_nan=False)

    def table(self) -> str:
        """Task, pairs, positives, AUC, AP, accuracy, F1 (x100) and the accuracy threshold."""
        rows = [("task", "pairs", "positives", "auc", "ap", "accuracy", "f1", "threshold")]
        notes = {}
        for name, s in self.tasks.items():
            rows.append(
                (
                    name,
                    str(s.n),
                    str(s.positives),
                    figure(s.auc),
                    figure(s.ap),
                    figure(s.accuracy),
                    figure(s.f1),
                    figure(s.accuracy_threshold, 4),
                )
            )
            if s.reason is not None:
                notes[len(rows) - 1] = f"left out of the average: {s.reason}"
        average = self.average
        rows.append(
            (
                "average",
                str(sum(s.n for s in self.tasks.values())),
                str(sum(s.positives for s in self.tasks.values())),
                figure(average["auc"]),
                figure(average["ap"]),
                "",
                "",
                "",
            )
        )
        return format_table(rows, notes)


class PairClassificationEvaluator(ScoresPairs):
    """Callable evaluator: ``PairClassificationEvaluator(tasks)(model_or_models)``.

    Args:
        tasks: from :func:`transencoder.eval.find_pair_tasks`.
        batch_size: inference batch size.
        show_progress_bar: ``None`` shows bars when stderr is a terminal.
        both_orders: cross-encoders score a pair as the mean of ``(a, b)`` and ``(b, a)``.
    """

    PRIMARY = "auc"

    def __init__(
        self,
        tasks: Sequence[PairTask],
        *,
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        both_orders: bool = False,
    ) -> None:
        if not tasks:
            raise ValueError("no tasks to evaluate")
        self.tasks = list(tasks)
        names = [task.name for task in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.both_orders = both_orders
        self.pairs = [pair for task in self.tasks for pair in task.pairs]

    def from_scores(
        self, scores: np.ndarray, models: list[str] | None = None
    ) -> PairClassificationResult:
        """Metrics of precomputed pair scores (ordered as :attr:`pairs`)."""
        scores = np.asarray(scores)
        if len(scores) != len(self.pairs):
            raise ValueError(f"{len(scores)} scores for {len(self.pairs)} pairs")
        results: dict[str, BinaryScore] = {}
        skipped: dict[str, list[dict]] = {}
        start = 0
        for task in self.tasks:
            score = binary_metrics(scores[start : start + task.n], task.labels)
            start += task.n
            if score.reason is not None:
                warn_degenerate(task.name, "AUC", score.reason)
            results[task.name] = score
            if task.skipped:
                skipped[task.name] = [asdict(skip) for skip in task.skipped]
        return PairClassificationResult(results, models or [], skipped)
