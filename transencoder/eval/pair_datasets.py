"""Read a ``datasets`` object (``Dataset`` or ``DatasetDict``) of labelled sentence pairs.

Columns are found by name (GLUE's MRPC / PAWS ``sentence1, sentence2, label``, QQP's
``question1, question2``, QNLI's ``question, sentence``); a ``ClassLabel`` label is mapped by its
class *names*, since GLUE's QNLI numbers ``entailment`` 0: taking the integer would invert it.
"""

from __future__ import annotations

import numpy as np

from .data import DataFormatError, PairTask
from .pair_readers import BINARY_LABELS, CLASS_NAMES, pair_sentence
from .table_readers import dataset_rows

#: Column triples of pair datasets on the hub (GLUE MRPC/PAWS, QQP, QNLI), tried in this order.
DATASET_COLUMNS = (
    ("sentence1", "sentence2", "label"),
    ("question1", "question2", "label"),
    ("question1", "question2", "is_duplicate"),
    ("question", "sentence", "label"),
)
_SPLIT_PREFERENCE = ("test", "validation", "dev", "train")


def read_pair_dataset(
    dataset,
    name: str = "dataset",
    *,
    split: str | None = None,
    columns: tuple[str, str, str] | None = None,
) -> PairTask:
    """A ``datasets.Dataset`` (or one split of a ``DatasetDict``) of labelled pairs.

    Args:
        dataset: a ``Dataset`` or ``DatasetDict``.
        name: the task name.
        split: the split of a ``DatasetDict``; by default the first of test, validation, dev,
            train whose labels are all given (GLUE's test splits carry ``-1``).
        columns: sentence1, sentence2 and label columns; by default the first of
            :data:`DATASET_COLUMNS` present. A ``ClassLabel`` label is mapped by its class names
            (GLUE's QNLI has ``0 = entailment``), any other label must be 0 or 1.
    """
    where = f"{name} (datasets object)"
    if isinstance(dataset, dict):  # a DatasetDict
        dataset, split = _choose_split(dataset, split, where, columns)
    columns = columns or next(
        (triple for triple in DATASET_COLUMNS if set(triple) <= set(dataset.column_names)), None
    )
    missing = [c for c in columns or DATASET_COLUMNS[0] if c not in dataset.column_names]
    if columns is None or missing:
        raise DataFormatError(
            where,
            None,
            f"columns {missing} are missing (has {dataset.column_names})",
            "columns sentence1, sentence2, label (or pass columns=)",
        )
    names = getattr(dataset.features[columns[2]], "names", None)
    firsts, seconds, labels = [], [], []
    for row, a, b, label in dataset_rows(dataset, columns, where):
        firsts.append(pair_sentence(a, where, row, 1))
        seconds.append(pair_sentence(b, where, row, 2))
        labels.append(_dataset_label(label, names, where, row))
    if not labels:
        raise DataFormatError(where, None, "no rows", "labelled pairs")
    return PairTask(
        name=name,
        sentences1=tuple(firsts),
        sentences2=tuple(seconds),
        labels=np.asarray(labels, dtype=np.int64),
        layout="hf",
        source=where,
        split=split,
    )


def _choose_split(dataset: dict, split: str | None, where: str, columns) -> tuple[object, str]:
    if split is not None:
        if split not in dataset:
            raise DataFormatError(
                where, None, f"no split {split!r} (has {list(dataset)})", "a split to read"
            )
        return dataset[split], split
    for candidate in _SPLIT_PREFERENCE:
        if candidate in dataset:
            part = dataset[candidate]
            label = (
                columns
                or ("", "", "is_duplicate" if "is_duplicate" in part.column_names else "label")
            )[2]
            if label in part.column_names and len(part) and min(part[label]) >= 0:
                return part, candidate
    raise DataFormatError(
        where,
        None,
        f"no split with labels (has {list(dataset)}; -1 marks a withheld label)",
        "a labelled split (or pass split=)",
    )


def _dataset_label(value, names: list[str] | None, where: str, row: int) -> int:
    expected = "a label 0 or 1, or a class name such as entailment / not_entailment"
    if names is not None and isinstance(value, (int, np.integer)) and 0 <= value < len(names):
        value = names[value]
    if isinstance(value, str):
        mapped = {**BINARY_LABELS, **CLASS_NAMES}.get(value.strip().lower())
        if mapped is None:
            raise DataFormatError(where, row, f"label {value!r} is not a known class", expected)
        return mapped
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return int(value)
    raise DataFormatError(where, row, f"label {value!r} is not 0 or 1", expected)


def is_pair_dataset(dataset) -> bool:
    """A ``datasets`` object (or ``DatasetDict``) with pair columns and a label, no STS score."""
    part = next(iter(dataset.values())) if isinstance(dataset, dict) else dataset
    columns = set(part.column_names)
    return "score" not in columns and any(set(triple) <= columns for triple in DATASET_COLUMNS)


def is_saved_pair_dataset(directory) -> bool:
    """A saved ``datasets`` folder of labelled pairs: a pair task, not an STS one."""
    from datasets import load_from_disk

    return is_pair_dataset(load_from_disk(str(directory)))
