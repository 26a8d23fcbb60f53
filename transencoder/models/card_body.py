"""The Markdown body of a model card (see :mod:`transencoder.models.card` for the metadata).

Sections: what the model is, how to load and call it (a cross-encoder scores *pairs*; the one
user issue of the official Trans-Encoder repository was an STS score in the 30s from embedding
single sentences with one), how it was trained, its evaluation, and the paper to cite.
"""

from __future__ import annotations

import math
from typing import Any

from .card import CITATION, PAIR_METRICS, ModelCardInfo, hub_base_model, task_family

PAPER = "https://arxiv.org/abs/2109.13059"
_EXAMPLE = ("A man is playing a guitar.", "Someone is playing music.")
_OTHER = "A woman is slicing an onion."
PAIRS_WARNING = (
    "> **Score pairs, never single sentences.** Call `predict` on `(sentence1, sentence2)` "
    "pairs. Do not load this model with `SentenceTransformer` or embed single sentences with "
    "its encoder: it was never trained to embed one sentence, and such embeddings score far "
    "below its pair scores (an STS Spearman in the 30s was reported from exactly this mistake). "
    "To compare many sentences, embed them with a bi-encoder and re-rank the best candidates "
    "with this model."
)


def render_body(info: ModelCardInfo) -> str:
    """Title and introduction, usage, training, evaluation and citation sections."""
    sections = [
        _introduction(info),
        _usage(info),
        _training(info),
        _evaluation(info),
        f"## Citation\n\n```bibtex\n{CITATION}\n```",
    ]
    return "\n\n".join(sections) + "\n"


def _introduction(info: ModelCardInfo) -> str:
    what = f"This model is {info.description}. " if info.description else ""
    if info.kind == "bi":
        title = "Trans-Encoder bi-encoder"
        role = (
            "It is a **bi-encoder** (a sentence-transformers `SentenceTransformer`): it maps each "
            "sentence to a vector on its own, and the similarity of two sentences is the cosine "
            "of their vectors."
        )
    else:
        title = "Trans-Encoder cross-encoder"
        role = (
            "It is a **cross-encoder** (a sentence-transformers `CrossEncoder`): it reads the two "
            "sentences of a pair together and gives one score in 0..1, their similarity. It "
            "scores pairs; it does not embed sentences."
        )
    if info.cycle:
        title += f" (cycle {info.cycle})"
    method = (
        f"Trained without labels by [Trans-Encoder]({PAPER}): a bi-encoder and a cross-encoder "
        "label unlabelled sentence pairs for each other in cycles (self-distillation), or several "
        "of each teach each other (mutual distillation). Written by `transencoder`."
        if info.trained
        else "Saved by `transencoder`; this card records no Trans-Encoder training."
    )
    return f"# {title}\n\n{what}{role}\n\n{method}"


def _usage(info: ModelCardInfo) -> str:
    model_id = info.model_id or "path/to/this/model"
    first, second = _EXAMPLE
    if info.kind == "bi":
        return f"""## Usage

```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{model_id}")
embeddings = model.encode(["{first}", "{second}"])
print(model.similarity(embeddings[:1], embeddings[1:]))  # cosine similarity
```

With `transencoder`:

```python
from transencoder import BiEncoder

bi = BiEncoder.from_pretrained("{model_id}")
embeddings = bi.encode(["{first}", "{second}"])
print(bi.similarity(embeddings[:1], embeddings[1:]))  # cosine matrix, as above
print(bi.pair_similarity([("{first}", "{second}")]))  # one cosine per pair
```"""
    return f"""## Usage

```python
from sentence_transformers import CrossEncoder

model = CrossEncoder("{model_id}")
scores = model.predict([
    ("{first}", "{second}"),
    ("{first}", "{_OTHER}"),
])  # one score in 0..1 per pair: higher means more similar
```

{PAIRS_WARNING}

A cross-encoder is not symmetric by construction; Trans-Encoder trains it on both orders of each
pair. `transencoder` averages the two orders on request:

```python
from transencoder import CrossEncoder

cross = CrossEncoder.from_pretrained("{model_id}")
print(cross.predict([("{first}", "{second}")], both_orders=True))
```"""


def _training(info: ModelCardInfo) -> str:
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
    return "## Training\n\n" + "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _evaluation(info: ModelCardInfo) -> str:
    results = info.results
    if not results or not results.get("tasks"):
        return "## Evaluation\n\nNo evaluation results were recorded for this model."
    tasks = results["tasks"]
    start = (info.start_results or {}).get("tasks", {})
    average = results.get("average") or {}
    similarity = "cosine of the two embeddings" if info.kind == "bi" else "cross-encoder's score"
    parts = ["## Evaluation"]
    sts = [name for name, scores in tasks.items() if task_family(scores) == "sts"]
    if sts:
        header = ["task", "pairs", "Spearman", "Pearson"] + (
            ["start model Spearman"] if start else []
        )
        rows = []
        for name in sts:
            row = [
                name,
                _fmt(tasks[name].get("n")),
                _fmt(tasks[name]["spearman"]),
                _fmt(tasks[name].get("pearson")),
            ]
            rows.append(row + ([_fmt(start.get(name, {}).get("spearman"))] if start else []))
        if "spearman" in average:
            row = [
                "**average**",
                "",
                f"**{_fmt(average['spearman'])}**",
                _fmt(average.get("pearson")),
            ]
            start_average = (info.start_results or {}).get("average", {}).get("spearman")
            rows.append(row + ([_fmt(start_average)] if start else []))
        aggregation = results.get("aggregation")
        pooled = (
            (
                f" Tasks made of subsets (STS12-16) are scored with SentEval's `{aggregation}` "
                "aggregation"
                + (" (all subsets pooled, as SimCSE reports)." if aggregation == "all" else ".")
            )
            if aggregation
            else ""
        )
        parts.append(
            f"Semantic similarity: Spearman and Pearson correlation x100 between the {similarity} "
            f"and the gold similarity scores.{pooled}\n\n" + _table(header, rows)
        )
    pairs = [name for name in tasks if name not in sts]
    if pairs:
        header = ["task", "pairs", "positives", "ROC-AUC", "AP", "accuracy", "F1"]
        rows = [
            [name, _fmt(tasks[name].get("n")), _fmt(tasks[name].get("positives"))]
            + [_fmt(tasks[name].get(metric)) for metric in PAIR_METRICS]
            for name in pairs
        ]
        parts.append(
            f"Pair classification: ROC-AUC and average precision x100 of the {similarity} against "
            "the 0/1 labels; accuracy and F1 x100 as the evaluator reports them.\n\n"
            + _table(header, rows)
        )
    return "\n\n".join(parts)
