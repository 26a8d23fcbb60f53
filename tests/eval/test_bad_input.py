"""Every kind of bad input gets an error naming the file, the line and what was expected."""

from __future__ import annotations

import math

import pytest

from tests.conftest import SICK_HEADER, write_sick
from transencoder.cli import main
from transencoder.eval import (
    DataFormatError,
    find_tasks,
    read_sick,
    read_sts_year,
    read_stsb,
    read_tsv,
)


def _year(
    tmp_path, inputs: list[str], golds: list[str], name: str = "STS14-en-test", subset: str = "news"
):
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"STS.input.{subset}.txt").write_text(
        "".join(line + "\n" for line in inputs), encoding="utf-8"
    )
    (folder / f"STS.gs.{subset}.txt").write_text(
        "".join(line + "\n" for line in golds), encoding="utf-8"
    )
    return folder


GOOD = ["a man plays\ta person plays", "the cat sleeps\ta dog runs", "two birds\tsome birds"]


def test_good_year_folder_reads(tmp_path):
    assert read_sts_year(_year(tmp_path, GOOD, ["4", "0.5", "3.2"])).n == 3


@pytest.mark.parametrize(
    ("inputs", "golds", "line", "pattern"),
    [
        (["a\tb\tc", *GOOD[1:]], ["1", "2", "3"], 1, "3 tab-separated columns; expected 2 columns"),
        (GOOD, ["1", "", "3"], 2, "gold score is missing"),
        (GOOD, ["1", "high", "3"], 2, "'high' is not a number"),
        (GOOD, ["1", "2", "NaN"], 3, "'NaN' is not finite"),
        (GOOD, ["1", "5.5", "3"], 2, "5.5 is out of range; expected a gold score between 0 and 5"),
        (GOOD, ["-1", "2", "3"], 1, "out of range"),
        (["a man\t  ", *GOOD[1:]], ["1", "2", "3"], 1, "sentence in column 2 is empty"),
    ],
)
def test_year_folder_errors(tmp_path, inputs, golds, line, pattern):
    folder = _year(tmp_path, inputs, golds)
    with pytest.raises(DataFormatError, match=pattern) as info:
        read_sts_year(folder)
    assert info.value.line == line
    assert info.value.path.endswith((".txt",))


def test_input_and_gold_of_different_lengths(tmp_path):
    folder = _year(tmp_path, GOOD, ["1", "2"])
    with pytest.raises(DataFormatError, match="2 lines, but STS.input.news.txt has 3") as info:
        read_sts_year(folder)
    assert info.value.path.endswith("STS.gs.news.txt")


def test_non_utf8_bytes(tmp_path):
    folder = _year(tmp_path, GOOD, ["1", "2", "3"])
    path = folder / "STS.input.news.txt"
    path.write_bytes(path.read_bytes().replace(b"cat", b"c\xe9t"))
    with pytest.raises(DataFormatError, match=r"byte 0xe9 at column 6 is not valid UTF-8") as info:
        read_sts_year(folder)
    assert (info.value.line, info.value.path) == (2, str(path))


def test_unscored_lines_only_where_documented(tmp_path):
    golds = ["1", "", "3"]
    # STS15/16 ship unscored pairs: skipped and counted ...
    sts15 = read_sts_year(_year(tmp_path, GOOD, golds, name="STS15-en-test"))
    assert sts15.n == 2 and sts15.skipped[0].count == 1
    # ... anywhere else an empty gold line is a missing score.
    with pytest.raises(DataFormatError, match="missing"):
        read_sts_year(_year(tmp_path, GOOD, golds, name="STS12-en-test"))


def test_input_without_gold_file(tmp_path):
    folder = _year(tmp_path, GOOD, ["1", "2", "3"])
    (folder / "STS.input.extra.txt").write_text(GOOD[0] + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no gold file"):
        read_sts_year(folder)


def test_stsb_errors(tmp_path):
    path = tmp_path / "sts-test.csv"
    path.write_text("main-captions\tMSRvid\t2012test\t0001\t5.000\ta man\n", encoding="utf-8")
    with pytest.raises(
        DataFormatError, match="6 tab-separated columns; expected at least 7"
    ) as info:
        read_stsb(path)
    assert info.value.line == 1
    path.write_text("g\tf\ty\t1\tnan\ta\tb\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="not finite"):
        read_stsb(path)


def test_sick_errors(tmp_path):
    bad_header = tmp_path / "SICK_a.txt"
    bad_header.write_text("id\ta\tb\n1\tx\ty\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="header lacks sentence_A"):
        read_sick(bad_header)
    out_of_range = write_sick(tmp_path / "SICK_b.txt", rows=[("1", "a", "b", "0.5", "NEUTRAL")])
    with pytest.raises(DataFormatError, match="between 1 and 5") as info:
        read_sick(out_of_range)
    assert info.value.line == 2
    ragged = tmp_path / "SICK_c.txt"
    ragged.write_text(SICK_HEADER + "\n1\ta\tb\t3.0\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="4 tab-separated columns; expected 5"):
        read_sick(ragged)


def test_tsv_errors(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\t1\nc\td\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="2 tab-separated columns") as info:
        read_tsv(path)
    assert info.value.line == 2


def test_hf_dataset_errors():
    datasets = pytest.importorskip("datasets")
    from transencoder.eval import read_hf_dataset

    missing = datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [1.0]})
    with pytest.raises(DataFormatError, match=r"columns \['score'\] are missing"):
        read_hf_dataset(missing)
    nan = datasets.Dataset.from_dict(
        {"sentence1": ["a", "c"], "sentence2": ["b", "d"], "score": [1.0, math.nan]}
    )
    with pytest.raises(DataFormatError, match="not finite") as info:
        read_hf_dataset(nan)
    assert info.value.line == 2


def test_cli_reports_bad_data_and_exits_nonzero(tmp_path, capsys):
    folder = _year(tmp_path, GOOD, ["1", "2", "9"])
    code = main(["eval", "--model", "default", "--data-dir", str(folder)])
    assert code == 1
    err = capsys.readouterr().err
    assert "STS.gs.news.txt, line 3" in err and "out of range" in err


def test_empty_data_dir(tmp_path):
    with pytest.raises(DataFormatError, match="no STS data found"):
        find_tasks(tmp_path)
