"""A ``--format`` that the data does not match is an error naming the path and what it holds,
never silently read as another format."""

from __future__ import annotations

import pytest

from tests.conftest import write_sick
from transencoder.cli import main
from transencoder.eval import DataFormatError, find_all_tasks, find_tasks


@pytest.mark.parametrize("format", ["sick", "stsb"])
def test_folder_format_that_matches_no_task(sts_data, format):
    folder = sts_data / "senteval" / "STS16-en-test"
    with pytest.raises(DataFormatError, match=f"--format {format}, but no task here") as info:
        find_all_tasks(folder, format=format)
    assert info.value.path == str(folder)
    assert "found: STS16 in an STS12-16 year folder" in str(info.value)
    assert "--format auto" in str(info.value)


def test_folder_format_keeps_only_its_tasks(sts_data):
    assert [t.name for t in find_tasks(sts_data / "senteval", format="stsb")] == ["STSB"]
    years = find_tasks(sts_data / "senteval", format="senteval")  # a layout of the years
    assert {t.name for t in years} >= {"STS12", "STS16", "STSB"}


def test_year_format_on_a_folder_without_years(sts_data):
    with pytest.raises(DataFormatError, match="found: STSB in an STS-B folder"):
        find_tasks(sts_data / "stsbenchmark", format="semeval")


def test_file_format_on_a_folder_is_a_usage_error(sts_data, capsys):
    folder = sts_data / "senteval" / "STS16-en-test"
    code = main(["eval", "--model", "default", "--data-dir", str(folder), "--format", "tsv"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: --format tsv applies to a file") and str(folder) in err[0]


def test_wrong_file_format_names_the_format_found(tmp_path):
    sick = write_sick(tmp_path / "SICK_test_annotated.txt")
    with pytest.raises(DataFormatError, match="the file looks like sick") as info:
        find_tasks(sick, format="stsb")
    assert info.value.path == str(sick) and info.value.line == 1
    assert "or --format sick / auto" in str(info.value)
    assert find_tasks(sick, format="sick")[0].n == 5  # the right format still reads it


def test_cli_format_sick_on_sts16_exits_1(sts_data, capsys):
    folder = sts_data / "senteval" / "STS16-en-test"
    code = main(["eval", "--model", "default", "--data-dir", str(folder), "--format", "sick"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith(f"error: {folder}: --format sick")
