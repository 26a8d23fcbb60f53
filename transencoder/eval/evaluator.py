"""Score bi-encoders, cross-encoders and ensembles on STS tasks.

The similarity of a pair is the cosine of the two embeddings for a bi-encoder and
``sigmoid(logit)`` for a cross-encoder; an ensemble scores a pair with the mean of its members'
scores. All pairs of all tasks are scored in one pass per model, so each distinct sentence (bi)
or pair (cross) is encoded once.

A task whose correlation is undefined (one pair, constant gold scores, constant predictions)
raises a :class:`DegenerateEvaluationWarning`, is written as ``null`` with its reason, and is
left out of the average.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..files import write_json
from ..tables import figure, format_table
from .data import StsTask
from .metrics import AGGREGATIONS, TaskScore, aggregate


class DegenerateEvaluationWarning(UserWarning):
    """A task's metric is undefined (e.g. constant gold scores): reported as null, not averaged."""


def warn_degenerate(task: str, metric: str, reason: str) -> None:
    warnings.warn(
        f"{task}: {metric} is undefined ({reason}); the task is left out of the average",
        DegenerateEvaluationWarning,
        stacklevel=3,
    )


def model_scores(
    model,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    show_progress_bar,
    both_orders: bool = False,
) -> np.ndarray:
    """A model's similarity for each pair: cosine (bi), score (cross) or ``model(pairs)``.

    ``both_orders`` makes a cross-encoder score each pair as the mean of ``(a, b)`` and
    ``(b, a)``; a bi-encoder's cosine is symmetric anyway.
    """
    if hasattr(model, "pair_similarity"):
        return np.asarray(
            model.pair_similarity(pairs, batch_size=batch_size, show_progress_bar=show_progress_bar)
        )
    if hasattr(model, "predict"):
        extra = {"both_orders": True} if both_orders else {}
        return np.asarray(
            model.predict(
                pairs, batch_size=batch_size, show_progress_bar=show_progress_bar, **extra
            )
        )
    if callable(model):
        return np.asarray(model(pairs))
    raise TypeError(
        f"cannot score pairs with {type(model).__name__}: expected a BiEncoder, CrossEncoder or callable"
    )


@dataclass
class StsResult:
    """Per-task correlations and their average; ``primary`` is the average Spearman."""

    tasks: dict[str, TaskScore]
    aggregation: str
    models: list[str] = field(default_factory=list)

    @property
    def average(self) -> dict[str, float]:
        """Mean Spearman / Pearson over the tasks that have one (NaN when none has)."""
        defined = [t for t in self.tasks.values() if t.defined]
        return {
            metric: float(np.mean([getattr(t, metric) for t in defined]))
            if defined
            else float("nan")
            for metric in ("spearman", "pearson")
        }

    @property
    def primary(self) -> float:
        return self.average["spearman"]

    def to_dict(self) -> dict:
        return {
            "tasks": {name: score.to_dict() for name, score in self.tasks.items()},
            "average": {
                k: (round(v, 4) if math.isfinite(v) else None) for k, v in self.average.items()
            },
            "n": sum(score.n for score in self.tasks.values()),
            "aggregation": self.aggregation,
            "models": self.models,
        }

    def write_json(self, path: str | Path, **extra) -> None:
        write_json(path, {**self.to_dict(), **extra}, allow_nan=False)

    def table(self) -> str:
        """Task, pairs, Spearman, Pearson, and the average row (Spearman is the headline).

        A task without a correlation shows ``-`` and why it is left out of the average.
        """
        rows = [("task", "pairs", "spearman", "pearson")]
        notes = {}
        for name, score in self.tasks.items():
            rows.append((name, str(score.n), figure(score.spearman), figure(score.pearson)))
            if score.reason is not None:
                notes[len(rows) - 1] = f"left out of the average: {score.reason}"
            elif score.left_out:
                notes[len(rows) - 1] = "subsets left out: " + "; ".join(score.left_out)
        average = self.average
        total = sum(score.n for score in self.tasks.values())
        rows.append(
            ("average", str(total), figure(average["spearman"]), figure(average["pearson"]))
        )
        return format_table(rows, notes)


class ScoresPairs:
    """What the evaluators share: score :attr:`pairs` with one model or an ensemble, then
    :meth:`from_scores` (each evaluator's own) turns the scores into its result, whose
    ``average[PRIMARY]`` is its headline figure."""

    PRIMARY: str

    pairs: list[tuple[str, str]]
    batch_size: int
    show_progress_bar: bool | None
    both_orders: bool

    def scores(self, models: object | Sequence[object]) -> np.ndarray:
        """Each pair's score (ensemble mean when several models are given), in :attr:`pairs`
        order."""
        return ensemble_scores(
            models,
            self.pairs,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            both_orders=self.both_orders,
        )

    def __call__(self, models: object | Sequence[object]):
        return self.from_scores(self.scores(models), models=_names(models))

    def as_sentence_evaluator(self, name: str = ""):
        """This evaluator as a sentence-transformers evaluator (a ``SentenceEvaluator`` that
        scores a ``SentenceTransformer``): see :class:`transencoder.eval.STEvaluator`."""
        from .st_evaluator import STEvaluator

        return STEvaluator(self, name=name)


class StsEvaluator(ScoresPairs):
    """Callable evaluator: ``StsEvaluator(tasks)(model_or_models) -> StsResult``.

    Args:
        tasks: from :func:`transencoder.eval.find_tasks`.
        aggregation: for STS12-16, ``all`` (pooled; SimCSE's headline), ``mean`` or ``wmean``
            (SentEval's averages of the per-subset correlations).
        batch_size: inference batch size.
        show_progress_bar: ``None`` shows bars when stderr is a terminal.
        both_orders: cross-encoders score a pair as the mean of both orders.
    """

    PRIMARY = "spearman"

    def __init__(
        self,
        tasks: Sequence[StsTask],
        *,
        aggregation: str = "all",
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        both_orders: bool = False,
    ) -> None:
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        if not tasks:
            raise ValueError("no tasks to evaluate")
        self.tasks = list(tasks)
        self.aggregation = aggregation
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.both_orders = both_orders
        self.pairs = [pair for task in self.tasks for pair in task.pairs]

    def from_scores(self, scores: np.ndarray, models: list[str] | None = None) -> StsResult:
        """Correlations of precomputed pair scores (ordered as :attr:`pairs`)."""
        if len(scores) != len(self.pairs):
            raise ValueError(f"{len(scores)} scores for {len(self.pairs)} pairs")
        results: dict[str, TaskScore] = {}
        start = 0
        for task in self.tasks:
            predicted, gold, names = [], [], []
            for subset in task.subsets:
                predicted.append(scores[start : start + len(subset)])
                gold.append(subset.scores)
                names.append(subset.name)
                start += len(subset)
            score = aggregate(predicted, gold, names, self.aggregation)
            score.skipped = [asdict(skip) for skip in task.skipped]
            if score.reason is not None:
                warn_degenerate(task.name, "Spearman", score.reason)
            elif score.left_out:
                warnings.warn(
                    f"{task.name}: subsets left out of the {self.aggregation}: "
                    + "; ".join(score.left_out),
                    DegenerateEvaluationWarning,
                    stacklevel=2,
                )
            results[task.name] = score
        return StsResult(results, self.aggregation, models or [])


def ensemble_scores(
    models: object | Sequence[object],
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    show_progress_bar: bool | None,
    both_orders: bool = False,
) -> np.ndarray:
    """The mean of the members' scores (one model: its scores), as float64."""
    members = list(models) if isinstance(models, (list, tuple)) else [models]
    total = np.zeros(len(pairs), dtype=np.float64)
    for member in members:
        total += model_scores(
            member,
            pairs,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            both_orders=both_orders,
        )
    return total / len(members)


def _names(models) -> list[str]:
    members = list(models) if isinstance(models, (list, tuple)) else [models]
    return [str(getattr(member, "name_or_path", type(member).__name__)) for member in members]
