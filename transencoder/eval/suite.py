"""STS tasks and pair-classification tasks evaluated together, with one primary figure.

    >>> suite = EvaluationSuite(find_all_tasks("data"))
    >>> result = suite(model)                 # or suite.from_scores(scores) on suite.pairs
    >>> result.to_dict()["average"]["primary"]

Each task has its own primary metric (Spearman x100 for STS, ROC-AUC x100 for pairs, see
:func:`primary_metric`); the suite's ``primary`` is their mean over the tasks that have one
(with STS tasks only, the STS average Spearman). :meth:`SuiteResult.to_dict` has one shape
whatever the task mix: ``tasks``, ``average`` (always with ``primary``), ``metric`` (what
``primary`` is: ``spearman``, ``auc`` or ``mixed``), ``n``, ``models``, ``aggregation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import write_json
from .data import PairTask, StsTask
from .evaluator import ScoresPairs, StsEvaluator, StsResult
from .pair_evaluator import (
    PairClassificationEvaluator,
    PairClassificationResult,
    mean_of_defined,
    rounded,
)


def primary_metric(task: dict) -> tuple[str, float | None]:
    """The primary metric of one task's dict: ``("spearman", x)`` for STS, ``("auc", x)`` for pairs."""
    name = task.get("metric", "spearman")
    return name, task.get(name)


def primary_average(result: dict) -> float | None:
    """The headline of a result dict: ``average.primary`` (``average.spearman`` in an STS-only
    result written before every result had ``primary``)."""
    average = result["average"]
    return average.get("primary", average.get("spearman"))


def headline_metric(result: dict) -> str:
    """What a result dict's ``average.primary`` is: ``spearman`` (STS tasks only), ``auc``
    (pair tasks only) or ``mixed`` (the mean of both kinds); told from the keys of a result
    written before results said so."""
    if "metric" in result:
        return result["metric"]
    average = result["average"]
    if "primary" not in average:
        return "spearman"
    return "mixed" if "spearman" in average else "auc"


@dataclass
class SuiteResult:
    """An :class:`StsResult` and a :class:`PairClassificationResult` (either may be ``None``)."""

    sts: StsResult | None
    pair: PairClassificationResult | None
    models: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> dict:
        """Every task's score object (:class:`TaskScore` or :class:`BinaryScore`), STS first."""
        return {**(self.sts.tasks if self.sts else {}), **(self.pair.tasks if self.pair else {})}

    @property
    def average(self) -> dict[str, float]:
        """``spearman``/``pearson`` (STS), ``auc``/``ap`` (pairs) and ``primary``; NaN if undefined."""
        out: dict[str, float] = {}
        if self.sts:
            out.update(self.sts.average)
        if self.pair:
            out.update(self.pair.average)
        if self.pair is None:
            out["primary"] = self.sts.primary
        else:
            primaries = [t.spearman for t in (self.sts.tasks.values() if self.sts else [])]
            primaries += [t.auc for t in self.pair.tasks.values()]
            out["primary"] = mean_of_defined(primaries)
        return out

    @property
    def primary(self) -> float:
        """Mean over tasks of each task's primary metric (the STS average alone for STS only)."""
        return self.average["primary"]

    @property
    def metric(self) -> str:
        """What :attr:`primary` is: ``spearman``, ``auc`` or ``mixed``."""
        return "spearman" if self.pair is None else "auc" if self.sts is None else "mixed"

    def to_dict(self) -> dict:
        tasks = {}
        if self.sts:
            tasks.update({name: score.to_dict() for name, score in self.sts.tasks.items()})
        if self.pair:
            tasks.update({name: self.pair.task_dict(name) for name in self.pair.tasks})
        return {
            "tasks": tasks,
            "average": {k: rounded(v) for k, v in self.average.items()},
            "metric": self.metric,
            "n": sum(score.n for score in self.tasks.values()),
            "aggregation": self.sts.aggregation if self.sts else None,
            "models": self.models,
        }

    def write_json(self, path: str | Path, **extra) -> None:
        write_json(path, {**self.to_dict(), **extra}, allow_nan=False)

    def table(self) -> str:
        """The STS table, then the pair-classification table."""
        parts = [part.table() for part in (self.sts, self.pair) if part is not None]
        return "\n\n".join(parts)


class EvaluationSuite(ScoresPairs):
    """Callable evaluator over STS tasks and pair tasks: ``EvaluationSuite(tasks)(models)``.

    All pairs of both families are scored in one pass per model (:attr:`pairs`: the STS
    pairs, then the pair tasks' pairs), so each distinct sentence (bi) or pair (cross) is
    encoded once.

    Args:
        tasks: :class:`StsTask` and :class:`PairTask` objects, e.g. from ``find_all_tasks``.
        aggregation: STS12-16: ``all``, ``mean`` or ``wmean``.
        batch_size: inference batch size.
        show_progress_bar: ``None`` shows bars when stderr is a terminal.
        both_orders: cross-encoders score a pair as the mean of both orders.
    """

    PRIMARY = "primary"

    def __init__(
        self,
        tasks: Sequence[StsTask | PairTask],
        *,
        aggregation: str = "all",
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        both_orders: bool = False,
    ) -> None:
        if not tasks:
            raise ValueError("no tasks to evaluate")
        unknown = [type(t).__name__ for t in tasks if not isinstance(t, (StsTask, PairTask))]
        if unknown:
            raise TypeError(f"expected StsTask or PairTask objects, got {unknown}")
        names = [task.name for task in tasks]
        if len({name.upper() for name in names}) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        self.sts_tasks = [t for t in tasks if isinstance(t, StsTask)]
        self.pair_tasks = [t for t in tasks if isinstance(t, PairTask)]
        options = {
            "batch_size": batch_size,
            "show_progress_bar": show_progress_bar,
            "both_orders": both_orders,
        }
        self.sts = (
            StsEvaluator(self.sts_tasks, aggregation=aggregation, **options)
            if self.sts_tasks
            else None
        )
        self.pair = (
            PairClassificationEvaluator(self.pair_tasks, **options) if self.pair_tasks else None
        )
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.both_orders = both_orders
        self.pairs = (self.sts.pairs if self.sts else []) + (self.pair.pairs if self.pair else [])

    def from_scores(self, scores: np.ndarray, models: list[str] | None = None) -> SuiteResult:
        """Results of precomputed pair scores (ordered as :attr:`pairs`)."""
        scores = np.asarray(scores)
        if len(scores) != len(self.pairs):
            raise ValueError(f"{len(scores)} scores for {len(self.pairs)} pairs")
        split = len(self.sts.pairs) if self.sts else 0
        models = models or []
        sts = self.sts.from_scores(scores[:split], models=models) if self.sts else None
        pair = self.pair.from_scores(scores[split:], models=models) if self.pair else None
        return SuiteResult(sts, pair, models)
