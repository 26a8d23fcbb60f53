"""The run report: ``report.json`` (everything), ``report.md`` (task x cycle tables) and
``evaluation.png`` (every task and the average per cycle, bi and cross; see :mod:`.plot`)."""

from __future__ import annotations

import math
from pathlib import Path

from .checkpoint import atomic_write_bytes, atomic_write_json
from .plan import PhaseKind
from .plot import plot_run
from .rundir import RunDir


def _rows(progress: dict, phases) -> list[tuple[str, dict]]:
    """(row label, {model tag: eval result}) for the start, each evaluated cycle and the average."""
    rows = []
    start = progress["results"].get("start-eval")
    if start:
        rows.append(("start", start))
    primed = {}
    for phase in phases:
        if phase.kind is PhaseKind.PRIME and "eval" in (progress["results"].get(phase.name) or {}):
            primed.update(progress["results"][phase.name]["eval"])
    if primed:
        rows.append(("primed", primed))
    for phase in phases:
        if phase.kind in (PhaseKind.EVAL, PhaseKind.AVERAGE_EVAL) and progress["results"].get(
            phase.name
        ):
            result = {
                tag: r
                for tag, r in progress["results"][phase.name].items()
                if not tag.startswith("_")
            }
            rows.append(
                (f"cycle {phase.cycle}" if phase.kind is PhaseKind.EVAL else "average", result)
            )
    return rows


def select_on_dev(progress: dict, phases, run_dir: RunDir) -> dict:
    """Per model tag, the cycle with the best STS-B dev Spearman (ties: the earlier cycle)."""
    selected: dict[str, dict] = {}
    for phase in phases:
        result = progress["results"].get(phase.name) or {}
        if phase.kind is not PhaseKind.EVAL or "_dev" not in result:
            continue
        for tag, dev in result["_dev"].items():
            score = dev["average"]["spearman"]
            if tag not in selected or score > selected[tag]["dev_spearman"]:
                kind = tag.split("-")[0]
                path = (
                    run_dir.root / f"cycle-{phase.cycle}" / tag
                    if not tag.endswith("ensemble")
                    else None
                )
                selected[tag] = {
                    "cycle": phase.cycle,
                    "dev_spearman": round(score, 4),
                    "path": str(path) if path else None,
                    "test": result.get(tag, {}).get("average"),
                    "kind": kind,
                }
    return selected


def _selection(config, out: Path, phases) -> str:
    if config.select_on_dev:
        return "best cycle by STS-B dev Spearman (gold dev labels)"
    if any(phase.kind is PhaseKind.AVERAGE_BI for phase in phases):
        return (
            f"none: the weight average of the {config.cycles} cycles' bi-encoders "
            f"({out / 'average'}) and the last cycle's cross-encoder are the result"
        )
    return "none: the last cycle's models are the result"


def _fmt(value) -> str:
    return (
        "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"
    )


def primary(scores: dict) -> float | None:
    """A task's (or an average's) headline figure: Spearman for STS, ROC-AUC for pair tasks."""
    for metric in ("spearman", "auc"):
        if metric in scores:
            return scores[metric]
    return None


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
            cells = [_fmt(primary(result[tag]["tasks"][t])) for t in tasks]
            out.append(
                f"| {label} | "
                + " | ".join(cells)
                + f" | {_fmt(primary(result[tag]['average']))} |"
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
            key: pool[key] for key in ("count", "sources", "duplicates_dropped", "transductive")
        },
        "model_selection": _selection(config, out, phases),
        "evaluation": {label: result for label, result in rows},
        "phases": {
            name: result
            for name, result in progress["results"].items()
            if "train" in (result or {})
        },
        "seconds": round(progress["seconds"], 1),
    }
    if progress.get("communication"):
        report["communication"] = progress["communication"]
    if config.select_on_dev:
        report["selected"] = select_on_dev(progress, phases, run_dir)
    atomic_write_json(out / "report.json", report)
    lines = [
        "# Trans-Encoder run",
        "",
        f"- recipe: `{config.recipe}`, cycles: {config.cycles}, models: {', '.join(config.models)}",
        f"- pairs: {pool['description']}",
        f"- model selection: {report['model_selection']}",
        f"- wall time: {report['seconds']:.0f} s",
        "",
        "Spearman x100 for STS tasks (STS12-16 pooled 'all', as SimCSE reports), ROC-AUC x100 for pair tasks.",
        "",
        markdown_tables(rows),
    ]
    for tag, choice in report.get("selected", {}).items():
        test = choice["test"]["spearman"] if choice.get("test") else float("nan")
        lines.append(
            f"- selected {tag}: cycle {choice['cycle']} (STS-B dev {choice['dev_spearman']:.2f}; "
            f"test average {test:.2f})"
        )
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
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode("utf-8"))
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
    )
    return write_report(run_dir, config, state, phases)
