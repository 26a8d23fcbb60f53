"""The Markdown body of a model card: the facts of a :class:`~.card.ModelCardInfo` rendered into
``card_template.md`` (what the model is, how to call it, how it was trained, how it scored,
the paper to cite). The metadata above it is :mod:`.card`'s."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ..results import PAIR_METRICS, task_family
from ..tables import figure

PAPER = "https://arxiv.org/abs/2109.13059"
TEMPLATE = Path(__file__).with_name("card_template.md")
EXAMPLE = ("A man is playing a guitar.", "Someone is playing music.")
OTHER = "A woman is slicing an onion."
# The hub id of the weights that the name "default" loads (packaged all-MiniLM-L6-v2).
DEFAULT_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CITATION = """\
@inproceedings{liu2022transencoder,
  title     = {Trans-Encoder: Unsupervised sentence-pair modelling through self- and mutual-distillations},
  author    = {Liu, Fangyu and Jiao, Yunlong and Massiah, Jordan and Yilmaz, Emine and Havrylov, Serhii},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2022},
  url       = {https://arxiv.org/abs/2109.13059}
}"""


def hub_base_model(name: str | None) -> str | None:
    """The hub id for ``base_model`` metadata: ``"default"`` maps to all-MiniLM-L6-v2; a local
    path (or anything that is not ``org/name``) gives None."""
    if not name:
        return None
    if name == "default":
        return DEFAULT_BASE_MODEL
    parts = name.split("/")
    if len(parts) != 2 or not all(parts) or name.startswith((".", "~")) or Path(name).exists():
        return None
    return name


@functools.cache
def _template():
    import jinja2

    environment = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False
    )
    return environment.from_string(TEMPLATE.read_text(encoding="utf-8"))


def render_body(info) -> str:
    """The card's body for ``info`` (a :class:`~.card.ModelCardInfo`)."""
    results = info.results if info.results and info.results.get("tasks") else None
    first, second = EXAMPLE
    return _template().render(
        info=info,
        bi=info.kind == "bi",
        paper=PAPER,
        model_id=info.model_id or "path/to/this/model",
        first=first,
        second=second,
        other=OTHER,
        training=training_lines(info),
        similarity="cosine of the two embeddings" if info.kind == "bi" else "cross-encoder's score",
        aggregation=(results or {}).get("aggregation"),
        sts_table=_sts_table(info, results) if results else None,
        pair_table=_pair_table(results) if results else None,
        citation=CITATION,
    )


def training_lines(info) -> list[str]:
    """The training section: one Markdown list item (or sub-item) per fact recorded."""
    lines = []
    if info.description:
        lines.append(f"- this model: {info.description}")
    if info.recipe:
        lines.append(f"- recipe: `{info.recipe}`")
    if info.cycle:
        of = f" of {info.cycles}" if info.cycles else ""
        lines.append(f"- cycle: {info.cycle}{of}")
    if info.base_model:
        hub_id = hub_base_model(info.base_model)
        alias = f" ({hub_id}, packaged)" if hub_id and hub_id != info.base_model else ""
        lines.append(f"- started from: `{info.base_model}`{alias}")
    if info.teachers:
        lines.append("- trained on the labels of (teachers):")
        lines += [f"  - {teacher}" for teacher in info.teachers]
    if info.pool:
        lines.append(f"- unlabelled pairs: {info.pool}")
    if info.transductive is not None:
        lines.append(
            "- transductive: **yes**: the training pairs include the evaluation tasks' sentence "
            "pairs (their labels were dropped), as in the paper's main setting; the evaluation "
            "below is transductive"
            if info.transductive
            else "- transductive: no: the training pairs do not include the evaluation pairs"
        )
    if info.seed is not None:
        lines.append(f"- seed: {info.seed}")
    lines += [f"- {key}: `{value}`" for key, value in info.extra.items()]
    if not lines:
        lines.append("- no training provenance was recorded for this model (a plain `save`)")
    versions = ", ".join(f"{name} {version}" for name, version in info.versions.items())
    lines.append(f"- libraries: {versions}")
    return lines


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """A table cell: empty where there is no value, ``n/a`` where it is not a number."""
    return "" if value is None else figure(value, missing="n/a")


def _sts_table(info, results: dict) -> str | None:
    tasks, average = results["tasks"], results.get("average") or {}
    sts = [name for name, scores in tasks.items() if task_family(scores) == "sts"]
    if not sts:
        return None
    start = (info.start_results or {}).get("tasks", {})
    header = ["task", "pairs", "Spearman", "Pearson"] + (["start model Spearman"] if start else [])
    rows = []
    for name in sts:
        scores = tasks[name]
        row = [
            name,
            _cell(scores.get("n")),
            _cell(scores["spearman"]),
            _cell(scores.get("pearson")),
        ]
        rows.append(row + ([_cell(start.get(name, {}).get("spearman"))] if start else []))
    if "spearman" in average:
        row = [
            "**average**",
            "",
            f"**{_cell(average['spearman'])}**",
            _cell(average.get("pearson")),
        ]
        start_average = (info.start_results or {}).get("average", {}).get("spearman")
        rows.append(row + ([_cell(start_average)] if start else []))
    return _table(header, rows)


def _pair_table(results: dict) -> str | None:
    tasks = results["tasks"]
    pairs = [name for name, scores in tasks.items() if task_family(scores) != "sts"]
    if not pairs:
        return None
    header = ["task", "pairs", "positives", "ROC-AUC", "AP", "accuracy", "F1"]
    rows = [
        [name, _cell(tasks[name].get("n")), _cell(tasks[name].get("positives"))]
        + [_cell(tasks[name].get(metric)) for metric in PAIR_METRICS]
        for name in pairs
    ]
    return _table(header, rows)
