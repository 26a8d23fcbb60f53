"""``transencoder report RUN_DIR``: rebuild a run's report from its folder alone."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = "rebuild report.json, report.md and evaluation.png of a finished or interrupted run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="the run's --output-dir")


def run(args: argparse.Namespace) -> int:
    from ..training.report import rebuild_report
    from .train import result_lines

    report = rebuild_report(args.run_dir)
    root = Path(args.run_dir)
    print(
        f"wrote {root / 'report.json'}, {root / 'report.md'}"
        + (f", {root / 'evaluation.png'}" if (root / "evaluation.png").is_file() else "")
    )
    for line in result_lines(report["evaluation"]):
        print(line)
    return 0
