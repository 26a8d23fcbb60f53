"""Command line: ``transencoder <command>`` (also ``python -m transencoder``).

Each command lives in :mod:`transencoder.commands` as a module with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Every mistake a user can make ends in one
``error:`` line and exit status 1 (data, model, run directory) or 2 (usage); see
:mod:`transencoder.errors`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from .errors import TransencoderError

COMMANDS = ("eval", "train", "report", "mine", "encode", "score")


def _command(name: str):
    return import_module(f".commands.{name.replace('-', '_')}", __package__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transencoder",
        description="Unsupervised sentence-pair modelling (Trans-Encoder), evaluation and tools.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = _command(name)
        module.add_arguments(
            commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _command(args.command).run(args)
    except TransencoderError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
