"""The run report: ``report.json`` (everything), ``report.md`` (task x cycle tables) and
``spearman.png`` (average Spearman per cycle, bi and cross)."""

from __future__ import annotations

import math
from pathlib import Path

from .checkpoint import atomic_write_bytes, atomic_write_json
from .plan import PhaseKind
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
        if phase.kind in (PhaseKind.EVAL, PhaseKind.AVERAGE_EVAL) and progress["results"].get(phase.name):
            result = {tag: r for tag, r in progress["results"][phase.name].items() if not tag.startswith("_")}
            rows.append((f"cycle {phase.cycle}" if phase.kind is PhaseKind.EVAL else "average", result))
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
                path = run_dir.root / f"cycle-{phase.cycle}" / tag if not tag.endswith("ensemble") else None
                selected[tag] = {"cycle": phase.cycle, "dev_spearman": round(score, 4),
                                 "path": str(path) if path else None, "test": result.get(tag, {}).get("average"),
                                 "kind": kind}
    return selected


def _selection(config, out: Path, phases) -> str:
    if config.select_on_dev:
        return "best cycle by STS-B dev Spearman (gold dev labels)"
    if any(phase.kind is PhaseKind.AVERAGE_BI for phase in phases):
        return (f"none: the weight average of the {config.cycles} cycles' bi-encoders "
                f"({out / 'average'}) and the last cycle's cross-encoder are the result")
    return "none: the last cycle's models are the result"


def _fmt(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def markdown_tables(rows: list[tuple[str, dict]]) -> str:
    """One table per model tag (bi, cross, ensembles): rows = start/cycles, columns = tasks."""
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
            cells = [_fmt(result[tag]["tasks"][t]["spearman"]) for t in tasks]
            out.append(f"| {label} | " + " | ".join(cells) + f" | {_fmt(result[tag]['average']['spearman'])} |")
        out.append("")
    return "\n".join(out)


def plot(rows: list[tuple[str, dict]], path: Path) -> bool:
    """Average Spearman per cycle for each model tag; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(6, 4))
    labels = [label for label, _ in rows]
    for tag in dict.fromkeys(tag for _, result in rows for tag in result):
        xs = [i for i, (_, r) in enumerate(rows) if tag in r]
        ys = [rows[i][1][tag]["average"]["spearman"] for i in xs]
        axis.plot(xs, ys, marker="o", label=tag)
    axis.set_xticks(range(len(labels)), labels)
    axis.set_ylabel("average Spearman x100")
    axis.set_title("STS Spearman per cycle")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    temporary = path.with_name(path.name + ".tmp.png")
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    temporary.replace(path)
    return True


def write_report(run_dir: RunDir, config, pool, progress: dict, phases) -> dict:
    out = run_dir.root
    rows = _rows(progress, phases)
    report = {
        "config": config.to_dict(),
        "pairs": {
            "count": len(pool),
            "sources": pool.sources,
            "duplicates_dropped": pool.duplicates,
            "transductive": pool.transductive,
        },
        "model_selection": _selection(config, out, phases),
        "evaluation": {label: result for label, result in rows},
        "phases": {name: result for name, result in progress["results"].items() if "train" in (result or {})},
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
        f"- pairs: {pool.describe()}",
        f"- model selection: {report['model_selection']}",
        f"- wall time: {report['seconds']:.0f} s",
        "",
        "Spearman x100 (STS12-16 pooled 'all', as SimCSE reports).",
        "",
        markdown_tables(rows),
    ]
    for tag, choice in report.get("selected", {}).items():
        test = choice["test"]["spearman"] if choice.get("test") else float("nan")
        lines.append(f"- selected {tag}: cycle {choice['cycle']} (STS-B dev {choice['dev_spearman']:.2f}; "
                     f"test average {test:.2f})")
    lines.append("")
    if report.get("communication"):
        lines += ["### communication (bytes each rank sends per optimizer step)", "",
                  "| phase | strategy | steps | bytes/rank/step | collectives (participants) |", "|---|---|---|---|---|"]
        for phase, stats in report["communication"].items():
            kinds = ", ".join(f"{kind} ({'/'.join(map(str, entry['participants']))})"
                              for kind, entry in stats.get("collectives", {}).items())
            lines.append(f"| {phase} | {stats.get('strategy')} | {stats.get('steps')} | "
                         f"{stats.get('bytes_per_step_mean', 0):,.0f} | {kinds} |")
        lines.append("")
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode("utf-8"))
    if rows:
        plot(rows, out / "spearman.png")
    return report
