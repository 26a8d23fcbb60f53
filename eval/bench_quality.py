"""Quality benchmark: Trans-Encoder cycles from the default model, per recipe, on this machine.

Pairs: the unlabelled pairs of STS12-16 and STS-B (all splits) found in ``--data-dir``
(transductive, as the paper's setting: the evaluation pairs are in the pool, their labels are
not). Prints, per recipe, the 6-task Spearman table for the start model and for the bi- and
cross-encoder after each cycle, with the wall time; writes JSON. Runs are resumable: start the
same command again after an interruption. ``--set data.remine=true`` discards the pairing
instead and trains on pairs mined from the pool's distinct sentences (``transencoder mine``'s
defaults), the issue-18 quality benchmark. ``--label`` keeps a variant's run folder and record
key apart from the recipe's own, e.g. a run trained on a pool mined with other settings
(``transencoder mine`` then ``transencoder train --pairs``, folder ``OUTPUT_ROOT/LABEL``),
summarised with ``--summarise-only``.

    python eval/bench_quality.py --data-dir ../shared/data/sts/senteval --recipes recommended,official
    python eval/bench_quality.py --recipes recommended --set data.remine=true \
        --output-root runs/mined-quality --output eval/results/mined_quality.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # eval/records.py

TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSB")


def table(report: dict) -> str:
    header = f"{'model':16} " + " ".join(f"{t:>6}" for t in TASKS) + f" {'avg':>6}"
    lines = [header, "-" * len(header)]
    for row_label, result in report["evaluation"].items():
        for tag, scores in result.items():
            cells = " ".join(
                f"{scores['tasks'][t]['spearman']:6.2f}" if t in scores["tasks"] else f"{'':>6}"
                for t in TASKS
            )
            lines.append(f"{row_label + ' ' + tag:16} {cells} {scores['average']['spearman']:6.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/sts/senteval")
    parser.add_argument("--model", default="default")
    parser.add_argument("--recipes", default="recommended,official")
    parser.add_argument("--cycles", type=int, default=None, help="default: each recipe's own")
    parser.add_argument("--output-root", default="runs/bench-quality")
    parser.add_argument("--output", default="eval/results/bench_quality.json")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=YAML",
        help="extra setting for every recipe, e.g. --set bi.epochs=1 (repeatable)",
    )
    parser.add_argument(
        "--label",
        default=None,
        help="the record's key and run folder for the (single) recipe, default its name: keeps variants apart",
    )
    parser.add_argument(
        "--summarise-only",
        action="store_true",
        help="no training: report the cycles that the runs in --output-root have finished so far",
    )
    args = parser.parse_args()
    if args.label and "," in args.recipes:
        parser.error("--label names one recipe's result: give one recipe in --recipes")

    from records import read_record, write_record

    from transencoder.training import build_config, run_trans_encoder
    from transencoder.training.report import rebuild_report

    results = {k: v for k, v in read_record(args.output).items() if k != "meta"}
    for recipe in args.recipes.split(","):
        key = args.label or recipe  # the run folder's name and the record's key
        values: dict = {
            "recipe": recipe,
            "models": [args.model],
            "data": {
                "data_dir": args.data_dir,
                "pool_tasks": list(TASKS),
                "eval_tasks": list(TASKS),
            },
            "run": {
                "output_dir": str(Path(args.output_root) / key),
                "show_progress_bar": False,
            },
        }
        if args.cycles:
            values["cycles"] = args.cycles
        started = time.perf_counter()
        config = build_config(values, sets=args.set)
        out = config.run.output_dir
        report = rebuild_report(out) if args.summarise_only else run_trans_encoder(config)
        pairs_file = report["config"]["data"]["pairs"]
        if pairs_file and "mining" not in report["pairs"]:
            # a pool written by `transencoder mine`: keep how it was mined beside the figures
            from transencoder.mining import default_summary_path

            summary = Path(default_summary_path(pairs_file))
            if summary.is_file():
                report["pairs"]["mining"] = json.loads(summary.read_text())
        if "mining" in report["pairs"]:
            pool = "mined"
        else:
            pool = "transductive" if report["pairs"]["transductive"] else "given pairs file"
        print(
            f"\n== recipe {recipe}: {report['pairs']['count']} pairs ({pool}), "
            f"wall time {report['seconds']:.0f} s (this invocation {time.perf_counter() - started:.0f} s)"
        )
        print(table(report))
        results[key] = {
            "cycles_finished": sum(label.startswith("cycle ") for label in report["evaluation"]),
            "cycles_planned": report["config"]["cycles"],
            "evaluation": report["evaluation"],
            "seconds": report["seconds"],
            "pairs": report["pairs"],
            "config": report["config"],
        }
    write_record(args.output, results)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
