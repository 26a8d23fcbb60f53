"""Quality benchmark: Trans-Encoder cycles from the default model, per recipe, on this machine.

Pairs: the unlabelled pairs of STS12-16 and STS-B (all splits) found in ``--data-dir``
(transductive, as the paper's setting: the evaluation pairs are in the pool, their labels are
not). Prints, per recipe, the 6-task Spearman table for the start model and for the bi- and
cross-encoder after each cycle, with the wall time; writes JSON. Runs are resumable: start the
same command again after an interruption.

    python eval/bench_quality.py --data-dir ../shared/data/sts/senteval --recipes recommended,official
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

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


def summarise(config) -> dict:
    """The report of a run as far as it went (the start row and every finished cycle)."""
    from transencoder.training.cycles import TransEncoderRun

    try:
        return TransEncoderRun(config).report_so_far()
    except (FileNotFoundError, RuntimeError) as err:  # no run, or one with other settings
        raise SystemExit(str(err)) from err


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
        "--summarise-only",
        action="store_true",
        help="no training: report the cycles that the runs in --output-root have finished so far",
    )
    args = parser.parse_args()

    import yaml

    from transencoder.training import build_config, run_trans_encoder

    results = json.loads(Path(args.output).read_text()) if Path(args.output).is_file() else {}
    for recipe in args.recipes.split(","):
        values: dict = {
            "recipe": recipe,
            "models": [args.model],
            "data_dir": args.data_dir,
            "pool_tasks": list(TASKS),
            "eval_tasks": list(TASKS),
            "output_dir": str(Path(args.output_root) / recipe),
            "show_progress_bar": False,
        }
        if args.cycles:
            values["cycles"] = args.cycles
        for item in args.set:
            key, _, raw = item.partition("=")
            target = values
            *parents, leaf = key.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = yaml.safe_load(raw)
        started = time.perf_counter()
        config = build_config(values)
        report = summarise(config) if args.summarise_only else run_trans_encoder(config)
        print(
            f"\n== recipe {recipe}: {report['pairs']['count']} pairs (transductive), "
            f"wall time {report['seconds']:.0f} s (this invocation {time.perf_counter() - started:.0f} s)"
        )
        print(table(report))
        results[recipe] = {
            "cycles_finished": sum(label.startswith("cycle ") for label in report["evaluation"]),
            "cycles_planned": config.cycles,
            "evaluation": report["evaluation"],
            "seconds": report["seconds"],
            "pairs": report["pairs"],
            "config": report["config"],
        }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
