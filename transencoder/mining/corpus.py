"""Sentences from a user's files: plain text, a ``.jsonl`` / ``.csv`` / ``.tsv`` column, or a
``datasets`` object, read lazily and strictly.

* a text file (any other suffix): one sentence per line;
* ``.jsonl``: one JSON object per line, the sentence under the key ``column``;
* ``.csv`` (RFC 4180 quoting) and ``.tsv`` (tab separated, no quoting, as GLUE ships it): a
  header row naming the columns, the sentence in ``column``.

Files must be UTF-8 (a BOM is allowed); a byte that is not raises
:class:`~transencoder.eval.data.DataFormatError` with the line and column. Sentences are
whitespace-collapsed (``" ".join(text.split())``), as the STS readers do, so a sentence never
holds a tab or a line break and always fits one field of a TSV file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..eval.data import DataFormatError, require_file
from ..eval.readers import normalize_sentence

COLUMN_SUFFIXES = (".jsonl", ".csv", ".tsv")
FORMATS = ("text", "jsonl", "csv", "tsv")


def decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text with its line break)`` of a UTF-8 file, one line at a time."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(
                    str(path),
                    number,
                    f"byte 0x{raw[err.start]:02x} at column {err.start + 1} is not valid UTF-8",
                    "UTF-8 text (re-encode the file, e.g. iconv -f latin1 -t utf-8)",
                ) from None


def _strip_break(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def _pick(header: list[str], column: str, path: Path) -> int:
    names = [name.strip() for name in header]
    if column not in names:
        raise DataFormatError(
            str(path),
            1,
            f"no column {column!r} in the header (columns: {names})",
            "--column to name one of the header's columns",
        )
    return names.index(column)


def iter_sentences(
    path: str | Path, column: str | None = None, *, format: str | None = None
) -> Iterator[tuple[int, str]]:
    """``(line number, whitespace-collapsed sentence)`` for each row of a corpus file.

    Blank rows give ``""``; callers decide (mining skips them, ``encode`` refuses them).

    Args:
        format: ``text``, ``jsonl``, ``csv`` or ``tsv``; default: from the suffix
            (``.jsonl`` / ``.csv`` / ``.tsv``, anything else is text).

    Raises:
        UsageError: ``column`` given for a text file, or missing for a column format.
        DataFormatError: the file is missing, not UTF-8, ragged, or lacks the column.
    """
    path = require_file(
        path, "--input", "a corpus file: one sentence per line, or a .jsonl/.csv/.tsv"
    )
    if format is not None and format not in FORMATS:
        raise UsageError(f"format must be one of {FORMATS}, got {format!r}")
    suffix = "." + format if format else path.suffix.lower()
    if suffix not in COLUMN_SUFFIXES:
        if column is not None:
            raise UsageError(
                f"--column {column!r} applies to {', '.join(COLUMN_SUFFIXES)} files; "
                f"{path} is read as plain text, one sentence per line"
            )
        for number, line in decoded_lines(path):
            yield number, normalize_sentence(line)
        return
    if column is None:
        raise UsageError(f"{path}: name the column that holds the sentences with --column")
    if suffix == ".jsonl":
        yield from _jsonl(path, column)
    elif suffix == ".csv":
        yield from _csv(path, column)
    else:
        yield from _tsv(path, column)


def _jsonl(path: Path, column: str) -> Iterator[tuple[int, str]]:
    for number, line in decoded_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(
                str(path), number, f"not JSON ({err.msg})", "one JSON object per line"
            ) from None
        if not isinstance(row, dict) or column not in row:
            keys = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise DataFormatError(
                str(path), number, f"no key {column!r} (has {keys})", f"an object with {column!r}"
            )
        value = row[column]
        if not isinstance(value, str):
            raise DataFormatError(
                str(path), number, f"{column!r} holds {type(value).__name__}", "a string"
            )
        yield number, normalize_sentence(value)


def _csv(path: Path, column: str) -> Iterator[tuple[int, str]]:
    lines = (text for _, text in decoded_lines(path))
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise DataFormatError(str(path), 1, "the file is empty", "a header row naming the columns")
    position = _pick(header, column, path)
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise DataFormatError(
                str(path),
                reader.line_num,
                f"{len(row)} comma-separated fields",
                f"{len(header)}, as in the header",
            )
        yield reader.line_num, normalize_sentence(row[position])


def _tsv(path: Path, column: str) -> Iterator[tuple[int, str]]:
    lines = decoded_lines(path)
    first = next(lines, None)
    if first is None:
        raise DataFormatError(str(path), 1, "the file is empty", "a header row naming the columns")
    header = _strip_break(first[1]).rstrip("\r").split("\t")
    position = _pick(header, column, path)
    for number, text in lines:
        text = _strip_break(text).rstrip("\r")
        if not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != len(header):
            raise DataFormatError(
                str(path),
                number,
                f"{len(fields)} tab-separated fields",
                f"{len(header)}, as in the header (tabs inside a sentence are not allowed)",
            )
        yield number, normalize_sentence(fields[position])


def sentences_from_dataset(
    dataset, column: str, name: str = "dataset"
) -> Iterator[tuple[int, str]]:
    """``(row number, sentence)`` from a ``datasets.Dataset`` (every split of a ``DatasetDict``)."""
    parts = [dataset[split] for split in dataset] if isinstance(dataset, dict) else [dataset]
    row = 0
    for part in parts:
        if column not in part.column_names:
            raise DataFormatError(
                name, None, f"no column {column!r} (has {part.column_names})", "--column"
            )
        for value in part[column]:
            row += 1
            if not isinstance(value, str):
                raise DataFormatError(
                    name, row, f"{column!r} holds {type(value).__name__}", "a string"
                )
            yield row, normalize_sentence(value)


def near_identity(sentence: str) -> str:
    """The text two sentences share when they differ only in case or whitespace."""
    return "".join(sentence.casefold().split())


@dataclass
class Corpus:
    """Distinct sentences (first-seen order) and what was dropped on the way."""

    sentences: list[str]
    rows: int = 0
    blank: int = 0
    duplicates: int = 0
    dedupe: str = "exact"
    source: str = ""

    def __len__(self) -> int:
        return len(self.sentences)

    def describe(self) -> dict[str, int | str]:
        return {
            "source": self.source,
            "rows": self.rows,
            "blank_rows_skipped": self.blank,
            f"duplicates_dropped_{self.dedupe}": self.duplicates,
            "distinct_sentences": len(self.sentences),
        }


def build_corpus(
    rows: Iterable[tuple[int, str]] | Iterable[str], *, dedupe: str = "exact", source: str = ""
) -> Corpus:
    """De-duplicate sentences: ``exact`` (after whitespace collapsing) or ``normalized`` (also
    case-folded and with whitespace ignored; the first spelling seen is kept)."""
    if dedupe not in ("exact", "normalized"):
        raise UsageError(f"dedupe must be 'exact' or 'normalized', got {dedupe!r}")
    corpus = Corpus([], dedupe=dedupe, source=source)
    seen: set[str] = set()
    for row in rows:
        text = normalize_sentence(row[1] if isinstance(row, tuple) else row)
        corpus.rows += 1
        if not text:
            corpus.blank += 1
            continue
        key = near_identity(text) if dedupe == "normalized" else text
        if key in seen:
            corpus.duplicates += 1
            continue
        seen.add(key)
        corpus.sentences.append(text)
    return corpus


def read_corpus(
    path: str | Path, column: str | None = None, *, dedupe: str = "exact", format: str | None = None
) -> Corpus:
    """The distinct sentences of a corpus file (see :func:`iter_sentences`)."""
    rows = iter_sentences(path, column, format=format)
    return build_corpus(rows, dedupe=dedupe, source=str(path))
