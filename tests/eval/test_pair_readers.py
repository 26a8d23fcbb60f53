"""Pair-classification readers and discovery: exact counts on the shared files, every layout by
its header, the same strictness as the STS readers, and both families found in one folder."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from tests.eval.conftest import (
    PAWS_HEADER,
    pair_rows,
    write_glue_mrpc,
    write_glue_qqp,
    write_lines,
    write_mrpc,
    write_plain_pairs,
    write_qnli,
    write_quora,
    write_stsb,
)
from transencoder.eval import (
    DataFormatError,
    PairTask,
    StsTask,
    find_all_tasks,
    find_pair_tasks,
    find_tasks,
    read_pair_dataset,
    read_pair_file,
)

SHARED = {"MRPC (train)": (4076, 2753), "QNLI (dev)": (5463, 2702), "PAWS (dev)": (8000, 3539)}
SHARED_FILES = {
    "mrpc/msr_paraphrase_train.txt": "MRPC (train)",
    "qnli/dev.tsv": "QNLI (dev)",
    "paws-wiki/dev.tsv": "PAWS (dev)",
}


def _provenance(pair_data) -> dict[str, tuple[int, int]]:
    """The pairs / positives columns of PROVENANCE.md's table, by file."""
    text = (pair_data / "PROVENANCE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (\d+) \| (\d+) \|$", text, flags=re.MULTILINE)
    return {path: (int(n), int(positives)) for path, n, positives in rows}


def _reference(
    path, sentence_columns, label_column, positive
) -> tuple[list[str], list[str], list[int]]:
    """An independent reading: decode (BOM dropped), split lines, split tabs."""
    lines = path.read_bytes().decode("utf-8-sig").splitlines()[1:]
    rows = [line.split("\t") for line in lines]
    return (
        [r[sentence_columns[0]] for r in rows],
        [r[sentence_columns[1]] for r in rows],
        [int(r[label_column] == positive) for r in rows],
    )


def test_shared_counts_match_provenance(pair_data):
    provenance = _provenance(pair_data)
    assert {SHARED_FILES[path]: counts for path, counts in provenance.items()} == SHARED
    tasks = find_pair_tasks(pair_data)
    assert {t.name: (t.n, t.positives) for t in tasks} == SHARED
    assert [t.family for t in tasks] == ["MRPC", "QNLI", "PAWS"]


@pytest.mark.parametrize(
    ("path", "columns", "label", "positive"),
    [
        ("mrpc/msr_paraphrase_train.txt", (3, 4), 0, "1"),
        ("qnli/dev.tsv", (1, 2), 3, "entailment"),
        ("paws-wiki/dev.tsv", (1, 2), 3, "1"),
    ],
)
def test_shared_files_equal_an_independent_reading(pair_data, path, columns, label, positive):
    task = read_pair_file(pair_data / path)
    firsts, seconds, labels = _reference(pair_data / path, columns, label, positive)
    assert list(task.sentences1) == firsts and list(task.sentences2) == seconds
    np.testing.assert_array_equal(task.labels, labels)
    assert not any(s.endswith("\r") for s in task.sentences2)  # PAWS ships CRLF


def test_mrpc_text_is_kept_as_it_is(pair_data):
    task = read_pair_file(pair_data / "mrpc" / "msr_paraphrase_train.txt")
    raw = (pair_data / "mrpc" / "msr_paraphrase_train.txt").read_text(encoding="utf-8-sig")
    quoted = sum(s.count("<QUOTE>") for s in task.sentences1 + task.sentences2)
    assert quoted == raw.count("<QUOTE>") > 0
    assert task.layout == "mrpc" and task.split == "train"


def test_glue_mrpc_folder_evaluates_dev_and_says_test_has_no_labels(tmp_path):
    folder = write_glue_mrpc(tmp_path / "MRPC")
    (task,) = find_pair_tasks(folder)
    assert (task.name, task.n, task.positives) == ("MRPC (dev)", 6, 2)
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in task.skipped}
    assert reasons == {
        "train.tsv": "another split of MRPC (evaluating dev.tsv)",
        "test.tsv": "GLUE test split without labels",
    }
    with pytest.raises(
        DataFormatError, match="GLUE's MRPC test split: its labels are withheld"
    ) as info:
        read_pair_file(folder / "test.tsv")
    assert info.value.line == 1
    with pytest.raises(DataFormatError, match="labels are withheld"):
        find_all_tasks(folder / "test.tsv")


def test_msrp_release_folder_prefers_test(tmp_path):
    write_mrpc(tmp_path / "msr_paraphrase_train.txt", pair_rows(9), bom=True)
    write_mrpc(tmp_path / "msr_paraphrase_test.txt", pair_rows(5, offset=3), bom=True)
    (task,) = find_pair_tasks(tmp_path)
    assert (task.name, task.n, task.split) == ("MRPC (test)", 5, "test")


def test_qqp_glue_and_quora_pairs(tmp_path):
    (glue,) = find_pair_tasks(write_glue_qqp(tmp_path / "QQP"))
    rows = pair_rows(7, offset=2)
    assert (glue.name, glue.layout) == ("QQP (dev)", "qqp")
    assert glue.pairs == [(a, b) for a, b, _ in rows] and glue.labels.tolist() == [
        r[2] for r in rows
    ]
    (quora,) = find_pair_tasks(write_quora(tmp_path / "quora-IR-dataset" / "classification"))
    assert (quora.name, quora.n, quora.layout) == ("QQP (test_pairs)", 6, "quora")
    dev = read_pair_file(tmp_path / "quora-IR-dataset" / "classification" / "dev_pairs.tsv")
    assert dev.labels.tolist() == [r[2] for r in pair_rows(5, offset=3)]


def test_qnli_entailment_is_positive(tmp_path):
    (task,) = find_pair_tasks(write_qnli(tmp_path / "QNLI"))
    assert task.name == "QNLI (dev)" and task.labels.tolist() == [
        r[2] for r in pair_rows(6, offset=4)
    ]


def test_paws_without_header_needs_the_format(tmp_path):
    rows = pair_rows(4)
    path = write_lines(
        tmp_path / "dev.tsv",
        [f"{i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(rows)],
        newline="\r\n",
    )
    with pytest.raises(DataFormatError, match="not a pair-classification layout"):
        read_pair_file(path)
    task = read_pair_file(path, format="paws")
    assert (task.name, task.n, task.labels.tolist()) == ("PAWS (dev)", 4, [r[2] for r in rows])
    with_header = write_lines(
        tmp_path / "h" / "dev.tsv",
        [PAWS_HEADER] + [f"{i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(rows)],
    )
    assert read_pair_file(with_header, format="paws").n == 4


def test_plain_files_pairs_or_sts_by_header(tmp_path):
    rows = pair_rows(5)
    pairs = write_plain_pairs(tmp_path / "mine.tsv", rows)
    (task,) = find_all_tasks(pairs)
    assert isinstance(task, PairTask) and (task.name, task.n, task.family) == ("mine", 5, None)
    # A header "sentence1 sentence2 score" stays an STS file, as does a header-less 3-column file.
    sts = write_lines(
        tmp_path / "sts.tsv",
        ["sentence1\tsentence2\tscore"] + [f"{a}\t{b}\t{label}" for a, b, label in rows],
    )
    bare = write_plain_pairs(tmp_path / "bare.tsv", rows, header=False)
    for path in (sts, bare):
        (found,) = find_all_tasks(path)
        assert isinstance(found, StsTask) and found.n == 5
    # ... unless the pairs format is asked for.
    (forced,) = find_all_tasks(bare, format="pairs")
    assert isinstance(forced, PairTask) and forced.labels.tolist() == [r[2] for r in rows]


def _bad(tmp_path, body: str, name: str = "bad.tsv"):
    path = tmp_path / name
    path.write_text("sentence1\tsentence2\tlabel\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "line", "pattern"),
    [
        (
            "a b\tc d\t1\ne f\tg h\t2\n",
            3,
            r"label '2' is not a class of this layout; expected a label 0 or 1",
        ),
        ("a b\tc d\tyes\n", 2, "label 'yes'"),
        ("a b\tc d\t\n", 2, "the label is missing"),
        ("a b\tc d\t1\ne f\t0\n", 3, "2 tab-separated columns; expected 3 columns"),
        ("a b\t \t1\n", 2, "sentence in column 2 is empty"),
    ],
)
def test_bad_pair_files(tmp_path, body, line, pattern):
    path = _bad(tmp_path, body)
    with pytest.raises(DataFormatError, match=pattern) as info:
        read_pair_file(path)
    assert (info.value.path, info.value.line) == (str(path), line)


def test_bad_bytes_empty_and_header_only(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes(b"sentence1\tsentence2\tlabel\ncaf\xe9\tcoffee\t1\n")
    with pytest.raises(DataFormatError, match="byte 0xe9 at column 4 is not valid UTF-8") as info:
        read_pair_file(path)
    assert info.value.line == 2
    (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    with pytest.raises(DataFormatError, match="the file is empty"):
        read_pair_file(tmp_path / "empty.tsv", format="pairs")
    with pytest.raises(DataFormatError, match="no pairs after the header"):
        read_pair_file(_bad(tmp_path, "", name="header.tsv"))
    qnli = write_lines(
        tmp_path / "q" / "dev.tsv", ["index\tquestion\tsentence\tlabel", "0\twho\tnobody\t1"]
    )
    with pytest.raises(DataFormatError, match="expected a label entailment or not_entailment"):
        read_pair_file(qnli)


def test_datasets_objects():
    datasets = pytest.importorskip("datasets")
    plain = datasets.Dataset.from_dict(
        {"sentence1": ["a b", "c d", "e f"], "sentence2": ["a c", "c e", "f g"], "label": [1, 0, 1]}
    )
    task = read_pair_dataset(plain, name="mine")
    assert (task.name, task.n, task.labels.tolist()) == ("mine", 3, [1, 0, 1])
    assert isinstance(find_all_tasks(plain)[0], PairTask)
    # GLUE's QNLI numbers entailment 0: the class names decide, not the integers.
    features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "not_entailment"]),
        }
    )
    qnli = datasets.Dataset.from_dict(
        {"question": ["q1", "q2"], "sentence": ["s1", "s2"], "label": [0, 1]}, features=features
    )
    unlabelled = datasets.Dataset.from_dict(
        {"question": ["q3"], "sentence": ["s3"], "label": [-1]}, features=features
    )
    glue = datasets.DatasetDict({"train": qnli, "validation": qnli, "test": unlabelled})
    task = read_pair_dataset(glue, name="qnli")
    assert (task.split, task.labels.tolist()) == ("validation", [1, 0])
    bad = datasets.Dataset.from_dict(
        {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [1, 2]}
    )
    with pytest.raises(DataFormatError, match="label 2 is not 0 or 1") as info:
        read_pair_dataset(bad)
    assert info.value.line == 2


def test_both_families_in_one_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    write_stsb(tmp_path / "sts" / "stsbenchmark")
    write_glue_mrpc(tmp_path / "pairs" / "glue" / "MRPC")
    write_plain_pairs(tmp_path / "pairs" / "mine.tsv", pair_rows(5))
    datasets.Dataset.from_dict(
        {"sentence1": ["a b", "c d"], "sentence2": ["a c", "e f"], "label": [1, 0]}
    ).save_to_disk(str(tmp_path / "pairs" / "saved"))
    found = find_all_tasks(tmp_path)
    assert [(type(t).__name__, t.name, t.n) for t in found] == [
        ("StsTask", "STSB", 10),
        ("PairTask", "MRPC (dev)", 6),
        ("PairTask", "mine", 5),
        ("PairTask", "saved", 2),
    ]
    # find_tasks keeps returning the STS tasks only, as it always did.
    assert [t.name for t in find_tasks(tmp_path)] == ["STSB"]
    assert [t.name for t in find_all_tasks(tmp_path, tasks=["mrpc", "STS-B"])] == [
        "MRPC (dev)",
        "STSB",
    ]
    with pytest.raises(
        DataFormatError,
        match=r"task\(s\) QNLI not found \(found: STSB, MRPC \(dev\), mine, saved\)",
    ):
        find_all_tasks(tmp_path, tasks=["QNLI"])
    assert [t.name for t in find_all_tasks(tmp_path, format="pairs")] == ["mine"]


def test_same_task_twice_and_unlabelled_only(tmp_path):
    write_qnli(tmp_path / "a" / "QNLI")
    write_qnli(tmp_path / "b" / "QNLI")
    with pytest.raises(DataFormatError, match=r"QNLI \(dev\) found twice"):
        find_pair_tasks(tmp_path)
    only_test = tmp_path / "c"
    write_lines(only_test / "test.tsv", ["index\tquestion\tsentence", "0\twho\tnobody"])
    with pytest.raises(DataFormatError, match="GLUE's QNLI test split has no labels"):
        find_pair_tasks(only_test)
    shutil.rmtree(tmp_path / "b")
    assert [t.name for t in find_pair_tasks(tmp_path)] == ["QNLI (dev)"]
