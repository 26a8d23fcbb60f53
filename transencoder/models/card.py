"""Model cards: the ``README.md`` that the Hugging Face Hub shows for a saved model.

Every model the toolkit saves carries a card: YAML metadata the Hub indexes
(``library_name: sentence-transformers``, the pipeline tag of its kind, ``base_model``, tags and
a ``model-index`` of the evaluation results measured in the run) and a body that says what the
model is, how to call it, how it was trained, how it scored, and which paper to cite.

Conventions, chosen to match what sentence-transformers writes for its own models:

* pipeline tag ``sentence-similarity`` for a bi-encoder; ``text-ranking`` for a cross-encoder
  (sentence-transformers 6 tags a one-logit ``CrossEncoder`` so; ``text-classification`` is what
  it uses for several labels);
* an STS task is a ``semantic-similarity`` result with metric types ``spearman_cosine`` /
  ``pearson_cosine`` (bi-encoder) or ``spearman`` / ``pearson`` (cross-encoder), the keys of
  sentence-transformers' evaluators; a pair-classification task is a ``pair-classification``
  result with ``cosine_auc``, ``cosine_ap``, ... (bi) or ``auc``, ``ap``, ... (cross);
* values are the run's figures as given, correlations and AUC/AP x100 as MTEB's model-index
  entries are; an undefined (NaN) figure is left out of the model-index.

The fields of :class:`ModelCardInfo` other than ``results`` are kept in the card's metadata
under ``transencoder``, so :func:`update_model_card_results` can re-render a card once the run has
evaluated the model it saved.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import CARD_FILE, atomic_write_text
from ..results import COUNTS, PAIR_METRICS, STS_METRICS, task_family
from .card_body import hub_base_model, render_body

KINDS = ("bi", "cross")
PIPELINE_TAGS = {"bi": "sentence-similarity", "cross": "text-ranking"}
TAGS = {
    "bi": ["sentence-transformers", "sentence-similarity", "feature-extraction", "trans-encoder"],
    "cross": ["sentence-transformers", "cross-encoder", "text-ranking", "trans-encoder"],
}
_METRIC_NAMES = {
    "spearman": "Spearman",
    "pearson": "Pearson",
    "auc": "ROC-AUC",
    "ap": "AP",
    "accuracy": "Accuracy",
    "f1": "F1",
}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that wrote a model (recorded in its card)."""
    import torch
    import transformers

    from .. import __version__
    from .st_format import installed_version

    versions = {
        "transencoder": __version__,
        "sentence-transformers": installed_version("sentence-transformers"),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    return {name: str(version) for name, version in versions.items()}  # torch's is not a str


def compact_results(results: dict[str, Any]) -> dict[str, Any]:
    """The figures of a report-shaped results dict (``StsResult.to_dict()``), nothing else."""
    keep = STS_METRICS + PAIR_METRICS + COUNTS
    tasks = {
        name: {key: scores[key] for key in keep if key in scores}
        for name, scores in results.get("tasks", {}).items()
    }
    out: dict[str, Any] = {"tasks": tasks, "average": dict(results.get("average") or {})}
    if results.get("aggregation"):
        out["aggregation"] = results["aggregation"]
    return out


@dataclass
class ModelCardInfo:
    """What a model card says about one saved model.

    Args:
        kind: ``"bi"`` (bi-encoder) or ``"cross"`` (cross-encoder).
        base_model: the checkpoint training started from (a hub id, ``"default"`` or a path;
            only a hub id goes into the ``base_model`` metadata).
        description: one sentence on what this model is, e.g. ``"the bi-encoder of cycle 2"``.
        recipe: the run's recipe (``official`` / ``recommended``).
        cycle: the Trans-Encoder cycle that produced it; ``cycles`` the run's number of cycles.
        teachers: what labelled its training pairs, one line each (with weights).
        pool: the unlabelled pairs (size and source), as ``PairPool.describe()`` says.
        transductive: whether the pool holds the evaluation tasks' pairs (labels dropped).
        seed: the run's seed.
        results: its evaluation, shaped like ``StsResult.to_dict()``; None when not evaluated.
        start_results: the start model's evaluation, shown beside it (not in the model-index).
        model_id: the name users load it by (a hub id or path) in the usage example.
        extra: further training settings (name -> value), listed in the training section.
        versions: library versions at save time.
    """

    kind: str
    base_model: str | None = None
    description: str | None = None
    recipe: str | None = None
    cycle: int | None = None
    cycles: int | None = None
    teachers: list[str] = field(default_factory=list)
    pool: str | None = None
    transductive: bool | None = None
    seed: int | None = None
    results: dict[str, Any] | None = None
    start_results: dict[str, Any] | None = None
    model_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def trained(self) -> bool:
        """Whether the card records a Trans-Encoder run (a plain ``save`` records none)."""
        return any((self.recipe, self.cycle, self.teachers, self.pool))

    def to_metadata(self) -> dict[str, Any]:
        """Everything but ``results`` (the model-index holds those), JSON/YAML-safe."""
        data = dataclasses.asdict(self)
        data.pop("results")
        if self.start_results is not None:
            data["start_results"] = compact_results(self.start_results)
        data["extra"] = {str(k): _plain(v) for k, v in self.extra.items()}
        return {key: value for key, value in data.items() if value not in (None, [], {})}

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> ModelCardInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def eval_results(info: ModelCardInfo) -> list:
    """The model-index entries (``huggingface_hub.EvalResult``) of ``info.results``."""
    from huggingface_hub import EvalResult

    out = []
    for task, scores in ((info.results or {}).get("tasks") or {}).items():
        family = task_family(scores)
        metrics = STS_METRICS if family == "sts" else PAIR_METRICS
        for metric in metrics:
            if not _finite(scores.get(metric)):
                continue
            if family == "sts":
                metric_type = f"{metric}_cosine" if info.kind == "bi" else metric
                task_type, task_name = "semantic-similarity", "Semantic Similarity"
            else:
                metric_type = f"cosine_{metric}" if info.kind == "bi" else metric
                task_type, task_name = "pair-classification", "Pair Classification"
            similarity = " (cosine)" if info.kind == "bi" else ""
            out.append(
                EvalResult(
                    task_type=task_type,
                    task_name=task_name,
                    dataset_type=task.lower().replace(" ", "-"),
                    dataset_name=task,
                    metric_type=metric_type,
                    metric_value=float(scores[metric]),
                    metric_name=f"{_METRIC_NAMES[metric]}{similarity} x100",
                )
            )
    return out


def model_name(info: ModelCardInfo) -> str:
    name = "trans-encoder-" + ("bi-encoder" if info.kind == "bi" else "cross-encoder")
    return f"{name}-cycle-{info.cycle}" if info.cycle else name


def render_metadata(info: ModelCardInfo) -> str:
    """The card's YAML header (without the ``---`` fences)."""
    from huggingface_hub import ModelCardData

    results = eval_results(info)
    data = ModelCardData(
        library_name="sentence-transformers",
        pipeline_tag=PIPELINE_TAGS[info.kind],
        base_model=hub_base_model(info.base_model),
        tags=[tag for tag in TAGS[info.kind] if info.trained or tag != "trans-encoder"],
        model_name=model_name(info) if results else None,
        eval_results=results or None,
        transencoder=info.to_metadata(),
    )
    return data.to_yaml()


def render_model_card(info: ModelCardInfo) -> str:
    """The whole ``README.md``: YAML metadata, then the body."""
    return f"---\n{render_metadata(info)}\n---\n\n{render_body(info)}"


def write_model_card(model_dir: str | os.PathLike[str], info: ModelCardInfo) -> Path:
    """Write ``<model_dir>/README.md`` atomically (a temporary file, then ``os.replace``)."""
    path = Path(model_dir) / CARD_FILE
    atomic_write_text(path, render_model_card(info))
    return path


def read_model_card_info(model_dir: str | os.PathLike[str]) -> ModelCardInfo | None:
    """The :class:`ModelCardInfo` a card written by this module holds (its ``results`` are not
    restored); None when there is no such card."""
    from huggingface_hub.repocard import metadata_load

    path = Path(model_dir) / CARD_FILE
    metadata = metadata_load(path) if path.is_file() else None
    stored = (metadata or {}).get("transencoder")
    return ModelCardInfo.from_metadata(stored) if isinstance(stored, dict) else None


def update_model_card_results(
    model_dir: str | os.PathLike[str],
    results: dict[str, Any],
    *,
    start_results: dict[str, Any] | None = None,
) -> Path:
    """Re-render a saved model's card with its evaluation (atomically).

    A model the run saved before evaluating it keeps every other field of its card. A model
    without a card of ours gets one, its kind read from ``config_sentence_transformers.json``.

    Args:
        model_dir: the saved model's directory.
        results: its evaluation, shaped like ``StsResult.to_dict()``.
        start_results: the start model's evaluation, shown beside it (kept when not given).
    """
    info = read_model_card_info(model_dir) or ModelCardInfo(kind=_saved_kind(Path(model_dir)))
    info.results = results
    if start_results is not None:
        info.start_results = start_results
    return write_model_card(model_dir, info)


def _saved_kind(model_dir: Path) -> str:
    from .loading import ModelLoadError, read_json

    config = model_dir / "config_sentence_transformers.json"
    if not config.is_file():
        raise ModelLoadError(
            f"{model_dir}: no config_sentence_transformers.json; not a saved model"
        )
    return "cross" if read_json(config).get("model_type") == "CrossEncoder" else "bi"
