"""The run report: ``report.json`` (everything), ``report.md`` (the verdict first, see
:mod:`.verdict`, then task x cycle tables) and ``evaluation.png`` (every task and the average
per cycle, bi and cross; see :mod:`.plot`)."""

from __future__ import annotations

from pathlib import Path

from ..eval import primary_metric
from ..files import atomic_write_text, write_json
from ..tables import figure
from .phases import spec
from .plan import averages, selects
from .plot import plot_run
from .rundir import RunDir
from .verdict import result_models, verdict


def _rows(progress: dict, phases) -> list[tuple[str, dict]]:
    """(row label, {model tag: eval result}): the start, the primed model, each evaluated cycle,
    the average and the selected models."""
    results, rows = progress["results"], {}
    for phase in phases:  # the members' priming phases share one row
        about, result = spec(phase), results.get(phase.name)
        if about.row is None or not result:
            continue
        scores = {tag: r for tag, r in about.scores(result).items() if not tag.startswith("_")}
        if scores:
            rows.setdefault(about.row(phase), {}).update(scores)
    return list(rows.items())


def _selection(config, out: Path, phases) -> str:
    if selects(phases):
        source = config.selection.dev_data or "STS-B dev"
        return (
            f"the best candidate on the dev sample {source} (gold labels), the start model "
            f"included: {out / 'selected'}"
        )
    if averages(phases):
        return (
            f"none: the weight average of the {config.cycles} cycles' bi-encoders "
            f"({out / 'average'}) and the last cycle's cross-encoder are the result"
        )
    return "none: the last cycle's models are the result"


def selection_lines(result: dict) -> list[str]:
    """The selection's table: every candidate's dev figure, the chosen ones in bold."""
    chosen = set(result["chosen"].items())
    lines = ["### selection on the dev sample", "", "| model | candidate | dev |", "|---|---|---|"]
    for c in result["candidates"]:
        tag = (
            c["kind"]
            if "-" not in next(iter(result["chosen"]))
            else f"{c['kind']}-{c['member'] + 1}"
        )
        mark = "**" if (tag, c["name"]) in chosen else ""
        lines.append(
            f"| {tag} | {mark}{c['name']}{mark} | {mark}{figure(c['dev'], missing='')}{mark} |"
        )
    return [*lines, ""]


def primary(scores: dict) -> float | None:
    """A task's (or an average's) headline figure: Spearman for STS, ROC-AUC for pair tasks."""
    if "primary" in scores:  # an average (every result's average has it)
        return scores["primary"]
    return (
        primary_metric(scores)[1]
        if "metric" in scores
        else scores.get("spearman", scores.get("auc"))
    )


def markdown_tables(rows: list[tuple[str, dict]]) -> str:
    """One table per model tag (bi, cross, ensembles): rows = start/cycles, columns = tasks
    (Spearman x100 for STS tasks, ROC-AUC x100 for pair tasks)."""
    tags = list(dict.fromkeys(tag for _, result in rows for tag in result))
    out = []
    for tag in tags:
        tasks = next((list(r[tag]["tasks"]) for _, r in rows if tag in r), [])
        out.append(f"### {tag}\n")
        out.append("| | " + " | ".join(tasks) + " | avg |")
        out.append("|---" * (len(tasks) + 2) + "|")
        for label, result in rows:
            if tag not in result:
                continue
            cells = [figure(primary(result[tag]["tasks"][t]), missing="") for t in tasks]
            out.append(
                f"| {label} | "
                + " | ".join(cells)
                + f" | {figure(primary(result[tag]['average']), missing='')} |"
            )
        out.append("")
    return "\n".join(out)


def write_report(run_dir: RunDir, config, progress: dict, phases) -> dict:
    """Write ``report.json``, ``report.md`` and ``evaluation.png`` from the ledger's state."""
    out = run_dir.root
    rows = _rows(progress, phases)
    pool = progress["pool"]
    report = {
        "config": config.to_dict(),
        "pairs": {
            key: pool[key]
            for key in (
                "count",
                "sources",
                "duplicates_dropped",
                "transductive",
                "mining",
                "augmented",
            )
            if key in pool
        },
        "verdict": verdict(rows, result_models(run_dir, config, phases), primary, out),
        "model_selection": _selection(config, out, phases),
        "evaluation": {label: result for label, result in rows},
        "phases": {
            name: result
            for name, result in progress["results"].items()
            if "train" in (result or {})
        },
        "seconds": round(progress["seconds"], 1),
        "precision": progress.get("fingerprint", {}).get("precision", "fp32"),
    }
    augmentation = (progress["results"].get("augment") or {}).get("augmentation")
    if augmentation:
        report["pairs"]["augmentation"] = augmentation
    if progress.get("communication"):
        report["communication"] = progress["communication"]
    selected = progress["results"].get("selected")
    if selected:
        report["selection"] = {k: selected[k] for k in ("candidates", "chosen")}
    write_json(out / "report.json", report)
    lines = [
        report["verdict"],
        "",
        "# Trans-Encoder run",
        "",
        f"- recipe: `{config.recipe}`, cycles: {config.cycles}, models: {', '.join(config.models)}",
        f"- pairs: {pool['description']}",
        f"- model selection: {report['model_selection']}",
        f"- wall time: {report['seconds']:.0f} s, precision: {report['precision']}",
        "",
    ]
    if any(result for _, result in rows):
        lines += [
            "Spearman x100 for STS tasks (STS12-16 pooled 'all', as SimCSE reports), ROC-AUC "
            "x100 for pair tasks.",
            "",
            markdown_tables(rows),
        ]
    if selected:
        lines += selection_lines(selected)
    lines.append("")
    if report.get("communication"):
        lines += [
            "### communication (bytes each rank sends per optimizer step)",
            "",
            "| phase | strategy | steps | bytes/rank/step | collectives (participants) |",
            "|---|---|---|---|---|",
        ]
        for phase, stats in report["communication"].items():
            kinds = ", ".join(
                f"{kind} ({'/'.join(map(str, entry['participants']))})"
                for kind, entry in stats.get("collectives", {}).items()
            )
            lines.append(
                f"| {phase} | {stats.get('strategy')} | {stats.get('steps')} | "
                f"{stats.get('bytes_per_step_mean', 0):,.0f} | {kinds} |"
            )
        lines.append("")
    atomic_write_text(out / "report.md", "\n".join(lines))
    if any(result for _, result in rows):
        plot_run(rows, out / "evaluation.png")
    return report


def rebuild_report(path) -> dict:
    """The report of the run in folder ``path`` (finished or interrupted), from its ledger alone:
    no data, model or settings check is needed (``transencoder report``)."""
    from .ledger import Ledger
    from .plan import plan
    from .recipes import config_from_record

    run_dir = RunDir(path)
    state = Ledger.read(run_dir).state
    config = config_from_record(state["config"])
    run_dir.members = len(config.models)
    phases = plan(
        cycles=config.cycles,
        members=len(config.models),
        prime=state["primed"],
        average_bi=config.average_bi,
        select=config.selection.active,
        augment=config.data.augment_to > 0,
    )
    return write_report(run_dir, config, state, phases)
