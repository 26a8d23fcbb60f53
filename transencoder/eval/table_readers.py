"""STS readers for one table of pairs: a plain ``sentence1<TAB>sentence2<TAB>score`` file and a
``datasets`` object, with the strictness of :mod:`.readers`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .data import DataFormatError, StsSubset, StsTask
from .readers import STS_RANGE, parse_score, parse_sentence, read_lines, split_columns

_TSV_HEADER = ("sentence1", "sentence2", "score")


def read_tsv(
    path: str | Path, name: str | None = None, score_range: tuple[float, float] = STS_RANGE
) -> StsTask:
    """A plain ``sentence1<TAB>sentence2<TAB>score`` file (optional header with those names)."""
    path = Path(path)
    lines = read_lines(path)
    start = 1
    if lines and tuple(c.strip().lower() for c in lines[0].split("\t")) == _TSV_HEADER:
        start = 2
    firsts, seconds, scores = [], [], []
    for number, line in enumerate(lines[start - 1 :], start=start):
        fields = split_columns(line, str(path), number, (3,), "sentence1, sentence2, score")
        firsts.append(parse_sentence(fields[0], str(path), number, 1))
        seconds.append(parse_sentence(fields[1], str(path), number, 2))
        scores.append(parse_score(fields[2], str(path), number, score_range))
    if not scores:
        raise DataFormatError(
            str(path), None, "no pairs", "sentence1<TAB>sentence2<TAB>score lines"
        )
    subset = StsSubset(path.stem, tuple(firsts), tuple(seconds), np.asarray(scores), str(path))
    return StsTask(name=name or path.stem, subsets=[subset], layout="tsv", source=str(path))


def read_hf_dataset(
    dataset,
    name: str = "dataset",
    *,
    split: str = "test",
    columns: tuple[str, str, str] = _TSV_HEADER,
    score_range: tuple[float, float] = STS_RANGE,
) -> StsTask:
    """A Hugging Face ``datasets.Dataset`` (or the ``split`` of a ``DatasetDict``) with
    sentence1 / sentence2 / score columns. Row numbers in errors count from 1."""
    if isinstance(dataset, dict):  # a DatasetDict: take one split
        if split not in dataset:
            raise DataFormatError(
                name, None, f"no split {split!r} (has {list(dataset)})", "a split to read"
            )
        dataset = dataset[split]
    missing = [column for column in columns if column not in dataset.column_names]
    if missing:
        raise DataFormatError(
            name,
            None,
            f"columns {missing} are missing (has {dataset.column_names})",
            f"columns {list(columns)}",
        )
    where = f"{name} (datasets object)"
    firsts, seconds, scores = [], [], []
    for row, a, b, score in dataset_rows(dataset, columns, where):
        firsts.append(parse_sentence(a, where, row, 1))
        seconds.append(parse_sentence(b, where, row, 2))
        scores.append(parse_score("" if score is None else str(score), where, row, score_range))
    subset = StsSubset(split, tuple(firsts), tuple(seconds), np.asarray(scores), where)
    return StsTask(name=name, subsets=[subset], layout="hf", source=where)


def dataset_rows(dataset, columns: tuple[str, str, str], where: str) -> Iterator[tuple]:
    """``(row, sentence1, sentence2, value)`` for each row of a ``datasets`` object's three
    ``columns``, rows numbered from 1; a sentence that is not a string is an error naming its
    row and column."""
    for row, (a, b, value) in enumerate(zip(*(dataset[column] for column in columns)), start=1):
        for column, text in ((1, a), (2, b)):
            if not isinstance(text, str):
                raise DataFormatError(
                    where, row, f"column {column} holds {type(text).__name__}", "a string"
                )
        yield row, a, b, value
