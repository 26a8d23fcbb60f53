"""Scoring and tables for ``bench_domains.py``: every candidate of a run on dev and test, the
label-free signals, the per-domain table, the seeds and the domain-transfer matrix.

A run's candidates are those of the library's selection (:mod:`transencoder.training.selection`:
the start model, each cycle's bi- and cross-encoder, the average, weight-space mixes); each is
scored on the domain's dev sample (200 labelled pairs, for selection) and test split (reported).
Scores are cached in ``<run>/bench_scores.json`` so tables can be rebuilt without a model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

MIXES = (0.25, 0.5, 0.75)


def _suite(path: Path, both_orders: bool = False):
    from transencoder.eval import EvaluationSuite, find_all_tasks

    tasks = find_all_tasks(path)
    return EvaluationSuite(tasks, batch_size=128, show_progress_bar=False, both_orders=both_orders)


def _primary(suite, model) -> float:
    value = suite(model).primary
    return round(float(value), 4) if math.isfinite(value) else float("nan")


def run_signals(run_dir: Path, cycles: int) -> list[dict]:
    """The label-free signals of each cycle, from the run's saved arrays."""
    from transencoder.training.rundir import LabelArray, RunDir
    from transencoder.training.signals import cycle_signals

    folder = RunDir(run_dir)
    start = np.load(folder.labels(LabelArray.BI_SCORES, 1))
    out = []
    for k in range(1, cycles + 1):
        arrays = [
            np.load(folder.labels(a, k))
            for a in (LabelArray.CROSS_SCORES, LabelArray.CROSS_TARGETS, LabelArray.BI_TARGETS)
        ]
        out.append({"cycle": k, **cycle_signals(arrays[0], arrays[1], start, arrays[2])})
    return out


def run_cycles(run_dir: Path) -> int:
    """How many cycles a run folder holds (its ledger's settings; an extended run counts all)."""
    ledger = json.loads((run_dir / "progress.json").read_text(encoding="utf-8"))
    return int(ledger["config"]["cycles"])


def score_run(run_dir: Path, data: Path, start_model: str = "default") -> dict:
    """Every candidate of a finished run on dev and test (cached), and its signals."""
    cycles = run_cycles(run_dir)
    cache = run_dir / "bench_scores.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    from transencoder import BiEncoder, CrossEncoder
    from transencoder.training.rundir import RunDir
    from transencoder.training.selection import candidates

    folder = RunDir(run_dir)
    found = candidates(
        cycles=cycles, members=1, averaged=True, mixes=list(MIXES), start=lambda m: start_model,
        model=folder.model, average=folder.average,
        load_bi=lambda p: BiEncoder.from_pretrained(p, device="cpu"),
        load_cross=lambda p: CrossEncoder.from_pretrained(p, device="cpu"),
    )  # fmt: skip
    dev, test = _suite(data / "dev.tsv"), _suite(data / "test.tsv")
    rows = []
    for candidate in found:
        model = candidate.load()
        rows.append(
            {
                "name": candidate.name,
                "kind": candidate.kind,
                "dev": _primary(dev, model),
                "test": _primary(test, model),
            }
        )
        print(
            f"  {run_dir.name} {candidate.kind} {candidate.name}: dev {rows[-1]['dev']:.2f} test {rows[-1]['test']:.2f}",
            flush=True,
        )
    record = {"candidates": rows, "signals": run_signals(run_dir, cycles)}
    cache.write_text(json.dumps(record, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    return record


def run_row(record: dict, default_mix: float | None = None) -> dict:
    """One run's figures: each candidate's test figure, the recipe's result and gains."""
    test = {(c["name"], c["kind"]): c["test"] for c in record["candidates"]}
    dev = {(c["name"], c["kind"]): c["dev"] for c in record["candidates"]}
    start = test[("start", "bi")]
    bis = [c for c in record["candidates"] if c["kind"] == "bi"]
    chosen = bis[0]
    for c in bis:  # the library's rule: the best dev figure, ties to the earlier (the start)
        if c["dev"] > chosen["dev"]:
            chosen = c
    row = {
        "start": start,
        "cycles": {
            f"{name} {kind}": test[(name, kind)] for name, kind in test if name.startswith("cycle")
        },
        "average": test[("average", "bi")],
        "final_cross": test[(max(n for n, k in test if k == "cross"), "cross")],
        "gain": round(test[("average", "bi")] - start, 4),
        "cross_gain": round(test[(max(n for n, k in test if k == "cross"), "cross")] - start, 4),
        "dev_selected": chosen["name"],
        "dev_selected_gain": round(chosen["test"] - start, 4),
        "mix_gains": {f"{a:.2f}": round(test[(f"mix {a:.2f}", "bi")] - start, 4) for a in MIXES},
        "mix_dev_gains": {
            f"{a:.2f}": round(dev[(f"mix {a:.2f}", "bi")] - dev[("start", "bi")], 4) for a in MIXES
        },
        "average_dev_gain": round(dev[("average", "bi")] - dev[("start", "bi")], 4),
        "signals": record["signals"],
    }
    if default_mix is not None:
        row["default_mix_gain"] = row["mix_gains"][f"{default_mix:.2f}"]
    return row


def summary(gains: list[float]) -> dict:
    gains = [g for g in gains if math.isfinite(g)]
    return {
        "mean": round(float(np.mean(gains)), 3),
        "worst": round(float(np.min(gains)), 3),
        "hurt": int(sum(g < 0 for g in gains)),
        "below_start_by_more_than_0.1": int(sum(g < -0.1 for g in gains)),
        "domains": len(gains),
    }


def signal_validation(rows: dict[str, dict]) -> dict:
    """How well each signal (its lowest value over the cycles) predicts a run's gain: the
    Spearman correlation with the gain, and the warning rule's hits and misses."""
    from scipy.stats import spearmanr

    from transencoder.training.signals import WARN_BELOW

    out = {}
    names = [k for k in next(iter(rows.values()))["signals"][0] if k != "cycle"]
    gains = [row["gain"] for row in rows.values()]
    for name in names:
        lowest = [min(s[name] for s in row["signals"]) for row in rows.values()]
        rho = spearmanr(lowest, gains).statistic
        entry = {
            "spearman_with_gain": round(float(rho), 3) if math.isfinite(rho) else None,
            "lowest_per_run": dict(zip(rows, lowest)),
        }
        if name in WARN_BELOW:
            warned = [v < WARN_BELOW[name] for v in lowest]
            hurt = [g < 0 for g in gains]
            entry["threshold"] = WARN_BELOW[name]
            entry["warned_and_hurt"] = int(sum(w and h for w, h in zip(warned, hurt)))
            entry["warned_not_hurt"] = int(sum(w and not h for w, h in zip(warned, hurt)))
            entry["hurt_not_warned"] = int(sum(h and not w for w, h in zip(warned, hurt)))
        out[name] = entry
    return out


def _known_transfer(root: Path, matrix: dict, sources: list[str], targets: list[str]) -> None:
    """The start's row and the diagonal from the per-domain scores (same models, same splits)."""
    for t in targets:
        scored = root / t / "s2021" / "bench_scores.json"
        if scored.is_file():
            row = run_row(json.loads(scored.read_text(encoding="utf-8")))
            matrix.setdefault("start", {})[t] = row["start"]
            if t in sources:
                matrix.setdefault(f"{t} bi", {})[t] = row["average"]
                matrix.setdefault(f"{t} cross", {})[t] = row["final_cross"]


def transfer(
    root: Path, sources: list[str], targets: list[str], start_model: str = "default"
) -> dict:
    """Train on one domain's pool, evaluate on every domain's test split: start, final bi (the
    average) and final cross (its last cycle's) per source; cached in ``<root>/transfer.json``.
    The start's row and the diagonal are the per-domain scores of the same models on the same
    test split (``bench_scores.json``) where those exist."""
    from transencoder import BiEncoder, CrossEncoder

    cache = root / "transfer.json"
    matrix = json.loads(cache.read_text()) if cache.is_file() else {}
    suites = {t: _suite(root / t / "data" / "test.tsv") for t in targets}
    models = {}
    for s in sources:
        run = root / s / "s2021"
        if (run / "average" / "bi").is_dir():
            models[f"{s} bi"] = lambda run=run: BiEncoder.from_pretrained(
                run / "average" / "bi", device="cpu"
            )
            models[f"{s} cross"] = lambda run=run: CrossEncoder.from_pretrained(
                run / f"cycle-{run_cycles(run)}" / "cross", device="cpu"
            )
    models["start"] = lambda: BiEncoder.from_pretrained(start_model, device="cpu")  # often known
    for name, load in models.items():
        _known_transfer(root, matrix, sources, targets)  # another process may have scored since
        missing = [t for t in targets if t not in matrix.get(name, {})]
        if not missing:
            continue
        model = load()
        for t in missing:
            matrix.setdefault(name, {})[t] = _primary(suites[t], model)
            print(f"  transfer {name} -> {t}: {matrix[name][t]:.2f}", flush=True)
            cache.write_text(json.dumps(matrix, indent=2) + "\n")
    return matrix
