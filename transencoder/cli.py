"""Command line: ``transencoder <command>`` (also ``python -m transencoder``).

Each command lives in :mod:`transencoder.commands` as a module with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Every mistake a user can make ends in one
``error:`` line and exit status 1 (data, model, run directory) or 2 (usage); see
:mod:`transencoder.errors`. Building the parser imports no torch (``--help`` is instant): the
commands import their models and data code inside ``run``.
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


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless it has none (None, a flag that is off)
    or the help already says it in words (a default that depends on the recipe or the data)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        unset = action.default is None or action.default is False or action.default == []
        if unset or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def version() -> str:
    """``transencoder X.Y.Z``, from the installed package's metadata (else the source's)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        number = installed("transencoder")
    except PackageNotFoundError:
        from . import __version__ as number
    return f"transencoder {number}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transencoder",
        description="Unsupervised sentence-pair modelling (Trans-Encoder), evaluation and tools.",
    )
    parser.add_argument("--version", action="version", version=version())
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = _command(name)
        module.add_arguments(
            commands.add_parser(
                module.NAME,
                help=module.HELP,
                description=module.HELP,
                formatter_class=DefaultsHelpFormatter,
            )
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
