"""``transencoder eval``: score models on the STS tasks found in a folder or file."""

from __future__ import annotations

import argparse

from ._common import split_list

NAME = "eval"
HELP = "STS evaluation (Spearman x100, SentEval/SimCSE protocol)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="PATH|default",
        help="model directory, or 'default' (packaged all-MiniLM-L6-v2); repeat for an ensemble",
    )
    parser.add_argument(
        "--kind",
        choices=("bi", "cross"),
        default="bi",
        help="bi-encoder (cosine) or cross-encoder (score)",
    )
    parser.add_argument(
        "--data-dir",
        required=True,
        help="folder with STS data (any subset of the tasks), or one file",
    )
    parser.add_argument(
        "--tasks",
        help="comma-separated tasks to evaluate, e.g. STS12,STSB,SICKR (default: all found)",
    )
    parser.add_argument(
        "--aggregation",
        choices=("all", "mean", "wmean"),
        default="all",
        help="STS12-16: pooled (all, SimCSE's headline) or SentEval's mean / weighted mean of subsets",
    )
    parser.add_argument(
        "--format", default="auto", choices=("auto", "semeval", "senteval", "stsb", "sick", "tsv")
    )
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument(
        "--both-orders",
        action="store_true",
        help="cross-encoders: average the (a, b) and (b, a) scores",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from ..eval import StsEvaluator, find_tasks
    from ..models import BiEncoder, CrossEncoder

    tasks = find_tasks(args.data_dir, tasks=split_list(args.tasks), format=args.format)
    print(f"found {len(tasks)} task(s) in {args.data_dir}:")
    for task in tasks:
        print(f"  {task.describe()}")
    loader = BiEncoder if args.kind == "bi" else CrossEncoder
    models = [loader.from_pretrained(path, device=args.device) for path in args.model]
    show = False if args.no_progress else True
    evaluator = StsEvaluator(
        tasks, aggregation=args.aggregation, batch_size=args.batch_size, show_progress_bar=show
    )
    if args.kind == "cross" and args.both_orders:
        import numpy as np

        scores = np.mean(
            [
                m.predict(
                    evaluator.pairs,
                    batch_size=args.batch_size,
                    both_orders=True,
                    show_progress_bar=show,
                )
                for m in models
            ],
            axis=0,
        )
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
