"""``transencoder encode``: embeddings of a file of sentences, in its order, to .npy or .safetensors.

Large inputs stream: the file is read twice (a first pass counts and checks the rows, so a bad
line fails before the model loads), sentences are encoded ``--chunk-size`` at a time, and each
chunk's rows go straight to disk; memory holds one chunk, never the whole matrix.

* ``.npy``: a ``numpy.lib.format.open_memmap`` of shape ``(rows, dim)``, filled chunk by chunk.
* ``.safetensors``: the format is an 8-byte little-endian header length, a JSON header (tensor
  name, dtype ``F32``, shape, byte offsets) and the raw little-endian data. The shape is known
  after the first pass, so the header is written first and the rows are appended as they come;
  the result is one tensor, ``embeddings``, that ``safetensors.numpy.load_file`` (or torch) reads.

Both are written to a temporary sibling and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

from ._common import add_precision, precision_line

NAME = "encode"
HELP = "embed sentences with a bi-encoder into a .npy or .safetensors file (order kept)"
TENSOR = "embeddings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="default",
        metavar="PATH|default",
        help="bi-encoder folder, or 'default' (the packaged all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--input",
        required=True,
        help="a text file (one sentence per line) or a .jsonl/.csv/.tsv with --column",
    )
    parser.add_argument("--column", help="the column (.csv/.tsv header, .jsonl key) of sentences")
    parser.add_argument("--output", required=True, help="FILE.npy or FILE.safetensors")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass")
    parser.add_argument(
        "--chunk-size", type=int, default=16384, help="sentences encoded and written at a time"
    )
    parser.add_argument("--normalize", action="store_true", help="L2-normalise each embedding")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_precision(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def count_rows(path: str, column: str | None) -> int:
    """Rows of the input, each checked (a blank row has no embedding to keep the order)."""
    from ..eval.data import DataFormatError
    from ..mining import iter_sentences

    rows = 0
    for number, sentence in iter_sentences(path, column):
        if not sentence:
            raise DataFormatError(
                path,
                number,
                "the sentence is empty",
                "one sentence per row (the output keeps the input's order; remove blank rows)",
            )
        rows += 1
    if rows == 0:
        raise DataFormatError(path, None, "no sentences", "at least one sentence to encode")
    return rows


def chunks(path: str, column: str | None, size: int):
    from ..mining import iter_sentences

    batch: list[str] = []
    for _, sentence in iter_sentences(path, column):
        batch.append(sentence)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def safetensors_header(rows: int, dim: int, metadata: dict[str, str]) -> bytes:
    """The length prefix and JSON header of a one-tensor float32 safetensors file."""
    header = {
        TENSOR: {"dtype": "F32", "shape": [rows, dim], "data_offsets": [0, rows * dim * 4]},
        "__metadata__": metadata,
    }
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from ..errors import InputError, UsageError
    from ..files import atomic_path
    from ..models import BiEncoder
    from ..progress import progress_default

    suffix = Path(args.output).suffix.lower()
    if suffix not in (".npy", ".safetensors"):
        raise UsageError(f"--output {args.output}: name a .npy or .safetensors file")
    for flag in ("batch_size", "chunk_size"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    rows = count_rows(args.input, args.column)
    model = BiEncoder.from_pretrained(args.model, device=args.device, precision=args.precision)
    dim = int(model.encoder.config.hidden_size)
    show = progress_default(False if args.no_progress else None)
    bar = tqdm(total=rows, desc="encode", unit="sentence", disable=not show)
    with atomic_path(args.output) as temporary:
        if suffix == ".npy":
            out = np.lib.format.open_memmap(
                temporary, mode="w+", dtype=np.float32, shape=(rows, dim)
            )
            handle = None
        else:
            out = None
            handle = open(temporary, "wb")  # closed in the finally below
            metadata = {"model": str(args.model), "normalized": str(bool(args.normalize)).lower()}
            handle.write(safetensors_header(rows, dim, metadata))
        try:
            start = 0
            for batch in chunks(args.input, args.column, args.chunk_size):
                if start + len(batch) > rows:
                    raise InputError(f"{args.input} changed while it was being encoded; run again")
                vectors = model.encode(batch, batch_size=args.batch_size, show_progress_bar=False)
                if args.normalize:
                    vectors = torch.nn.functional.normalize(
                        torch.from_numpy(vectors), dim=1
                    ).numpy()
                if out is not None:
                    out[start : start + len(batch)] = vectors
                else:
                    handle.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
                start += len(batch)
                bar.update(len(batch))
            if start != rows:
                raise InputError(f"{args.input} changed while it was being encoded; run again")
        finally:
            if out is not None:
                out.flush()
                del out
            else:
                handle.close()
    bar.close()
    print(
        f"wrote {rows} x {dim} embeddings of {args.input} to {args.output} "
        f"(precision {precision_line(args.precision, model.device)})"
    )
    return 0
