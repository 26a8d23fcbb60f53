"""``transencoder train``: run (or resume) Trans-Encoder cycles."""

from __future__ import annotations

import argparse
import os

from ._common import split_list

NAME = "train"
HELP = "run Trans-Encoder cycles (resumes an interrupted run)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="YAML file of settings (see transencoder.training.TrainConfig)"
    )
    parser.add_argument(
        "--recipe",
        choices=("official", "recommended"),
        help="default settings (default: recommended)",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="PATH|default",
        help="start checkpoint; repeat for mutual distillation (default: default)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir",
        help="STS data folder: its pairs (labels dropped) form the pool, its tasks are evaluated",
    )
    source.add_argument("--pairs", help="a sentence1<TAB>sentence2 file of unlabelled pairs")
    parser.add_argument(
        "--eval-data-dir", help="where to evaluate each cycle (default: --data-dir)"
    )
    parser.add_argument(
        "--eval-tasks", help="comma-separated tasks to evaluate each cycle (default: all found)"
    )
    parser.add_argument(
        "--pool-tasks", help="comma-separated tasks whose pairs form the pool (default: all found)"
    )
    parser.add_argument("--cycles", type=int)
    parser.add_argument("--output-dir")
    parser.add_argument(
        "--max-pairs", type=int, help="use a random subset of this many pairs (quick runs)"
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device")
    parser.add_argument(
        "--label-views",
        metavar="VIEW,...",
        help="views a bi-encoder labels the cross-encoder's pairs with: pooled, first_last, "
        "token_f1 (rank-averaged); default: pooled (the start model's anchor uses start_views)",
    )
    parser.add_argument(
        "--select-on-dev",
        action="store_true",
        default=None,
        help="keep the best cycle by STS-B dev Spearman (uses gold dev labels; off by default)",
    )
    parser.add_argument(
        "--average-bi",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average the cycles' bi-encoders weight by weight into <output-dir>/average/bi "
        "(default: on in the recommended recipe, off in the official one)",
    )
    parser.add_argument(
        "--strategy",
        choices=("none", "ddp", "mics", "gtc", "bmuf", "gtc-bmuf"),
        default="none",
        help="distributed strategy (launch with accelerate launch)",
    )
    parser.add_argument(
        "--group-size", type=int, help="distributed: ranks per partition / GTC group"
    )
    parser.add_argument("--threshold", type=float, help="gtc, gtc-bmuf: GTC's tau (default 1e-3)")
    parser.add_argument(
        "--block-steps", type=int, help="bmuf, gtc-bmuf: BMUF's K, steps per block (default 50)"
    )
    parser.add_argument(
        "--block-momentum",
        type=float,
        help="bmuf, gtc-bmuf: BMUF's eta in [0, 1) (default 1 - 1/groups; 0 = plain averaging)",
    )
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..training import build_config, load_yaml, run_trans_encoder
    from ..training.config import ConfigError

    values = load_yaml(args.config) if args.config else {}
    config = build_config(
        values,
        recipe=args.recipe,
        models=args.model,
        data_dir=args.data_dir,
        pairs=args.pairs,
        eval_data_dir=args.eval_data_dir,
        eval_tasks=split_list(args.eval_tasks),
        pool_tasks=split_list(args.pool_tasks),
        cycles=args.cycles,
        output_dir=args.output_dir,
        max_pairs=args.max_pairs,
        seed=args.seed,
        device=args.device,
        select_on_dev=args.select_on_dev,
        average_bi=args.average_bi,
        label_views=split_list(args.label_views),
        show_progress_bar=False if args.no_progress else None,
    )
    if args.data_dir is not None and "pairs" in values:  # the flag replaces the file's source
        config.pairs = None
    knobs = {
        "threshold": args.threshold,
        "block_steps": args.block_steps,
        "block_momentum": args.block_momentum,
    }
    if args.strategy == "none" and any(v is not None for v in knobs.values()):
        given = ", ".join("--" + k.replace("_", "-") for k, v in knobs.items() if v is not None)
        raise ConfigError(
            f"{given} only apply to a distributed run: add --strategy gtc|bmuf|gtc-bmuf"
        )
    strategy = None
    if args.strategy != "none":
        from ..training.parallel import make_strategy

        try:
            strategy = make_strategy(
                args.strategy,
                group_size=args.group_size,
                **{k: v for k, v in knobs.items() if v is not None},
            )
        except ValueError as err:  # StrategyConfig's checks: a usage error, not a crash
            raise ConfigError(str(err)) from err
    report = run_trans_encoder(config, strategy=strategy)
    if strategy is None or strategy.rank == 0:
        print(f"\nreport: {os.path.join(config.output_dir, 'report.md')}")
        for line in result_lines(report["evaluation"]):
            print(line)
    return 0


def result_lines(evaluation: dict) -> list[str]:
    """The run's results, one line per model: the last cycle's and, when made, the average."""
    cycles = [label for label in evaluation if label.startswith("cycle ")]
    shown = cycles[-1:] + [label for label in evaluation if label == "average"]
    return [
        f"{label} {tag}: average Spearman {scores['average']['spearman']:.2f}"
        for label in shown
        for tag, scores in evaluation[label].items()
    ]
