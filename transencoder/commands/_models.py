"""Which kind of model each ``--model`` is, and loading it so: shared by ``eval`` and ``score``.

``--kind auto`` (the default) reads the folders: a saved cross-encoder (sentence-transformers'
``CrossEncoder`` metadata or a ``*ForSequenceClassification`` config) is loaded as one, anything
else as a bi-encoder, and the command says which it chose. A cross-encoder whose classification
head is new (random) is refused, the same way everywhere, unless ``--allow-new-head``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

KINDS = ("auto", "bi", "cross")


def add_model_arguments(parser: argparse.ArgumentParser, *, model_help: str) -> None:
    """``--model`` (repeatable), ``--kind`` and ``--allow-new-head``."""
    parser.add_argument(
        "--model", action="append", required=True, metavar="PATH|default", help=model_help
    )
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="auto",
        help="bi-encoder (cosine) or cross-encoder (score); auto: as the model folder declares "
        "(a saved cross-encoder, else a bi-encoder), and says which",
    )
    parser.add_argument(
        "--allow-new-head",
        action="store_true",
        help="cross-encoders: use even a model without a trained classification head "
        "(its head is then random: scores change from run to run)",
    )


def _declared(name: str) -> tuple[str, str] | None:
    from ..models.loading import resolve_model_path
    from ..models.st_format import declared_kind

    path = Path(resolve_model_path(name))
    return declared_kind(path) if path.is_dir() else None


def resolve_kind(kind: str, names: list[str]) -> str:
    """``bi`` or ``cross``: the ``--kind`` given, checked against what the folders declare, or
    (``auto``) what they declare, with a printed note.

    Raises:
        ModelLoadError: ``--kind bi`` names a cross-encoder, or an ``auto`` ensemble mixes kinds.
    """
    from ..models import ModelLoadError

    declared = {name: _declared(name) for name in names}
    if kind == "cross":  # a bi-encoder has no trained head: refused when it is loaded
        return kind
    crosses = {name: why for name, (k, why) in _known(declared).items() if k == "cross"}
    if kind == "bi":
        if crosses:
            name, why = next(iter(crosses.items()))
            raise ModelLoadError(
                f"--model {name} is a cross-encoder ({why}), but --kind bi loads a bi-encoder "
                "and would drop its classification head: use --kind cross or --kind auto"
            )
        return kind
    if crosses and len(crosses) < len(names):
        bis = [name for name in names if name not in crosses]
        raise ModelLoadError(
            f"--model {next(iter(crosses))} is a cross-encoder but --model {bis[0]} is not: an "
            "ensemble's members are of one kind (give --kind to load them all as one kind)"
        )
    chosen = "cross" if crosses else "bi"
    name = names[0]
    why = (declared[name] or (None, "no cross-encoder head declared: read as a bi-encoder"))[1]
    print(f"kind: {chosen}-encoder (--kind auto: {name}: {why}; give --kind to choose)")
    return chosen


def _known(declared: dict) -> dict[str, tuple[str, str]]:
    return {name: found for name, found in declared.items() if found is not None}


def check_trained_heads(names: list[str], models: list, *, allow_new_head: bool) -> None:
    """Refuse a cross-encoder whose head was initialised at load (naming it and what to do);
    with ``allow_new_head``, say so in one line instead (and the model warns no more)."""
    from ..models import ModelLoadError
    from ..models.cross_encoder import untrained_head_problem

    for name, model in zip(names, models):
        if not model.new_head:
            continue
        if not allow_new_head:
            raise ModelLoadError(
                f"{untrained_head_problem(name)}. Use a trained cross-encoder (a run's "
                "cycle-N/cross folder), --kind bi for a sentence encoder, or pass "
                "--allow-new-head to use the random head anyway"
            )
        print(
            f"warning: {name}: new classification head initialised (random, untrained)",
            file=sys.stderr,
        )
        model.new_head_warned = True


def load_models(args: argparse.Namespace) -> list:
    """The ``--model`` models as ``args.kind`` (``bi`` or ``cross``, already resolved)."""
    from ..models import BiEncoder, CrossEncoder

    options = {"device": args.device, "precision": args.precision}
    if args.kind == "bi":
        return [BiEncoder.from_pretrained(path, **options) for path in args.model]
    models = [CrossEncoder.from_pretrained(path, **options) for path in args.model]
    check_trained_heads(args.model, models, allow_new_head=args.allow_new_head)
    return models
