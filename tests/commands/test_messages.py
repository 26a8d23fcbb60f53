"""Error messages point the right way: they name the flag the user typed and the kind of path
it takes (a file, a folder, a model), and nothing unrelated is said before them."""

from __future__ import annotations

import pytest

from transencoder.cli import main


def _error(capsys, argv, status=1) -> tuple[str, str]:
    """The one ``error:`` line of a failed command, and what it printed on stdout."""
    assert main(argv) == status
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), captured.err
    return err[0], captured.out


@pytest.fixture()
def pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a man plays\ta person plays\nthe cat sleeps\ta dog runs\n", "utf-8")
    return path


def test_encode_input_folder_says_a_file_is_expected(tmp_path, capsys):
    line, _ = _error(
        capsys, ["encode", "--input", str(tmp_path), "--output", str(tmp_path / "e.npy")]
    )
    assert f"{tmp_path}: --input takes a file, and this is a folder" in line
    assert "no such file" not in line


def test_score_pairs_folder_says_a_file_is_expected(tiny_model, tmp_path, capsys):
    argv = ["score", "--model", str(tiny_model), "--pairs", str(tmp_path)]
    line, _ = _error(capsys, [*argv, "--output", str(tmp_path / "s.tsv")])
    assert "--pairs takes a file, and this is a folder" in line


def test_train_pairs_missing_names_the_flag_and_nothing_before(tiny_model, tmp_path, capsys):
    argv = ["train", "--model", str(tiny_model), "--pairs", str(tmp_path / "nope.tsv")]
    line, out = _error(capsys, [*argv, "--output-dir", str(tmp_path / "run")])
    assert "--pairs (data.pairs): no such file" in line
    assert "no evaluation data" not in out  # the run never got as far as training


def test_train_dev_data_missing_names_the_flag(tiny_model, pairs, tmp_path, capsys):
    argv = ["train", "--model", str(tiny_model), "--pairs", str(pairs), "--dev-data", "nope.tsv"]
    line, out = _error(capsys, [*argv, "--output-dir", str(tmp_path / "run")])
    assert line.startswith(
        "error: nope.tsv: --dev-data (selection.dev_data): no such file or folder"
    )
    assert "a file (or folder) of labelled pairs" in line and "data directory" not in line
    assert "no evaluation data" not in out


def test_no_evaluation_data_names_the_flags():
    from transencoder.training import build_config
    from transencoder.training.evaluation import RunEvaluation
    from transencoder.training.runtime import LocalRuntime

    said = []
    config = build_config({"data": {"pairs": "pairs.tsv"}})
    evaluation = RunEvaluation(config, LocalRuntime(), log=said.append)
    assert said == []  # said later, by the workspace, once the pool is read
    assert evaluation.tasks is None
    assert "--eval-data-dir DIR or --data-dir DIR" in evaluation.note
    assert "data.eval_data_dir or data.data_dir" in evaluation.note  # and the config keys


def _text(folder):
    path = folder / "sentences.txt"
    path.write_text("a man plays\nthe cat sleeps\n", "utf-8")
    return path


@pytest.mark.parametrize("command", ["eval", "score", "encode"])
def test_missing_model_says_how_models_are_found(pairs, tmp_path, capsys, command):
    model = str(tmp_path / "no" / "such" / "model")
    argv = {
        "eval": ["eval", "--data-dir", str(pairs)],
        "score": ["score", "--pairs", str(pairs), "--output", str(tmp_path / "s.tsv")],
        "encode": ["encode", "--input", str(_text(tmp_path)), "--output", str(tmp_path / "e.npy")],
    }[command]
    line, _ = _error(capsys, [*argv, "--model", model])
    assert line.startswith(f"error: {model}: no such model folder")
    assert "'default' for the packaged all-MiniLM-L6-v2" in line and "hub id" in line
