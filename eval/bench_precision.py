"""Quality parity of bf16 and fp32: evaluation task by task, and a training run in each.

``eval``: the same models scored on every task in fp32 and in bf16 (the product's inference
path: bf16 copies of the weights); per task the primary figure of both and the difference
(target: within 0.05). Tasks: STS12-16 and STS-B test from ``--sts-dir``, MRPC, QNLI and PAWS
from ``--pairs-dir``, and SICK-R from the test suite's 5-pair fixture (``--sick``; SICK is not in
the shared data, so that row checks the reader and the path, not the precision).

``runs``: two finished per-domain runs that differ only in ``--precision`` (``bench_domains.py
train ... -- --precision bf16`` and ``... fp32`` under two roots): the start, every cycle's
models and the result scored on the domain's test pairs (in fp32 for both), side by side with the
seed-to-seed spread of the gain that the per-domain record holds.

    python eval/bench_precision.py eval --cross runs/prec-fp32/STSB/s2021/cycle-3/cross
    python eval/bench_precision.py runs --fp32 runs/prec-fp32 --bf16 runs/prec-bf16

Writes its section of ``eval/results/precision.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # records.py, domains_analysis.py

TOLERANCE = 0.05


def evaluate(args: argparse.Namespace) -> dict:
    import tempfile

    from transencoder import BiEncoder, CrossEncoder
    from transencoder.eval import EvaluationSuite, find_all_tasks
    from transencoder.testing import write_sick

    tasks = find_all_tasks(args.sts_dir) + find_all_tasks(args.pairs_dir)
    with tempfile.TemporaryDirectory() as folder:
        tasks += find_all_tasks(str(write_sick(Path(folder) / "SICK_test_annotated.txt")))
    print("tasks: " + ", ".join(t.name for t in tasks), flush=True)
    models = {"bi default": lambda p: BiEncoder.from_pretrained("default", precision=p)}
    if args.cross:
        models[f"cross {args.cross}"] = lambda p: CrossEncoder.from_pretrained(
            args.cross, precision=p
        )
    rows = []
    cross_tasks = set(args.cross_tasks.split(","))
    for label, load in models.items():
        results = {}
        chosen = [t for t in tasks if label.startswith("bi") or t.name.split()[0] in cross_tasks]
        for precision in ("fp32", "bf16"):
            suite = EvaluationSuite(
                chosen,
                batch_size=128,
                show_progress_bar=False,
                both_orders=label.startswith("cross"),
            )
            started = time.perf_counter()
            results[precision] = suite.from_scores(suite.scores([load(precision)])).tasks
            print(f"{label} {precision}: {time.perf_counter() - started:.1f} s", flush=True)
        for task in results["fp32"]:
            a, b = (_primary(results[p][task]) for p in ("fp32", "bf16"))
            rows.append(
                {"model": label, "task": task, "fp32": a, "bf16": b, "diff": round(b - a, 4)}
            )
    worst = max(abs(r["diff"]) for r in rows)
    return {
        "rows": rows,
        "tolerance": TOLERANCE,
        "max_abs_diff": worst,
        "all_within": worst <= TOLERANCE,
    }


def _primary(score) -> float:
    data = score.to_dict()
    value = data.get("auc", data.get("spearman"))
    return round(float(value), 4)


def compare_runs(args: argparse.Namespace) -> dict:
    """The start, each cycle's bi- and cross-encoder and the average of both runs, scored in fp32
    on the domain's test pairs (the per-domain benchmark's test split and evaluator)."""
    from domains_analysis import _primary, _suite

    from transencoder import BiEncoder, CrossEncoder

    rows: dict[str, dict] = {}
    runs = {p: Path(root) / args.domain / f"s{args.seed}" for p, root in (("fp32", args.fp32),
                                                                          ("bf16", args.bf16))}  # fmt: skip
    done = {p: _done(run) for p, run in runs.items()}
    # the cycles both runs have finished (a run still under way is compared as far as it got)
    cycles = min(
        max((k for k in range(1, 10) if f"cycle-{k}/bi" in d), default=0) for d in done.values()
    )
    averaged = all("average/bi" in d for d in done.values())
    test = _suite(Path(args.fp32) / args.domain / "data" / "test.tsv")
    start = _primary(test, BiEncoder.from_pretrained("default", precision="fp32"))
    for precision, run in runs.items():
        progress = json.loads((run / "progress.json").read_text(encoding="utf-8"))
        row = {"precision_recorded": progress["fingerprint"].get("precision"),
               "seconds": round(progress["seconds"], 1), "start": start}  # fmt: skip
        for k in range(1, cycles + 1):
            for kind, load in (("bi", BiEncoder), ("cross", CrossEncoder)):
                model = load.from_pretrained(run / f"cycle-{k}" / kind, precision="fp32")
                row[f"cycle {k} {kind}"] = _primary(test, model)
        if averaged:
            average = BiEncoder.from_pretrained(run / "average" / "bi", precision="fp32")
            row["average (result)"] = _primary(test, average)
            row["gain"] = round(row["average (result)"] - start, 4)
        row[f"cycle {cycles} bi gain"] = round(row[f"cycle {cycles} bi"] - start, 4)
        row["cross_gain"] = round(row[f"cycle {cycles} cross"] - start, 4)
        rows[precision] = row
        print(f"{precision}: {row}", flush=True)
    spread = json.loads(Path(args.domains_record).read_text(encoding="utf-8"))["seeds"]
    return {
        "domain": args.domain,
        "seed": args.seed,
        "scored": "test pairs, every model in fp32",
        "runs": rows,
        "cycles_compared": cycles,
        "averages_compared": averaged,
        "gain_difference": round(
            rows["bf16"].get("gain", rows["bf16"][f"cycle {cycles} bi gain"])
            - rows["fp32"].get("gain", rows["fp32"][f"cycle {cycles} bi gain"]),
            4,
        ),
        "seed_spread": {name: value["gain"] for name, value in spread.items()},
    }


def _done(run: Path) -> set[str]:
    return set(json.loads((run / "progress.json").read_text(encoding="utf-8"))["done"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("eval", "runs"))
    parser.add_argument("--sts-dir", default="../shared/data/sts/senteval")
    parser.add_argument("--pairs-dir", default="../shared/data/pairs")
    parser.add_argument("--cross", help="eval: a trained cross-encoder scored as well")
    parser.add_argument(
        "--cross-tasks", default="STSB,SICKR,MRPC", help="eval: the tasks the cross-encoder scores"
    )
    parser.add_argument("--fp32", help="runs: the root of the fp32 run")
    parser.add_argument("--bf16", help="runs: the root of the bf16 run")
    parser.add_argument("--domain", default="STSB")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--domains-record", default="eval/results/domains.json")
    parser.add_argument("--output", default="eval/results/precision.json")
    args = parser.parse_args()
    from records import write_section

    if args.action == "eval":
        part = evaluate(args)
        print(f"\n{'model':40} {'task':12} {'fp32':>8} {'bf16':>8} {'diff':>7}")
        for r in part["rows"]:
            print(
                f"{r['model'][:40]:40} {r['task']:12} {r['fp32']:8.2f} {r['bf16']:8.2f} {r['diff']:+7.3f}"
            )
        print(f"largest |diff| {part['max_abs_diff']:.3f} (target {TOLERANCE})")
        write_section(args.output, "evaluation", part)
    else:
        part = compare_runs(args)
        names = [k for k in part["runs"]["fp32"] if k != "precision_recorded"]
        print(f"\n{args.domain} seed {args.seed}: {'':22} {'fp32':>9} {'bf16':>9}")
        for name in names:
            a, b = part["runs"]["fp32"][name], part["runs"]["bf16"][name]
            print(f"{name:34} {a:9.2f} {b:9.2f}")
        print(f"gain difference {part['gain_difference']:+.2f}; seed spread of the gain: "
              + ", ".join(f"{k} sd {v['std']:.2f}" for k, v in part["seed_spread"].items()))  # fmt: skip
        write_section(args.output, "training", part)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
