"""Our evaluators inside sentence-transformers' evaluation interface.

sentence-transformers' trainer (``SentenceTransformerTrainer(evaluator=...)``), ``fit``,
``SequentialEvaluator`` and its model cards call an evaluator as
``evaluator(model, output_path=None, epoch=-1, steps=-1) -> dict[str, float]`` and read
``evaluator.primary_metric`` (a key of that dict) and ``evaluator.greater_is_better``; they
require an instance of its ``SentenceEvaluator`` (``BaseEvaluator`` since version 6).

    >>> from sentence_transformers.base.evaluation import SequentialEvaluator
    >>> dev = STEvaluator(StsEvaluator(find_tasks("../shared/data/sts/senteval")), name="sts")
    >>> metrics = SequentialEvaluator([dev])(sentence_transformer)
    >>> metrics[dev.primary_metric]                   # mean Spearman x100 over the tasks

The wrapped evaluator scores the pairs exactly as it does for our models: a
``SentenceTransformer`` encodes each distinct sentence once and a pair's score is the cosine of
its two embeddings (as :meth:`BiEncoder.pair_similarity`); a ``sentence_transformers``
``CrossEncoder``, our :class:`~transencoder.BiEncoder` and :class:`~transencoder.CrossEncoder`
are scored as they are. Metrics keep our scale (x100) and our names:
``<task>_<metric>`` for every task, then the averages (``spearman``, ``pearson`` for STS,
``auc``, ``ap`` for pairs, ``primary`` for a suite), all prefixed with ``name_`` when a name
is given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

try:  # sentence-transformers >= 6 (its `sentence_transformers.evaluation` is deprecated there)
    from sentence_transformers.base.evaluation import BaseEvaluator as SentenceEvaluator
except ImportError:  # 3.x - 5.x
    from sentence_transformers.evaluation import SentenceEvaluator

from ..models.batching import split_pairs, unique_in_order
from ..models.similarity import cosines_of_pairs
from ..progress import progress_default

#: Per-task metrics reported, by task kind (attributes of TaskScore / BinaryScore).
STS_METRICS = ("spearman", "pearson")
PAIR_METRICS = ("auc", "ap", "accuracy", "f1", "precision", "recall")


def primary_key(evaluator) -> str:
    """The key of the evaluator's own ``result.primary`` among the averages."""
    key = getattr(evaluator, "PRIMARY", None)
    if key is None:
        raise TypeError(
            f"expected a StsEvaluator, PairClassificationEvaluator or EvaluationSuite, "
            f"got {type(evaluator).__name__}"
        )
    return key


class EmbeddingPairScorer:
    """Scores pairs with any model that has sentence-transformers' ``encode``: the cosine of
    the two embeddings, each distinct sentence encoded once."""

    def __init__(self, model) -> None:
        self.model = model
        self.name_or_path = str(
            getattr(model, "name_or_path", None)
            or getattr(getattr(model, "model_card_data", None), "base_model", None)
            or type(model).__name__
        )

    def pair_similarity(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
    ) -> np.ndarray:
        firsts, seconds = split_pairs(pairs)
        unique, index = unique_in_order(firsts + seconds)
        embeddings = self.model.encode(
            unique,
            batch_size=batch_size,
            show_progress_bar=progress_default(show_progress_bar),
            convert_to_tensor=True,
        )
        return cosines_of_pairs(embeddings.detach().cpu(), index, len(firsts))


def pair_scorer(model):
    """The model itself when our evaluators score it directly (our models, a cross-encoder
    with ``predict``), else an :class:`EmbeddingPairScorer` (a ``SentenceTransformer``)."""
    if hasattr(model, "pair_similarity") or hasattr(model, "predict"):
        return model
    if hasattr(model, "encode"):
        return EmbeddingPairScorer(model)
    raise TypeError(
        f"cannot evaluate a {type(model).__name__}: expected a SentenceTransformer, a "
        "sentence-transformers CrossEncoder, or a transencoder BiEncoder / CrossEncoder"
    )


class STEvaluator(SentenceEvaluator):
    """A ``StsEvaluator``, ``PairClassificationEvaluator`` or ``EvaluationSuite`` as a
    sentence-transformers evaluator.

    Args:
        evaluator: ours, already built on its tasks.
        name: prefix of every metric (sentence-transformers' convention), e.g. ``"sts-dev"``.
    """

    def __init__(self, evaluator, *, name: str = "") -> None:
        super().__init__()
        self.evaluator = evaluator
        self.name = name
        self.primary_metric = f"{name}_{primary_key(evaluator)}" if name else primary_key(evaluator)
        self.greater_is_better = True  # Spearman and ROC-AUC both
        self.result = None  # the last result object (StsResult, ...), for its table()

    def __call__(
        self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        self.result = self.evaluator(pair_scorer(model))
        metrics = self.prefix_name_to_metrics(metrics_of(self.result), self.name)
        if output_path is not None:
            self._append(Path(output_path), epoch, steps)
        if hasattr(model, "model_card_data"):  # sentence-transformers models record it
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _append(self, directory: Path, epoch: int, steps: int) -> None:
        """One JSON line per call (as the CSV rows of sentence-transformers' evaluators)."""
        directory.mkdir(parents=True, exist_ok=True)
        stem = "transencoder_evaluation" + (f"_{self.name}" if self.name else "")
        line = {"epoch": epoch, "steps": steps, **self.result.to_dict()}
        with open(directory / f"{stem}.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(line, allow_nan=False) + "\n")

    @property
    def description(self) -> str:
        return {"spearman": "Semantic Similarity", "auc": "Pair Classification"}.get(
            primary_key(self.evaluator), "Semantic Similarity and Pair Classification"
        )


def metrics_of(result) -> dict[str, float]:
    """Flat ``{"<task>_<metric>": x, ..., "<average>": x}`` of a result object (NaN kept for
    an undefined metric; x100 as our results)."""
    metrics: dict[str, float] = {}
    for task, score in result.tasks.items():
        names = STS_METRICS if hasattr(score, "spearman") else PAIR_METRICS
        metrics.update({f"{task}_{name}": float(getattr(score, name)) for name in names})
    metrics.update({name: float(value) for name, value in result.average.items()})
    return metrics
