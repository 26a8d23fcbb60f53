"""``transencoder train``: run (or resume, or extend) Trans-Encoder cycles."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import add_precision, split_list

NAME = "train"
HELP = "run Trans-Encoder cycles (resumes an interrupted run, extends a finished one)"
#: ``transencoder.distributed.STRATEGIES``, spelled out so that building the parser imports no torch.
STRATEGIES = ("ddp", "zero3", "mics", "gtc", "bmuf", "gtc-bmuf")
#: ``--cross-lr`` ... ``--bi-max-length``: each is ``--set SECTION.FIELD=VALUE`` by another name.
STEP_FLAGS = {"lr": float, "batch_size": int, "epochs": int, "max_length": int, "min_steps": int}
STEPS = {"cross": "the bi -> cross step", "bi": "the cross -> bi step"}
#: The config keys that a flag sets, by flag (for errors about their values).
FLAG_KEYS = {
    "--cycles": "cycles",
    "--max-pairs": "data.max_pairs",
    "--augment-to": "data.augment_to",
    "--seed": "run.seed",
    "--strategy": "distributed.name",
    "--group-size": "distributed.group_size",
    "--gtc-threshold": "distributed.threshold",
    "--block-steps": "distributed.block_steps",
    "--block-momentum": "distributed.block_momentum",
    **{
        f"--{section}-{field.replace('_', '-')}": f"{section}.{field}"
        for section in STEPS
        for field in STEP_FLAGS
    },
}


class DeprecatedAlias(argparse.Action):
    """An old flag name that still works and says which name replaces it (``const``)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"note: {option_string} is deprecated; use {self.const}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--config",
        help="YAML file of settings (sections: data, teachers, cross, bi, priming, selection, run, "
        "distributed; see docs/config.md)",
    )
    add(
        "--recipe",
        choices=("recommended", "official", "pairs"),
        help="default settings (default: pairs when --data-dir holds only pair-classification "
        "tasks, such as MRPC, QNLI or QQP files, whose pairs share at most 0.7 of their words; "
        "recommended otherwise, as for PAWS's word swaps)",
    )
    add(
        "--model",
        action="append",
        metavar="PATH|default",
        help="start checkpoint; repeat for mutual distillation (default: default)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir",
        help="data folder: its pairs (labels dropped) form the pool, its tasks are evaluated",
    )
    source.add_argument("--pairs", help="a sentence1<TAB>sentence2 file of unlabelled pairs")
    source.add_argument(
        "--corpus",
        help="unpaired sentences (one per line, or a .jsonl/.csv/.tsv with --column): the pool "
        "is mined from them first, as transencoder mine does (<output-dir>/pool)",
    )
    add("--column", help="--corpus: the column that holds the sentences")
    add(
        "--remine",
        action="store_true",
        default=None,
        help="train on pairs mined from the sentences of --data-dir / --pairs instead of their own "
        "pairs (helped on STS16's sentences, not on STS13's: see the README's 'When it helps')",
    )
    add("--eval-data-dir", help="where to evaluate each cycle (default: --data-dir)")
    add("--eval-tasks", help="comma-separated tasks to evaluate each cycle (default: all found)")
    add("--pool-tasks", help="comma-separated tasks whose pairs form the pool (default: all found)")
    add(
        "--cycles",
        type=int,
        help="cycles; a larger number extends a finished run (default: 3; pairs recipe: 5)",
    )
    add("--output-dir", help="the run directory (default: runs/trans-encoder)")
    add("--overwrite", action="store_true", help="delete what --output-dir holds and start over")
    add("--max-pairs", type=int, help="use a seeded random subset of this many pairs (quick runs)")
    add(
        "--augment-to",
        type=int,
        metavar="N",
        help="grow the pool to N pairs with pairs of its own sentences (nearest neighbours by "
        "the labelling bi-encoder, plus random pairs) before cycle 1 (default: 0, off)",
    )
    add("--seed", type=int, help="every random draw of the run comes from it (default: 2021)")
    add("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    add_precision(parser, default=None)  # None: the config's run.precision (auto)
    add(
        "--label-views",
        metavar="VIEW,...",
        help="views a bi-encoder labels the cross-encoder's pairs with: pooled, first_last, token_f1",
    )
    add(
        "--dev-data",
        metavar="PATH",
        help="a small labelled sample of your domain (any evaluation format): the best candidate "
        "on it, the start model included, is the run's result (<output-dir>/selected); it also "
        "picks the view the cross-encoder's labels use (teachers.dev_views)",
    )
    add(
        "--select-on-dev",
        action="store_true",
        default=None,
        help="the same with STS-B's dev split of --data-dir as the dev sample (gold dev labels)",
    )
    add(
        "--average-bi",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average the cycles' bi-encoders into <output-dir>/average/bi (default: on in recommended)",
    )
    for section, step in STEPS.items():
        for field, kind in STEP_FLAGS.items():
            add(
                f"--{section}-{field.replace('_', '-')}",
                type=kind,
                metavar=field.split("_")[-1].upper(),
                help=f"{field} of {step}: --set {section}.{field}=VALUE by another name "
                "(default: the recipe's)",
            )
    add(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="any setting, e.g. --set bi.lr=4e-5 --set teachers.bi_from_start=0.25 (repeatable)",
    )
    add(
        "--strategy",
        choices=("none", *STRATEGIES),
        help="distributed strategy, for a run launched with accelerate launch (default: none): "
        "--set distributed.name=... by another name",
    )
    add("--group-size", type=int, help="distributed: ranks per partition / GTC group")
    add(
        "--gtc-threshold",
        type=float,
        metavar="TAU",
        help="gtc, gtc-bmuf: GTC's tau, in gradient units (default 1e-3)",
    )
    add(
        "--threshold",
        type=float,
        dest="gtc_threshold",
        action=DeprecatedAlias,
        const="--gtc-threshold",
        metavar="TAU",
        help="deprecated name of --gtc-threshold",
    )
    add("--block-steps", type=int, help="bmuf, gtc-bmuf: BMUF's K, steps per block (default 50)")
    add(
        "--block-momentum",
        type=float,
        help="bmuf, gtc-bmuf: BMUF's eta in [0, 1) (default 1 - 1/groups; 0 = plain averaging)",
    )
    add(
        "--report-to",
        metavar="TRACKER,...",
        help="log losses and evaluations to tensorboard, trackio, wandb or mlflow (logs in <output-dir>/logs)",
    )
    add("--no-progress", action="store_true", help="hide every progress bar")


def config_from_args(args: argparse.Namespace, notes: list[str] | None = None):
    """The run's config: recipe, then ``--config``, then the flags, then ``--set``; an invalid
    value given by a flag is named by that flag. ``notes`` gets the line that says why an
    unnamed recipe was chosen for a folder of pair tasks."""
    from ..training.config import ConfigError

    try:
        return _config(args, [] if notes is None else notes)
    except ConfigError as err:
        for flag, key in FLAG_KEYS.items():
            given = getattr(args, flag[2:].replace("-", "_"))
            text = str(err)
            if given is not None and text.startswith(f"{key} ") and text.endswith(repr(given)):
                raise ConfigError(f"{flag} {given}: {err}") from None
        raise


def _config(args: argparse.Namespace, notes: list[str]):
    from ..training import build_config, load_yaml
    from ..training.teachers import SHARED_WORDS_MAX

    values = load_yaml(args.config) if args.config else {}
    if any(v is not None for v in (args.data_dir, args.pairs, args.corpus)):
        # a flag replaces the file's source
        cleared = {"data_dir": None, "pairs": None, "corpus": None, "corpus_column": None}
        values = {**values, "data": {**values.get("data", {}), **cleared}}
    overrides = {
        "recipe": args.recipe,
        "models": args.model,
        "cycles": args.cycles,
        "selection": {"dev_data": args.dev_data, "stsb_dev": args.select_on_dev},
        "average_bi": args.average_bi,
        "data": {
            "data_dir": args.data_dir,
            "pairs": args.pairs,
            "corpus": args.corpus,
            "corpus_column": args.column,
            "remine": args.remine,
            "eval_data_dir": args.eval_data_dir,
            "eval_tasks": split_list(args.eval_tasks),
            "pool_tasks": split_list(args.pool_tasks),
            "max_pairs": args.max_pairs,
            "augment_to": args.augment_to,
        },
        "teachers": {"label_views": split_list(args.label_views)},
        **{
            section: {field: getattr(args, f"{section}_{field}") for field in STEP_FLAGS}
            for section in STEPS
        },
        "run": {
            "output_dir": args.output_dir,
            "seed": args.seed,
            "device": args.device,
            "precision": args.precision,
            "show_progress_bar": False if args.no_progress else None,
            "report_to": split_list(args.report_to),
        },
        "distributed": {
            "name": args.strategy,
            "group_size": args.group_size,
            "threshold": args.gtc_threshold,
            "block_steps": args.block_steps,
            "block_momentum": args.block_momentum,
        },
    }
    config = build_config(values, overrides=overrides, sets=args.set)  # checked before any I/O
    named = args.recipe or "recipe" in values or any(s.startswith("recipe=") for s in args.set)
    words = None if named else pair_pool_words(config.data)
    if words is not None and words <= SHARED_WORDS_MAX:
        config = build_config(values, overrides={**overrides, "recipe": "pairs"}, sets=args.set)
        notes.append(
            "recipe: pairs (the pool holds only pair-classification tasks: the cross-encoder "
            f"learns the bi-encoder's token_f1 view, {config.cycles} cycles; --recipe "
            "recommended for the STS recipe)"
        )
    elif words is not None:
        notes.append(
            f"recipe: recommended (pair-classification tasks whose pairs share {words:.2f} of "
            f"their words, above {SHARED_WORDS_MAX}: token_f1, the pairs recipe's labels, "
            "would score their re-orderings alike; if the cosines crowd, the labels are the "
            "words' order, teachers.swapped_views; --recipe pairs to use it)"
        )
    return config


def pair_pool_words(data) -> float | None:
    """The share of their words the pairs of a run's pool have in common
    (:func:`.teachers.shared_words`) when the pool is a data folder's pair-classification tasks
    (MRPC, QNLI, QQP, PAWS, labelled pair files) and nothing else, not re-mined; else None. At
    most ``SHARED_WORDS_MAX`` such a run defaults to the pairs recipe; above it (word swaps) it
    keeps the recommended one."""
    from ..eval.data import DataFormatError
    from ..training.pairs import pool_family, pool_from_data_dir
    from ..training.teachers import shared_words

    if not data.data_dir or data.remine:
        return None
    try:
        if pool_family(data.data_dir, data.pool_tasks) != "pair":
            return None
        return shared_words(pool_from_data_dir(data.data_dir, data.pool_tasks).pairs)
    except DataFormatError:  # the run itself reports a folder it cannot read
        return None


def run(args: argparse.Namespace) -> int:
    from ..eval import read_once
    from ..training import run_trans_encoder
    from ..training.runtime import make_runtime

    with read_once():  # the recipe's choice and the run read the data folder once
        notes: list[str] = []
        config = config_from_args(args, notes)
        runtime = make_runtime(config.distributed, device=config.run.device)
        if runtime.is_main:
            for line in notes:
                print(line)
        report = run_trans_encoder(config, runtime=runtime, overwrite=args.overwrite)
    if runtime.is_main:
        print(f"\nreport: {os.path.join(config.run.output_dir, 'report.md')}")
        for line in result_lines(report["evaluation"]):
            print(line)
    return 0


def result_lines(evaluation: dict) -> list[str]:
    """The run's results, one line per model: the last cycle's and, when made, the average and
    the selected models."""
    from ..eval import headline_metric, primary_average

    cycles = [label for label in evaluation if label.startswith("cycle ")]
    shown = cycles[-1:] + [label for label in evaluation if label in ("average", "selected")]
    lines = []
    for label in shown:
        for tag, scores in evaluation[label].items():
            metric = "Spearman" if headline_metric(scores) == "spearman" else "primary metric"
            lines.append(f"{label} {tag}: average {metric} {primary_average(scores):.2f}")
    return lines
