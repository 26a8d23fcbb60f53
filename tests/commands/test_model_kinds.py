"""A cross-encoder with a random (untrained) head is refused or warned about everywhere, and
``--kind auto`` loads each model folder as the kind it declares."""

from __future__ import annotations

import json
import warnings

import pytest

from transencoder.cli import main
from transencoder.testing import tiny_sentences

SENTENCES = tiny_sentences()
PAIRS = [(SENTENCES[i], SENTENCES[-1 - i]) for i in range(6)]


@pytest.fixture(scope="module")
def saved_cross(tmp_path_factory, tiny_model):
    """A saved cross-encoder: it reloads with its head (``new_head`` False)."""
    from transencoder import CrossEncoder

    folder = tmp_path_factory.mktemp("kinds") / "cross"
    CrossEncoder.from_pretrained(tiny_model, device="cpu").save(folder)
    return folder


@pytest.fixture()
def pairs_file(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{a}\t{b}\t{i % 5}\n" for i, (a, b) in enumerate(PAIRS)), "utf-8")
    return path


def _run(capfd, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capfd.readouterr()
    return code, captured.out, captured.err


def _error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _score(pairs_file, tmp_path, *models, extra=()):
    argv = ["score", "--pairs", str(pairs_file), "--output", str(tmp_path / "s.tsv")]
    for model in models:
        argv += ["--model", str(model)]
    return [*argv, "--device", "cpu", "--no-progress", *extra]


# ------------------------------------------------------------------ random heads
def test_score_refuses_a_random_head(tiny_model, pairs_file, tmp_path, capfd):
    argv = _score(pairs_file, tmp_path, tiny_model, extra=["--kind", "cross"])
    code, _, err = _run(capfd, *argv)
    line = _error(err)
    assert code == 1
    assert f"{tiny_model} has no trained classification head" in line
    assert "--allow-new-head" in line and "--kind bi" in line
    assert not (tmp_path / "s.tsv").exists()


def test_score_refuses_an_ensemble_with_one_random_head(
    tiny_model, saved_cross, pairs_file, tmp_path, capfd
):
    argv = _score(pairs_file, tmp_path, saved_cross, tiny_model, extra=["--kind", "cross"])
    code, _, err = _run(capfd, *argv)
    line = _error(err)
    assert code == 1 and f"error: {tiny_model} has no trained classification head" in line
    assert str(saved_cross) not in line  # the trained member is not blamed


def test_score_allow_new_head_warns_in_one_line(tiny_model, pairs_file, tmp_path, capfd):
    argv = _score(pairs_file, tmp_path, tiny_model, extra=["--kind", "cross", "--allow-new-head"])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = _run(capfd, *argv)
    assert code == 0
    said = [line for line in err.splitlines() if "classification head" in line]
    assert said == [
        f"warning: {tiny_model}: new classification head initialised (random, untrained)"
    ]
    assert len((tmp_path / "s.tsv").read_text("utf-8").splitlines()) == len(PAIRS)


def test_predict_warns_once_per_model_on_a_random_head(tiny_model, saved_cross):
    from transencoder import CrossEncoder
    from transencoder.models import UntrainedHeadWarning

    fresh = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    with pytest.warns(UntrainedHeadWarning, match="no trained classification head") as caught:
        fresh.predict(PAIRS)
        fresh.predict(PAIRS)
    assert len([w for w in caught if w.category is UntrainedHeadWarning]) == 1
    assert str(tiny_model) in str(caught[0].message)
    other = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    with pytest.warns(UntrainedHeadWarning):  # once per model, not once per process
        other.predict(PAIRS[:1])
    trained = CrossEncoder.from_pretrained(saved_cross, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedHeadWarning)
        trained.predict(PAIRS)


def test_training_a_cross_encoder_resets_new_head(tiny_model):
    import numpy as np

    from transencoder import CrossEncoder
    from transencoder.models import UntrainedHeadWarning
    from transencoder.training import StepConfig, train_cross_encoder

    cross = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    assert cross.new_head
    labels = np.linspace(0.1, 0.9, len(PAIRS))
    step = StepConfig(epochs=1, batch_size=4, lr=1e-3, max_length=16)
    train_cross_encoder(cross, PAIRS, labels, step, seed=0, show_progress_bar=False)
    assert cross.new_head is False
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedHeadWarning)
        cross.predict(PAIRS)


# ------------------------------------------------------------------ --kind auto
def test_eval_auto_loads_a_cross_encoder_folder_as_one(saved_cross, pairs_file, tmp_path, capfd):
    output = tmp_path / "r.json"
    argv = ["eval", "--model", str(saved_cross), "--data-dir", str(pairs_file)]
    code, out, err = _run(capfd, *argv, "--output", str(output), "--no-progress")
    assert code == 0, err
    assert "kind: cross-encoder (--kind auto" in out and "declares a CrossEncoder" in out
    assert "LOAD REPORT" not in out + err and "UNEXPECTED" not in out + err
    assert json.loads(output.read_text("utf-8"))["kind"] == "cross"


def test_auto_reads_a_classification_config_without_st_metadata(saved_cross, tmp_path):
    import shutil

    from transencoder.commands._models import resolve_kind

    plain = tmp_path / "hf-cross"
    shutil.copytree(saved_cross, plain)
    (plain / "config_sentence_transformers.json").unlink()
    assert json.loads((plain / "config.json").read_text())["architectures"][0].endswith(
        "ForSequenceClassification"
    )
    assert resolve_kind("auto", [str(plain)]) == "cross"


def test_auto_reads_default_and_plain_encoders_as_bi(tiny_model, capfd):
    from transencoder.commands._models import resolve_kind

    assert resolve_kind("auto", ["default"]) == "bi"
    assert resolve_kind("auto", [str(tiny_model)]) == "bi"
    out = capfd.readouterr().out
    assert "kind: bi-encoder (--kind auto: default: a sentence-transformers folder" in out


@pytest.mark.parametrize("command", ["eval", "score"])
def test_kind_bi_refuses_a_cross_encoder(saved_cross, pairs_file, tmp_path, capfd, command):
    if command == "eval":
        argv = ["eval", "--model", str(saved_cross), "--data-dir", str(pairs_file)]
        argv += ["--kind", "bi", "--no-progress"]
    else:
        argv = _score(pairs_file, tmp_path, saved_cross, extra=["--kind", "bi"])
    code, out, err = _run(capfd, *argv)
    line = _error(err)
    assert code == 1 and f"--model {saved_cross} is a cross-encoder" in line
    assert "use --kind cross or --kind auto" in line and "LOAD REPORT" not in out + err


def test_auto_refuses_an_ensemble_of_mixed_kinds(
    saved_cross, tiny_model, pairs_file, tmp_path, capfd
):
    code, _, err = _run(capfd, *_score(pairs_file, tmp_path, saved_cross, tiny_model))
    line = _error(err)
    assert (
        code == 1 and f"--model {saved_cross} is a cross-encoder but --model {tiny_model}" in line
    )
