"""``transencoder score``: score a file of sentence pairs with a bi- or cross-encoder (or an
ensemble), streaming ``--chunk-size`` pairs at a time into a ``s1<TAB>s2<TAB>score`` file.

An ensemble's score is the mean of its members' scores (cosines for bi-encoders, sigmoid
scores for cross-encoders), as in Trans-Encoder's mutual distillation.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from ._common import add_precision
from ._models import add_model_arguments, load_models, resolve_kind

NAME = "score"
HELP = "score sentence pairs (TSV) with bi-encoders (cosine) or cross-encoders"
HEADER = ("sentence1", "sentence2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(
        parser, model_help="model directory or 'default'; repeat for an ensemble (scores averaged)"
    )
    parser.add_argument(
        "--pairs",
        required=True,
        help="sentence1<TAB>sentence2 file (more columns are ignored; an optional header row "
        "starting sentence1<TAB>sentence2 is skipped)",
    )
    parser.add_argument("--output", required=True, help="TSV to write: sentence1, sentence2, score")
    parser.add_argument(
        "--both-orders", action="store_true", help="cross: average the (a, b) and (b, a) scores"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per forward pass")
    parser.add_argument("--chunk-size", type=int, default=8192, help="pairs scored at a time")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_precision(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def iter_pairs(path: str) -> Iterator[tuple[str, str]]:
    """The pairs of a TSV file, checked line by line (UTF-8, two or more columns, no empty side)."""
    from pathlib import Path

    from ..eval.data import DataFormatError, require_file
    from ..eval.readers import parse_sentence
    from ..mining.corpus import decoded_lines

    require_file(path, "--pairs", "a sentence1<TAB>sentence2 file")
    for number, text in decoded_lines(Path(path)):
        text = text.rstrip("\n").rstrip("\r")
        if not text.strip():
            continue
        fields = text.split("\t")
        if number == 1 and tuple(f.strip().lower() for f in fields[:2]) == HEADER:
            continue
        if len(fields) < 2:
            raise DataFormatError(
                path, number, f"{len(fields)} tab-separated column", "sentence1<TAB>sentence2"
            )
        yield parse_sentence(fields[0], path, number, 1), parse_sentence(fields[1], path, number, 2)


def scorer(args: argparse.Namespace):
    """A function ``pairs -> scores`` (the ensemble mean); ``args.kind`` is ``bi`` or ``cross``."""
    import numpy as np

    models = load_models(args)

    def score(pairs):
        if args.kind == "bi":
            return np.mean(
                [
                    m.pair_similarity(pairs, batch_size=args.batch_size, show_progress_bar=False)
                    for m in models
                ],
                axis=0,
            )
        return np.mean(
            [
                m.predict(
                    pairs,
                    batch_size=args.batch_size,
                    both_orders=args.both_orders,
                    show_progress_bar=False,
                )
                for m in models
            ],
            axis=0,
        )

    return score


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..errors import UsageError
    from ..eval.data import DataFormatError
    from ..files import atomic_file
    from ..models.quiet import transformers_output
    from ..progress import progress_default

    for flag in ("batch_size", "chunk_size"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    args.kind = resolve_kind(args.kind, args.model)
    if args.both_orders and args.kind == "bi":
        raise UsageError("--both-orders applies to --kind cross (a cosine is symmetric)")
    total = sum(1 for _ in iter_pairs(args.pairs))  # checks every line before a model loads
    if total == 0:
        raise DataFormatError(args.pairs, None, "no pairs", "sentence1<TAB>sentence2 lines")
    show = progress_default(False if args.no_progress else None)
    with transformers_output(progress=show, reports=True):  # its loading bars follow ours
        score = scorer(args)
    bar = tqdm(total=total, desc="score", unit="pair", disable=not show)
    with atomic_file(args.output, "w") as out:
        chunk: list[tuple[str, str]] = []
        for pair in iter_pairs(args.pairs):
            chunk.append(pair)
            if len(chunk) == args.chunk_size:
                _write(out, chunk, score(chunk))
                bar.update(len(chunk))
                chunk = []
        if chunk:
            _write(out, chunk, score(chunk))
            bar.update(len(chunk))
    bar.close()
    print(f"wrote {total} scored pairs to {args.output}")
    return 0


def _write(out, pairs, scores) -> None:
    out.writelines(f"{a}\t{b}\t{float(s):.8f}\n" for (a, b), s in zip(pairs, scores))
