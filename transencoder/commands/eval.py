"""``transencoder eval``: score models on the STS and pair-classification tasks of a folder or file.

Flags, the output path and the model folders are checked before any data is scored; every bad
input ends in one ``error:`` line (exit 1 for data and models, 2 for flags).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError
from ._common import add_precision, precision_line, split_list
from ._models import add_model_arguments, load_models, resolve_kind

NAME = "eval"
HELP = "evaluation: STS (Spearman x100, SentEval/SimCSE protocol) and pair classification (ROC-AUC x100)"
#: ``transencoder.eval.ALL_FORMATS``, spelled out so that building the parser imports no model code.
FORMAT_CHOICES = (
    "auto",
    "semeval",
    "senteval",
    "stsb",
    "sick",
    "tsv",
    "mrpc",
    "qnli",
    "qqp",
    "quora",
    "paws",
    "pairs",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(
        parser,
        model_help="model directory, or 'default' (packaged all-MiniLM-L6-v2); repeat for an "
        "ensemble",
    )
    parser.add_argument(
        "--data-dir",
        required=True,
        help="folder with STS and/or pair-classification data (any subset of the tasks), or one file",
    )
    parser.add_argument(
        "--tasks",
        help="comma-separated tasks to evaluate, e.g. STS12,STSB,SICKR,MRPC,QNLI (default: all found)",
    )
    parser.add_argument(
        "--aggregation",
        choices=("all", "mean", "wmean"),
        default="all",
        help="STS12-16: pooled (all, SimCSE's headline) or SentEval's mean / weighted mean of subsets",
    )
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMAT_CHOICES,
        help="auto (by folder layout and header); STS: semeval, senteval (folders), stsb, sick, tsv "
        "(files); pairs: mrpc, qnli, qqp, quora, paws, pairs (sentence1, sentence2, label)",
    )
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per forward pass")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_precision(parser)
    parser.add_argument(
        "--both-orders",
        action="store_true",
        help="cross-encoders: average the (a, b) and (b, a) scores",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def check_batch_size(value: int) -> int:
    if value < 1:
        raise UsageError(f"--batch-size must be a positive number of pairs, got {value}")
    return value


def check_output(text: str | None) -> Path | None:
    """``--output`` is a file that can be written: its folder is created, and a file is tried in it."""
    if text is None:
        return None
    path = Path(text).expanduser()
    if path.is_dir():
        raise UsageError(
            f"--output {text} is a folder; give a file name, e.g. {path / 'results.json'}"
        )
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".transencoder-write-test-"):
            pass
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "the file is read-only")
    except OSError as err:
        raise UsageError(
            f"--output {text}: cannot write there ({err.strerror or err}); choose another file"
        ) from None
    return path


def check_models(names: list[str]) -> None:
    """Each ``--model`` resolves to a folder whose weight files can be read safely."""
    from ..models.loading import check_weights, resolve_model_path

    for name in names:
        path = resolve_model_path(name)
        if Path(path).is_dir():
            check_weights(path)


@contextmanager
def progress_bars(show: bool) -> Iterator[None]:
    """With ``show`` False, no progress bar of transformers, huggingface_hub or datasets."""
    from ..models.quiet import transformers_output

    with transformers_output(progress=None if show else False, reports=True):
        if show:
            yield
            return
        import datasets

        disabled = datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()
        try:
            yield
        finally:
            if not disabled:
                datasets.enable_progress_bars()


def run(args: argparse.Namespace) -> int:
    from ..eval import DegenerateEvaluationWarning, EvaluationSuite, find_all_tasks

    check_batch_size(args.batch_size)
    from ..devices import check_device

    check_device(args.device)
    output = check_output(args.output)
    check_models(args.model)
    args.kind = resolve_kind(args.kind, args.model)
    from ..progress import progress_default

    # As train and encode: bars only on a terminal (a log file gets none), or never.
    show = progress_default(False if args.no_progress else None)
    with progress_bars(show):
        tasks = find_all_tasks(args.data_dir, tasks=split_list(args.tasks), format=args.format)
        print(f"found {len(tasks)} task(s) in {args.data_dir}:")
        for task in tasks:
            print(f"  {task.describe()}")
        models = load_models(args)
        print(f"precision: {precision_line(args.precision, models[0].device)}")
        suite = EvaluationSuite(
            tasks,
            aggregation=args.aggregation,
            batch_size=args.batch_size,
            show_progress_bar=show,
            both_orders=args.kind == "cross" and args.both_orders,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateEvaluationWarning)
            result = suite.from_scores(suite.scores(models), models=list(args.model))
    for warning in caught:
        if issubclass(warning.category, DegenerateEvaluationWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    label = "ensemble of " + ", ".join(args.model) if len(models) > 1 else args.model[0]
    if result.sts is not None:
        print(
            f"\n{args.kind}-encoder {label} (Spearman/Pearson x100, aggregation: {args.aggregation})"
        )
        print(result.sts.table())
    if result.pair is not None:
        print(
            f"\n{args.kind}-encoder {label} (pair classification x100: ROC-AUC, average precision, "
            "accuracy and F1 at their best thresholds; threshold: accuracy's, on the score)"
        )
        print(result.pair.table())
    if output is not None:
        result.write_json(output, kind=args.kind, data_dir=str(args.data_dir))
        print(f"wrote {args.output}")
    return 0
