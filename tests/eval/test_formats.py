"""The format registry and the one front door: every format is detected on its own data and on
no other format's, and inside ``read_once`` a folder is walked once and each file read once."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import write_sick
from tests.eval.conftest import (
    pair_rows,
    write_glue_qqp,
    write_mrpc,
    write_plain_pairs,
    write_qnli,
    write_quora,
    write_stsb,
)
from transencoder.eval import (
    FILE_FORMATS,
    FOLDER_FORMATS,
    find_all_tasks,
    pair_readers,
    read_once,
    readers,
    table_readers,
)
from transencoder.eval import find as find_module
from transencoder.eval.formats import file_format, folder_formats


def _sick(path: Path) -> Path:
    path.parent.mkdir(parents=True)
    return write_sick(path)


def _sts_files(tmp_path: Path) -> dict[str, Path]:
    plain = tmp_path / "plain" / "mine.tsv"
    plain.parent.mkdir(parents=True)
    plain.write_text("a man plays\ta person plays\t4.2\n", encoding="utf-8")
    return {
        "sick": _sick(tmp_path / "sick" / "SICK_test_annotated.txt"),
        "stsb": write_stsb(tmp_path / "stsb") / "sts-test.csv",
        "tsv": plain,
    }


def _pair_files(tmp_path: Path) -> dict[str, Path]:
    return {
        "mrpc": write_mrpc(tmp_path / "mrpc" / "msr_paraphrase_train.txt", pair_rows(6)),
        "qnli": write_qnli(tmp_path / "qnli") / "dev.tsv",
        "qqp": write_glue_qqp(tmp_path / "qqp") / "dev.tsv",
        "quora": write_quora(tmp_path / "quora") / "dev_pairs.tsv",
        "paws": _paws(tmp_path / "paws" / "dev.tsv"),
        "pairs": write_plain_pairs(tmp_path / "user" / "mine.tsv", pair_rows(5)),
    }


def _paws(path: Path) -> Path:
    path.parent.mkdir(parents=True)
    rows = [f"{i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(pair_rows(4))]
    path.write_bytes(("\r\n".join(["id\tsentence1\tsentence2\tlabel", *rows]) + "\r\n").encode())
    return path


def test_every_file_format_detects_its_own_files_only(tmp_path):
    files = {**_pair_files(tmp_path), **_sts_files(tmp_path)}
    assert set(files) == {f.name for f in FILE_FORMATS}
    for name, path in files.items():
        detected = [f.name for f in FILE_FORMATS if f.detect(path)]
        # the plain tsv is the STS files' fallback: it accepts every file
        assert detected in ([name], [name, "tsv"]), (name, detected)
        assert file_format(path).name == name
        task = file_format(path).read(path, "", "auto")
        assert task.n == {"mrpc": 6, "qnli": 6, "qqp": 7, "quora": 5, "paws": 4, "pairs": 5,
                          "sick": 5, "stsb": 10, "tsv": 1}[name]  # fmt: skip


def test_every_folder_format_detects_its_own_folders_only(sts_data, tmp_path):
    datasets = pytest.importorskip("datasets")
    shutil.copytree(sts_data / "senteval" / "STS13-en-test", tmp_path / "year")
    write_stsb(tmp_path / "stsb")
    _sick(tmp_path / "sick" / "SICK_test_annotated.txt")
    _sick(tmp_path / "sick-full" / "SICK.txt")
    datasets.Dataset.from_dict(
        {"sentence1": ["a b", "c d"], "sentence2": ["a c", "d b"], "score": [1.0, 4.0]}
    ).save_to_disk(str(tmp_path / "hf"))
    datasets.Dataset.from_dict(
        {"sentence1": ["a b", "c d"], "sentence2": ["a c", "d b"], "label": [1, 0]}
    ).save_to_disk(str(tmp_path / "hf-pairs"))
    assert {f.name for f in FOLDER_FORMATS} == {p.name for p in tmp_path.iterdir()}
    for folder in tmp_path.iterdir():
        assert [f.name for f in folder_formats(folder)] == [folder.name]
    counts = {p.name: [(t.name, t.n) for t in find_all_tasks(p)] for p in tmp_path.iterdir()}
    assert counts == {
        "year": [("year", 1500)], "stsb": [("STSB", 10)], "sick": [("SICKR", 5)],
        "sick-full": [("SICKR", 5)], "hf": [("hf", 2)], "hf-pairs": [("hf-pairs", 2)],
    }  # fmt: skip


def test_a_folder_is_walked_once_and_each_file_read_once_in_a_run(sts_data, tmp_path, monkeypatch):
    from transencoder.training.pairs import pool_family, pool_from_data_dir

    shutil.copytree(sts_data / "senteval" / "STS13-en-test", tmp_path / "STS13-en-test")
    shutil.copytree(sts_data / "stsbenchmark", tmp_path / "stsbenchmark")
    write_qnli(tmp_path / "qnli")
    walks, reads = [], Counter()
    real_walk = find_module._walk
    monkeypatch.setattr(find_module, "_walk", lambda root: walks.append(root) or real_walk(root))
    real_read = readers.read_lines

    def counted(path):
        reads[Path(path).name] += 1
        return real_read(path)

    for module in (readers, pair_readers, table_readers):
        monkeypatch.setattr(module, "read_lines", counted)

    def run_reads():  # what a run reads: the recipe's choice, the evaluation, the pool
        pool_family(tmp_path)
        tasks = find_all_tasks(tmp_path)
        pool = pool_from_data_dir(tmp_path)
        return [t.name for t in tasks], len(pool)

    outside = run_reads()
    assert len(walks) == 4 and reads["sts-test.csv"] == 2  # without it: walked and read again
    walks.clear()
    reads.clear()
    with read_once():
        assert run_reads() == outside
    assert len(walks) == 1
    assert reads and set(reads.values()) == {1}, reads
    assert {"sts-test.csv", "sts-train.csv", "dev.tsv"} <= set(reads)


def test_a_datasets_object_with_a_sentence_that_is_not_text_names_its_row():
    datasets = pytest.importorskip("datasets")
    from transencoder.eval import DataFormatError, find_pair_tasks, find_tasks

    scored = datasets.Dataset.from_dict(
        {"sentence1": ["a b", "c d"], "sentence2": ["a c", None], "score": [1.0, 4.0]}
    )
    with pytest.raises(DataFormatError, match=r"line 2: column 2 holds NoneType"):
        find_tasks(scored)
    labelled = datasets.Dataset.from_dict(
        {"sentence1": ["a b", "c d", "e f"], "sentence2": ["a c", "d b", "f e"], "label": [1, 0, 1]}
    ).cast_column("sentence1", datasets.Value("string"))
    assert [t.n for t in find_pair_tasks(labelled)] == [3]
    broken = datasets.Dataset.from_dict(
        {"sentence1": ["a b", None], "sentence2": ["a c", "d b"], "label": [1, 0]}
    )
    with pytest.raises(DataFormatError, match=r"line 2: column 1 holds NoneType"):
        find_pair_tasks(broken)


def test_a_run_opens_its_data_with_one_walk_and_one_read_per_file(
    sts_data, tiny_model, tmp_path, monkeypatch
):
    from transencoder.training import TransEncoderRun, build_config
    from transencoder.training.workspace import Workspace

    data = tmp_path / "data"
    shutil.copytree(sts_data / "stsbenchmark", data / "stsbenchmark")
    write_qnli(data / "qnli")
    walks, reads = [], Counter()
    real_walk = find_module._walk
    monkeypatch.setattr(find_module, "_walk", lambda root: walks.append(root) or real_walk(root))
    real_read = readers.read_lines

    def counted(path):
        reads[Path(path).name] += 1
        return real_read(path)

    for module in (readers, pair_readers, table_readers):
        monkeypatch.setattr(module, "read_lines", counted)
    monkeypatch.setattr(Workspace, "report", lambda self: {})  # the run's open alone
    config = build_config(
        {
            "models": [str(tiny_model)],
            "data": {"data_dir": str(data)},
            "priming": {"method": "none"},
            "run": {"output_dir": str(tmp_path / "run"), "show_progress_bar": False},
        }
    )
    run = TransEncoderRun(config, log=lambda *a, **k: None)
    run.w.phases = []
    run.run()
    assert len(run.w.pairs) > 0 and run.w.evaluation.tasks is not None
    assert len(walks) == 1  # the pool and the evaluation share one walk
    assert reads["sts-test.csv"] == 1 and reads["dev.tsv"] == 1, reads
