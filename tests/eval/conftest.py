"""Pair-classification data for the eval tests: the shared files (../shared/data/pairs) and small
fixtures in the layouts that are not shipped (GLUE MRPC / QQP / QNLI, quora ``*_pairs.tsv``,
plain ``sentence1<TAB>sentence2<TAB>label``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO
from transencoder.testing import tiny_sentences

PAIR_DATA = Path(
    os.environ.get("TRANSENCODER_PAIR_DATA", REPO.parent / "shared" / "data" / "pairs")
)

MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
GLUE_MRPC_TEST_HEADER = "index\t#1 ID\t#2 ID\t#1 String\t#2 String"
QQP_HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
QUORA_HEADER = "qid1\tqid2\tquestion1\tquestion2\tis_duplicate"
QNLI_HEADER = "index\tquestion\tsentence\tlabel"
PAWS_HEADER = "id\tsentence1\tsentence2\tlabel"


def pair_rows(count: int, offset: int = 0) -> list[tuple[str, str, int]]:
    """``count`` pairs over the tiny vocabulary, labels alternating 1, 0, 0, 1, 0, 0 ..."""
    sentences = tiny_sentences()
    rows = []
    for i in range(count):
        first = sentences[(i + offset) % len(sentences)]
        second = sentences[(3 * i + offset + 1) % len(sentences)]
        rows.append((first, second, 1 if i % 3 == 0 else 0))
    return rows


def write_lines(path: Path, lines: list[str], newline: str = "\n", bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (newline.join(lines) + newline).encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_mrpc(path: Path, rows, bom: bool = False) -> Path:
    lines = [MRPC_HEADER] + [
        f"{label}\t{100 + i}\t{200 + i}\t{a}\t{b}" for i, (a, b, label) in enumerate(rows)
    ]
    return write_lines(path, lines, bom=bom)


def write_glue_mrpc(folder: Path, train: int = 9, dev: int = 6, test: int = 4) -> Path:
    """GLUE's MRPC folder: train.tsv / dev.tsv with labels, test.tsv without."""
    write_mrpc(folder / "train.tsv", pair_rows(train))
    write_mrpc(folder / "dev.tsv", pair_rows(dev, offset=5))
    test_lines = [GLUE_MRPC_TEST_HEADER] + [
        f"{i}\t{i}\t{i + 1}\t{a}\t{b}" for i, (a, b, _) in enumerate(pair_rows(test))
    ]
    write_lines(folder / "test.tsv", test_lines)
    return folder


def write_glue_qqp(folder: Path, dev: int = 7) -> Path:
    rows = pair_rows(dev, offset=2)
    write_lines(
        folder / "dev.tsv",
        [QQP_HEADER]
        + [f"{i}\t{2 * i}\t{2 * i + 1}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(rows)],
    )
    write_lines(
        folder / "test.tsv",
        ["id\tquestion1\tquestion2"] + [f"{i}\t{a}\t{b}" for i, (a, b, _) in enumerate(rows)],
    )
    return folder


def write_quora(folder: Path, sizes=(("train", 8), ("dev", 5), ("test", 6))) -> Path:
    """sentence-transformers' quora-IR-dataset/classification/{train,dev,test}_pairs.tsv."""
    for split, count in sizes:
        rows = pair_rows(count, offset=len(split))
        write_lines(
            folder / f"{split}_pairs.tsv",
            [QUORA_HEADER]
            + [f"{2 * i}\t{2 * i + 1}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(rows)],
        )
    return folder


def write_qnli(folder: Path, dev: int = 6) -> Path:
    rows = pair_rows(dev, offset=4)
    names = {1: "entailment", 0: "not_entailment"}
    write_lines(
        folder / "dev.tsv",
        [QNLI_HEADER] + [f"{i}\t{a}\t{b}\t{names[label]}" for i, (a, b, label) in enumerate(rows)],
    )
    return folder


def write_plain_pairs(path: Path, rows, header: bool = True) -> Path:
    lines = (["sentence1\tsentence2\tlabel"] if header else []) + [
        f"{a}\t{b}\t{label}" for a, b, label in rows
    ]
    return write_lines(path, lines)


def write_stsb(folder: Path, count: int = 10) -> Path:
    """An STS-B folder with a small sts-test.csv (genre, file, year, id, score, s1, s2)."""
    sentences = tiny_sentences()
    lines = [
        f"main-captions\tMSRvid\t2012test\t{i:04d}\t{(i * 1.3) % 5:.3f}\t{sentences[i]}\t{sentences[-1 - i]}"
        for i in range(count)
    ]
    return write_lines(folder / "sts-test.csv", lines).parent


@pytest.fixture(scope="session")
def pair_data() -> Path:
    if not (PAIR_DATA / "PROVENANCE.md").is_file():
        pytest.skip(f"shared pair data not found at {PAIR_DATA} (set TRANSENCODER_PAIR_DATA)")
    return PAIR_DATA
