"""``transencoder report --output-dir RUN_DIR`` (or ``report RUN_DIR``): rebuild a run's report
from its folder alone."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = "rebuild report.json, report.md and evaluation.png of a finished or interrupted run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="the run's --output-dir")
    parser.add_argument(
        "--output-dir", help="the run directory, named as train names it (instead of RUN_DIR)"
    )


def run_directory(args: argparse.Namespace) -> str:
    """The run directory, given as ``--output-dir`` or as the positional ``RUN_DIR``."""
    from ..errors import UsageError

    if args.run_dir and args.output_dir and Path(args.run_dir) != Path(args.output_dir):
        raise UsageError(
            f"two run directories given ({args.run_dir} and --output-dir {args.output_dir}); "
            "give one"
        )
    given = args.output_dir or args.run_dir
    if not given:
        raise UsageError("give the run directory: transencoder report --output-dir RUN_DIR")
    return given


def run(args: argparse.Namespace) -> int:
    from ..training.report import rebuild_report
    from .train import result_lines

    root = Path(run_directory(args))
    report = rebuild_report(str(root))
    print(
        f"wrote {root / 'report.json'}, {root / 'report.md'}"
        + (f", {root / 'evaluation.png'}" if (root / "evaluation.png").is_file() else "")
    )
    for line in result_lines(report["evaluation"]):
        print(line)
    return 0
