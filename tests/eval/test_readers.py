"""Readers give the exact pair counts of ../shared/data/sts/PROVENANCE.md, in every layout."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from tests.conftest import SICK_ROWS, write_sick
from transencoder.eval import (
    DataFormatError,
    find_tasks,
    locate_tasks,
    read_hf_dataset,
    read_sick,
    read_tsv,
)

TASK_PAIRS = {"STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186}
SUBSET_PAIRS = {
    "STS12": {
        "MSRpar": 750,
        "MSRvid": 750,
        "SMTeuroparl": 459,
        "surprise.OnWN": 750,
        "surprise.SMTnews": 399,
    },
    "STS13": {"headlines": 750, "OnWN": 561, "FNWN": 189},
    "STS14": {
        "deft-forum": 450,
        "deft-news": 300,
        "headlines": 750,
        "images": 750,
        "OnWN": 750,
        "tweet-news": 750,
    },
    "STS15": {
        "answers-forums": 375,
        "answers-students": 750,
        "belief": 375,
        "headlines": 750,
        "images": 750,
    },
    "STS16": {
        "answer-answer": 254,
        "headlines": 249,
        "plagiarism": 230,
        "postediting": 244,
        "question-question": 209,
    },
}


def _provenance_counts(sts_data) -> dict[str, int]:
    """The counts as PROVENANCE.md states them (so the test follows the data's own record)."""
    text = (sts_data / "PROVENANCE.md").read_text(encoding="utf-8")
    years = dict(re.findall(r"(20\d\d): (\d+)", text))
    counts = {f"STS{year[2:]}": int(n) for year, n in years.items()}
    counts["STSB-test"] = int(re.search(r"test (\d+)", text).group(1))
    return counts


@pytest.mark.parametrize("layout", ["senteval", "semeval"])
def test_year_counts_match_provenance(sts_data, layout):
    expected = _provenance_counts(sts_data)
    tasks = {t.name: t for t in find_tasks(sts_data / layout)}
    for name, count in TASK_PAIRS.items():
        assert expected[name] == count
        assert tasks[name].n == count, name
        assert {s.name: len(s) for s in tasks[name].subsets} == SUBSET_PAIRS[name]
    if layout == "senteval":
        assert tasks["STSB"].n == expected["STSB-test"] == 1379


def _unscored_lines(directory):
    total = 0
    for gold in sorted(directory.glob("*.gs.*.txt")):
        if (directory / gold.name.replace(".gs.", ".input.")).exists():
            total += sum(
                1 for line in gold.read_text(encoding="utf-8").split("\n")[:-1] if not line.strip()
            )
    return total


@pytest.mark.parametrize("layout", ["senteval", "semeval"])
def test_documented_exceptions_are_skipped_and_counted(sts_data, layout):
    tasks = {t.name: t for t in find_tasks(sts_data / layout)}
    for year in ("STS15", "STS16"):
        skipped = [s for s in tasks[year].skipped if s.reason == "unscored input lines"]
        assert (
            sum(s.count for s in skipped)
            == _unscored_lines(sts_data / layout / f"{year}-en-test")
            > 0
        )
    smt = [s for s in tasks["STS13"].skipped if s.path.endswith("STS.gs.SMT.txt")]
    assert len(smt) == 1 and "without input" in smt[0].reason
    assert [s.path.rsplit("/", 1)[-1] for s in tasks["STS12"].skipped] == ["STS.gs.ALL.txt"]


def test_layouts_are_detected(sts_data):
    assert {t.layout for t in find_tasks(sts_data / "senteval") if t.name.startswith("STS1")} == {
        "senteval"
    }
    assert {t.layout for t in find_tasks(sts_data / "semeval")} == {"semeval"}
    # STS2016's official names and 4 input columns cannot be read as the SentEval layout.
    with pytest.raises(DataFormatError, match="STS2016"):
        find_tasks(sts_data / "semeval" / "STS16-en-test", format="senteval")


def test_semeval_and_senteval_hold_the_same_pairs(sts_data):
    raw = {t.name: t for t in find_tasks(sts_data / "semeval")}
    tokenised = {t.name: t for t in find_tasks(sts_data / "senteval")}
    for name in TASK_PAIRS:
        np.testing.assert_array_equal(raw[name].scores, tokenised[name].scores)
        # SentEval's copy is lower-cased: the raw sentence, lower-cased, shares its first word.
        first_raw = raw[name].subsets[0].sentences1[0].lower().split()[0]
        assert tokenised[name].subsets[0].sentences1[0].startswith(first_raw[:3])


def test_stsb_splits_and_columns(sts_data):
    from transencoder.eval import read_stsb

    counts = {
        split: read_stsb(sts_data / "stsbenchmark" / f"sts-{split}.csv").n
        for split in ("train", "dev", "test")
    }
    assert counts == {"train": 5749, "dev": 1500, "test": 1379}
    # Rows with two extra source columns are read from columns 0-6 (no csv quoting).
    task = read_stsb(sts_data / "stsbenchmark" / "sts-train.csv")
    assert all("\t" not in s for s in task.subsets[0].sentences2)


def test_sick_fixture_reads_right(tmp_path):
    path = write_sick(tmp_path / "SICK_test_annotated.txt")
    assert b"\r\n" in path.read_bytes()
    task = read_sick(path)
    assert task.n == len(SICK_ROWS)
    subset = task.subsets[0]
    assert subset.sentences1[0] == "A group of kids is playing in a yard"
    assert subset.sentences2[-1] == "Nobody is cooking food"  # no trailing \r
    np.testing.assert_array_equal(subset.scores, [4.5, 1.2, 4.0, 4.9, 1.0])


def test_data_dir_with_only_sick(tmp_path):
    sick = tmp_path / "data" / "SICK"
    sick.mkdir(parents=True)
    write_sick(sick / "SICK_test_annotated.txt")
    write_sick(sick / "SICK_train.txt", newline="\n")
    tasks = find_tasks(tmp_path / "data")
    assert [(t.name, t.n) for t in tasks] == [("SICKR", 5)]


def test_full_sick_release_keeps_test_rows(tmp_path):
    header = "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tSemEval_set"
    rows = [
        f"{i}\ta b {i}\tc d {i}\tNEUTRAL\t{1 + i % 4}.0\t{s}"
        for i, s in enumerate(["TRAIN", "TEST", "TRIAL", "TEST"])
    ]
    (tmp_path / "SICK.txt").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    task = find_tasks(tmp_path)[0]
    assert (task.name, task.n) == ("SICKR", 2)
    assert task.skipped[0].count == 2


def test_subset_of_tasks_and_filter(sts_data, tmp_path):
    shutil.copytree(sts_data / "senteval" / "STS13-en-test", tmp_path / "STS13-en-test")
    shutil.copytree(sts_data / "senteval" / "STSBenchmark", tmp_path / "STSBenchmark")
    assert [t.name for t in find_tasks(tmp_path)] == ["STS13", "STSB"]
    assert [t.name for t in find_tasks(tmp_path, tasks=["stsbenchmark"])] == ["STSB"]
    with pytest.raises(DataFormatError, match="STS12"):
        find_tasks(tmp_path, tasks=["STS12"])


def test_task_found_twice_is_an_error(sts_data, tmp_path):
    for layout in ("a", "b"):
        shutil.copytree(
            sts_data / "senteval" / "STS13-en-test", tmp_path / layout / "STS13-en-test"
        )
    with pytest.raises(DataFormatError, match="STS13 found twice"):
        locate_tasks(tmp_path)


def test_plain_tsv_with_and_without_header(tmp_path):
    body = "a man plays\ta person plays\t4.2\nthe cat\ta dog\t0.5\n"
    (tmp_path / "plain.tsv").write_text(body, encoding="utf-8")
    (tmp_path / "header.tsv").write_text("sentence1\tsentence2\tscore\n" + body, encoding="utf-8")
    for name in ("plain.tsv", "header.tsv"):
        task = read_tsv(tmp_path / name)
        assert task.n == 2 and task.subsets[0].scores.tolist() == [4.2, 0.5]
    assert find_tasks(tmp_path / "plain.tsv")[0].name == "plain"


def test_hf_dataset_object():
    datasets = pytest.importorskip("datasets")
    data = datasets.Dataset.from_dict(
        {
            "sentence1": ["a b", "c d", "e f"],
            "sentence2": ["a c", "c e", "f g"],
            "score": [4.0, 2.5, 0.0],
        }
    )
    task = read_hf_dataset(data, name="mine")
    assert task.n == 3 and task.subsets[0].scores.tolist() == [4.0, 2.5, 0.0]
    both = read_hf_dataset(
        datasets.DatasetDict({"test": data, "train": data.select([0])}), name="dd"
    )
    assert both.n == 3
    assert find_tasks(data)[0].n == 3


def test_saved_hf_dataset_folder_is_found(tmp_path):
    datasets = pytest.importorskip("datasets")
    data = datasets.Dataset.from_dict(
        {"sentence1": ["a b", "c d"], "sentence2": ["a c", "e f"], "score": [4.0, 1.0]}
    )
    data.save_to_disk(str(tmp_path / "mysts"))
    assert [(t.name, t.n, t.layout) for t in find_tasks(tmp_path)] == [("mysts", 2, "hf")]
