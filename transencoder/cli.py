"""Command line: ``transencoder eval`` and ``transencoder train`` (also ``python -m transencoder``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

EXIT_USAGE = 2
EXIT_ERROR = 1


def _split_list(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transencoder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    ev = commands.add_parser("eval", help="STS evaluation (Spearman x100, SentEval/SimCSE protocol)")
    ev.add_argument("--model", action="append", required=True, metavar="PATH|default",
                    help="model directory, or 'default' (packaged all-MiniLM-L6-v2); repeat for an ensemble")
    ev.add_argument("--kind", choices=("bi", "cross"), default="bi", help="bi-encoder (cosine) or cross-encoder (score)")
    ev.add_argument("--data-dir", required=True, help="folder with STS data (any subset of the tasks), or one file")
    ev.add_argument("--tasks", help="comma-separated tasks to evaluate, e.g. STS12,STSB,SICKR (default: all found)")
    ev.add_argument("--aggregation", choices=("all", "mean", "wmean"), default="all",
                    help="STS12-16: pooled (all, SimCSE's headline) or SentEval's mean / weighted mean of subsets")
    ev.add_argument("--format", default="auto", choices=("auto", "semeval", "senteval", "stsb", "sick", "tsv"))
    ev.add_argument("--output", help="write the results as JSON here")
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    ev.add_argument("--both-orders", action="store_true", help="cross-encoders: average the (a, b) and (b, a) scores")
    ev.add_argument("--no-progress", action="store_true", help="hide progress bars")

    tr = commands.add_parser("train", help="run Trans-Encoder cycles (resumes an interrupted run)")
    tr.add_argument("--config", help="YAML file of settings (see transencoder.training.TrainConfig)")
    tr.add_argument("--recipe", choices=("official", "recommended"), help="default settings (default: recommended)")
    tr.add_argument("--model", action="append", metavar="PATH|default",
                    help="start checkpoint; repeat for mutual distillation (default: default)")
    source = tr.add_mutually_exclusive_group()
    source.add_argument("--data-dir", help="STS data folder: its pairs (labels dropped) form the pool, its tasks are evaluated")
    source.add_argument("--pairs", help="a sentence1<TAB>sentence2 file of unlabelled pairs")
    tr.add_argument("--eval-data-dir", help="where to evaluate each cycle (default: --data-dir)")
    tr.add_argument("--eval-tasks", help="comma-separated tasks to evaluate each cycle (default: all found)")
    tr.add_argument("--pool-tasks", help="comma-separated tasks whose pairs form the pool (default: all found)")
    tr.add_argument("--cycles", type=int)
    tr.add_argument("--output-dir")
    tr.add_argument("--max-pairs", type=int, help="use a random subset of this many pairs (quick runs)")
    tr.add_argument("--seed", type=int)
    tr.add_argument("--device")
    tr.add_argument("--label-views", metavar="VIEW,...",
                    help="views a bi-encoder labels the cross-encoder's pairs with: pooled, first_last, "
                         "token_f1 (rank-averaged); default: pooled (the start model's anchor uses start_views)")
    tr.add_argument("--select-on-dev", action="store_true", default=None,
                    help="keep the best cycle by STS-B dev Spearman (uses gold dev labels; off by default)")
    tr.add_argument("--average-bi", action=argparse.BooleanOptionalAction, default=None,
                    help="average the cycles' bi-encoders weight by weight into <output-dir>/average/bi "
                         "(default: on in the recommended recipe, off in the official one)")
    tr.add_argument("--strategy", choices=("none", "ddp", "mics", "gtc", "bmuf", "gtc-bmuf"), default="none",
                    help="distributed strategy (launch with accelerate launch)")
    tr.add_argument("--group-size", type=int, help="distributed: ranks per partition / GTC group")
    tr.add_argument("--threshold", type=float, help="gtc, gtc-bmuf: GTC's tau (default 1e-3)")
    tr.add_argument("--block-steps", type=int, help="bmuf, gtc-bmuf: BMUF's K, steps per block (default 50)")
    tr.add_argument("--block-momentum", type=float,
                    help="bmuf, gtc-bmuf: BMUF's eta in [0, 1) (default 1 - 1/groups; 0 = plain averaging)")
    tr.add_argument("--no-progress", action="store_true")
    return parser


def run_eval(args: argparse.Namespace) -> int:
    from .eval import StsEvaluator, find_tasks
    from .models import BiEncoder, CrossEncoder

    tasks = find_tasks(args.data_dir, tasks=_split_list(args.tasks), format=args.format)
    print(f"found {len(tasks)} task(s) in {args.data_dir}:")
    for task in tasks:
        print(f"  {task.describe()}")
    loader = BiEncoder if args.kind == "bi" else CrossEncoder
    models = [loader.from_pretrained(path, device=args.device) for path in args.model]
    show = False if args.no_progress else True
    evaluator = StsEvaluator(tasks, aggregation=args.aggregation, batch_size=args.batch_size, show_progress_bar=show)
    if args.kind == "cross" and args.both_orders:
        import numpy as np

        scores = np.mean([m.predict(evaluator.pairs, batch_size=args.batch_size, both_orders=True,
                                    show_progress_bar=show) for m in models], axis=0)
        result = evaluator.from_scores(scores, models=list(args.model))
    else:
        result = evaluator(models)
        result.models = list(args.model)
    label = "ensemble of " + ", ".join(args.model) if len(models) > 1 else args.model[0]
    print(f"\n{args.kind}-encoder {label} (Spearman/Pearson x100, aggregation: {args.aggregation})")
    print(result.table())
    if args.output:
        result.write_json(args.output, kind=args.kind, data_dir=str(args.data_dir))
        print(f"wrote {args.output}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from .training import build_config, load_yaml, run_trans_encoder
    from .training.config import ConfigError

    values = load_yaml(args.config) if args.config else {}
    config = build_config(
        values,
        recipe=args.recipe,
        models=args.model,
        data_dir=args.data_dir,
        pairs=args.pairs,
        eval_data_dir=args.eval_data_dir,
        eval_tasks=_split_list(args.eval_tasks),
        pool_tasks=_split_list(args.pool_tasks),
        cycles=args.cycles,
        output_dir=args.output_dir,
        max_pairs=args.max_pairs,
        seed=args.seed,
        device=args.device,
        select_on_dev=args.select_on_dev,
        average_bi=args.average_bi,
        label_views=_split_list(args.label_views),
        show_progress_bar=False if args.no_progress else None,
    )
    if args.data_dir is not None and "pairs" in values:  # the flag replaces the file's source
        config.pairs = None
    knobs = {"threshold": args.threshold, "block_steps": args.block_steps, "block_momentum": args.block_momentum}
    if args.strategy == "none" and any(v is not None for v in knobs.values()):
        given = ", ".join("--" + k.replace("_", "-") for k, v in knobs.items() if v is not None)
        raise ConfigError(f"{given} only apply to a distributed run: add --strategy gtc|bmuf|gtc-bmuf")
    strategy = None
    if args.strategy != "none":
        from .training.parallel import make_strategy

        try:
            strategy = make_strategy(args.strategy, group_size=args.group_size,
                                     **{k: v for k, v in knobs.items() if v is not None})
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


def main(argv: Sequence[str] | None = None) -> int:
    from .eval.data import DataFormatError
    from .models.loading import ModelLoadError
    from .training.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return run_eval(args) if args.command == "eval" else run_train(args)
    except (DataFormatError, ModelLoadError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR if not isinstance(err, ConfigError) else EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
