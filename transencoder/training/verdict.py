"""The first sentence of ``report.md``: did the run end above or below its start, and which
model to use.

The comparison is on the run's own evaluation (the tasks of ``--eval-data-dir``), on the
headline figure of :mod:`.report` (the average over the tasks of Spearman x100 for STS, of
ROC-AUC x100 for pair tasks). Each result model is compared with the start model it grew
from (the start bi-encoder: a cross-encoder starts from it too). The model to use is
``selected/<kind>`` when model selection ran, else the weight average of the bi-encoders
when one was made, else the last cycle's models.
"""

from __future__ import annotations

from pathlib import Path

from ..eval.suite import headline_metric
from ..tables import figure
from .plan import averages, selects
from .rundir import RunDir

NO_EVALUATION = (
    "**No verdict:** this run had no evaluation data, so there is no verdict and no plot. "
    "To get them, train with `--eval-data-dir DIR` (labelled STS or pair tasks; "
    "`--dev-data FILE` adds model selection on a labelled sample), or score the result "
    "afterwards with `transencoder eval --model {model} --data-dir DIR`."
)


def result_models(run_dir: RunDir, config, phases) -> dict[str, tuple[str, Path]]:
    """Per model tag (``bi``, ``cross-2`` ...), the report row that evaluates the model the run
    recommends and its folder relative to the run directory."""
    out: dict[str, tuple[str, Path]] = {}
    for member in range(len(config.models)):
        for kind in ("bi", "cross"):
            tag = run_dir.tag(kind, member)
            if selects(phases):
                row, path = "selected", run_dir.selected(kind, member)
            elif kind == "bi" and averages(phases):
                row, path = "average", run_dir.average(member)
            else:
                row, path = f"cycle {config.cycles}", run_dir.model(kind, config.cycles, member)
            out[tag] = (row, path.relative_to(run_dir.root))
    return out


def metric_name(result: dict) -> str:
    """What the headline figure of one evaluated model is, in words."""
    tasks = len(result["tasks"])
    of = f"over {tasks} task{'s' if tasks != 1 else ''}"
    return {
        "mixed": f"the mean {of} of Spearman x100 (STS) and ROC-AUC x100 (pairs)",
        "spearman": f"average Spearman x100 {of}",
        "auc": f"mean ROC-AUC x100 {of}",
    }[headline_metric(result)]


def verdict(
    rows: list[tuple[str, dict]],
    models: dict[str, tuple[str, Path]],
    primary,
    root: Path | None = None,
) -> str:
    """One sentence: above / below the start, on which metric, by how much, and what to use.

    Args:
        rows: the report's ``(label, {tag: result})`` rows, the start first when evaluated.
        models: :func:`result_models`.
        primary: the headline figure of a result's ``average`` dict.
        root: the run directory, for the ``transencoder eval`` command of a run without
            evaluation (the models' paths are relative to it).
    """
    use = " and ".join(f"`{path}` ({_kind(tag)})" for tag, (_, path) in models.items())
    if not any(result for _, result in rows):
        bi = next(path for tag, (_, path) in models.items() if tag.startswith("bi"))
        command = NO_EVALUATION.format(model=Path(root or "") / bi)
        return command + f" The result to use (in this folder): {use}."
    start = dict(rows).get("start", {})
    comparisons, signs, metric, unfinished = [], [], None, False
    for tag, (row, _) in models.items():
        end_label, end = _evaluated(rows, tag, row)
        unfinished = unfinished or end_label != row
        if end is None:
            continue
        metric = metric or metric_name(end)
        before = start.get(tag) or start.get(tag.replace("cross", "bi"))
        last, after = primary(end["average"]), figure(primary(end["average"]), missing="n/a")
        if before is None or primary(before["average"]) is None or last is None:
            comparisons.append(f"{tag} {after} ({end_label})")
            continue
        first = primary(before["average"])
        signs.append((last > first) - (last < first))
        comparisons.append(f"{tag} {figure(first, missing='n/a')} -> {after} ({end_label})")
    if not signs:
        outcome = "the run has no start figure to compare with"
    elif all(sign > 0 for sign in signs):
        outcome = "the run ended above its start"
    elif all(sign < 0 for sign in signs):
        outcome = "the run ended below its start"
    elif all(sign == 0 for sign in signs):
        outcome = "the run ended level with its start"
    else:
        outcome = "the run ended above its start for some models and not for others"
    if unfinished:  # a report written between cycles, or of an interrupted run
        outcome += " so far"
        use += " once the run has finished"
    return (
        f"**Verdict:** {outcome} on {metric or 'its evaluation'} "
        f"(start -> result: {', '.join(comparisons)}); use {use}."
    )


def _evaluated(rows, tag: str, row: str) -> tuple[str, dict | None]:
    """The row that evaluates ``tag``'s recommended model (else the last row that has it)."""
    by_label = dict(rows)
    if tag in by_label.get(row, {}):
        return row, by_label[row][tag]
    for label, result in reversed(rows):
        if label not in ("start", "primed") and tag in result:
            return label, result[tag]
    return row, None


def _kind(tag: str) -> str:
    return (
        tag.replace("bi", "bi-encoder", 1)
        if tag.startswith("bi")
        else tag.replace("cross", "cross-encoder", 1)
    )
