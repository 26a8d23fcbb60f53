"""``transencoder eval`` on bad input (issue 16, items 6-8): one ``error:`` line and the right
exit status, before any work; no random cross-encoder head; strict JSON for degenerate sets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from transencoder.cli import main
from transencoder.eval import StsEvaluator, StsSubset, StsTask
from transencoder.testing import tiny_sentences

SENTENCES = tiny_sentences()


def _sts_file(path, scores=None, rows: int = 8):
    """A sentence1<TAB>sentence2<TAB>score file over the tiny vocabulary."""
    scores = scores if scores is not None else [(i * 0.7) % 5 for i in range(rows)]
    lines = [f"{SENTENCES[i]}\t{SENTENCES[-1 - i]}\t{score:g}" for i, score in enumerate(scores)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _strict_json(text: str) -> dict:
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def _eval(capfd, *argv) -> tuple[int, str, str]:
    code = main(["eval", *argv])
    captured = capfd.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture()
def sts_file(tmp_path):
    return _sts_file(tmp_path / "mine.tsv")


# ------------------------------------------------------------------ flags checked first
@pytest.mark.parametrize("value", ["0", "-4"])
def test_batch_size_must_be_positive(tiny_model, sts_file, capfd, value):
    code, out, err = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--data-dir",
        str(sts_file),
        "--batch-size",
        value,
        "--no-progress",
    )
    assert code == 2
    assert f"--batch-size must be a positive number of pairs, got {value}" in _one_error_line(err)
    assert out == ""  # refused before reading data or loading the model


@pytest.mark.parametrize("device", ["foo", "cuda:99"])
def test_unknown_or_absent_device(tiny_model, sts_file, capfd, device):
    code, out, err = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--data-dir",
        str(sts_file),
        "--device",
        device,
        "--no-progress",
    )
    assert code == 2
    assert f"--device {device}" in _one_error_line(err).replace("'", "")
    assert out == ""


def test_cuda_without_a_gpu(tiny_model, sts_file, capfd):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    code, _, err = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--data-dir",
        str(sts_file),
        "--device",
        "cuda",
        "--no-progress",
    )
    assert code == 2 and "this machine has no CUDA device" in _one_error_line(err)


def test_output_that_is_a_folder(tiny_model, sts_file, tmp_path, capfd):
    code, out, err = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--data-dir",
        str(sts_file),
        "--output",
        str(tmp_path),
        "--no-progress",
    )
    assert code == 2 and "is a folder" in _one_error_line(err)
    assert out == ""  # nothing was evaluated


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_output_where_nothing_can_be_written(tiny_model, sts_file, tmp_path, capfd, where):
    if where == "under-a-file":
        (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
        target = tmp_path / "plain.txt" / "results.json"
    else:
        target = "/proc/transencoder-test/results.json"
    code, out, err = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--data-dir",
        str(sts_file),
        "--output",
        str(target),
        "--no-progress",
    )
    assert code == 2 and "cannot write there" in _one_error_line(err)
    assert out == ""


def test_output_parent_folders_are_created(tiny_model, sts_file, tmp_path, capfd):
    target = tmp_path / "new" / "deeper" / "results.json"
    code, _, _ = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--data-dir",
        str(sts_file),
        "--output",
        str(target),
        "--no-progress",
    )
    assert code == 0 and _strict_json(target.read_text())["tasks"]["mine"]["n"] == 8
    assert not list(target.parent.glob(".transencoder-write-test-*"))


def test_folder_format_given_a_file(tiny_model, sts_file, capfd):
    code, _, err = _eval(
        capfd, "--model", str(tiny_model), "--data-dir", str(sts_file), "--format", "semeval"
    )
    assert code == 2
    line = _one_error_line(err)
    assert "--format semeval" in line and str(sts_file) in line and "is a file" in line


# ------------------------------------------------------------------ damaged or unsafe model folders
@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_damaged_safetensors_is_named(tiny_model, sts_file, tmp_path, capfd, damage):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    code, out, err = _eval(
        capfd, "--model", str(model), "--data-dir", str(sts_file), "--no-progress"
    )
    assert code == 1
    line = _one_error_line(err)
    assert str(weights) in line and "is damaged" in line
    assert out == ""


def test_pickled_bin_is_refused_as_unsafe(tiny_model, sts_file, tmp_path, capfd):
    import torch
    from safetensors.torch import load_file

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    state = load_file(str(model / "model.safetensors"))
    (model / "model.safetensors").unlink()
    state["payload"] = _Payload()
    torch.save(state, model / "pytorch_model.bin")
    code, _, err = _eval(capfd, "--model", str(model), "--data-dir", str(sts_file), "--no-progress")
    assert code == 1
    line = _one_error_line(err)
    assert "pytorch_model.bin: refused as unsafe" in line
    assert "weights_only=False" not in line


class _Payload:
    """A pickled object that a weights-only load must refuse (it would call print)."""

    def __reduce__(self):
        return (print, ("this must never run",))


# ------------------------------------------------------------------ cross-encoders without a trained head
def test_new_head_is_detected(tiny_model, tmp_path, capfd):
    from transencoder import CrossEncoder

    fresh = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    assert fresh.new_head is True
    captured = capfd.readouterr()
    assert "LOAD REPORT" not in captured.err + captured.out  # transformers' table is not printed
    fresh.save(tmp_path / "cross")
    assert CrossEncoder.from_pretrained(tmp_path / "cross", device="cpu").new_head is False


@pytest.mark.parametrize("model", ["tiny", "default"])
def test_eval_refuses_a_random_head(tiny_model, sts_file, capfd, model):
    path = str(tiny_model) if model == "tiny" else "default"
    code, _, err = _eval(
        capfd, "--model", path, "--kind", "cross", "--data-dir", str(sts_file), "--no-progress"
    )
    assert code == 1
    line = _one_error_line(err)
    assert "no trained classification head" in line and "--allow-new-head" in line
    assert "LOAD REPORT" not in err


def test_allow_new_head_says_so_in_one_line(tiny_model, sts_file, capfd):
    code, out, err = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--kind",
        "cross",
        "--data-dir",
        str(sts_file),
        "--allow-new-head",
        "--no-progress",
    )
    assert code == 0
    ours = [line for line in err.splitlines() if "classification head" in line]
    assert ours == [
        f"warning: {tiny_model}: new classification head initialised (random, untrained)"
    ]
    assert "LOAD REPORT" not in err + out and "MISSING" not in err + out


def test_trained_cross_encoder_is_evaluated(tiny_model, sts_file, tmp_path, capfd):
    from transencoder import CrossEncoder

    CrossEncoder.from_pretrained(tiny_model, device="cpu").save(tmp_path / "cross")
    capfd.readouterr()
    code, out, err = _eval(
        capfd,
        "--model",
        str(tmp_path / "cross"),
        "--kind",
        "cross",
        "--data-dir",
        str(sts_file),
        "--no-progress",
    )
    assert code == 0 and "mine" in out and "classification head" not in err


@pytest.mark.parametrize("kind", ["bi", "cross"])
def test_no_progress_hides_every_bar(tiny_model, sts_file, tmp_path, capfd, kind):
    from transformers.utils import logging as hf_logging

    model = tiny_model
    if kind == "cross":
        from transencoder import CrossEncoder

        CrossEncoder.from_pretrained(tiny_model, device="cpu").save(tmp_path / "cross")
        model = tmp_path / "cross"
        capfd.readouterr()
    before = hf_logging.is_progress_bar_enabled()
    code, _, err = _eval(
        capfd, "--model", str(model), "--kind", kind, "--data-dir", str(sts_file), "--no-progress"
    )
    assert code == 0
    assert "Loading weights" not in err and "it/s]" not in err and "%|" not in err, err
    assert hf_logging.is_progress_bar_enabled() == before  # transformers' setting is restored


# ------------------------------------------------------------------ degenerate evaluation sets
@pytest.mark.parametrize(
    ("scores", "reason"),
    [([2.5] * 6, "constant gold scores"), ([3.0], "only one pair")],
)
def test_degenerate_sts_file_gives_null_with_reason(tiny_model, tmp_path, capfd, scores, reason):
    data = _sts_file(tmp_path / "flat.tsv", scores=scores)
    output = tmp_path / "r.json"
    code, out, err = _eval(
        capfd,
        "--model",
        str(tiny_model),
        "--data-dir",
        str(data),
        "--output",
        str(output),
        "--no-progress",
    )
    assert code == 0
    warning = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "flat" in warning[0] and reason in warning[0]
    result = _strict_json(output.read_text())
    assert (
        result["tasks"]["flat"]["spearman"] is None and reason in result["tasks"]["flat"]["reason"]
    )
    assert result["average"]["spearman"] is None
    assert f"left out of the average: {reason}" in out


def _memory_task(name: str, gold) -> StsTask:
    gold = np.asarray(gold, dtype=np.float64)
    firsts = tuple(f"{name} a {i}" for i in range(len(gold)))
    seconds = tuple(f"{name} b {i}" for i in range(len(gold)))
    return StsTask(name, [StsSubset(name, firsts, seconds, gold, name)], "tsv", "memory")


def test_constant_predictions_are_left_out_of_the_average():
    good, flat = _memory_task("good", [0, 1, 2, 3, 4]), _memory_task("flat", [4, 3, 2, 1, 0])
    evaluator = StsEvaluator([good, flat])
    scores = np.concatenate([[0.1, 0.3, 0.2, 0.8, 0.9], np.full(5, 0.5)])
    with pytest.warns(UserWarning, match=r"flat: Spearman is undefined \(constant predictions"):
        result = evaluator.from_scores(scores)
    data = _strict_json(json.dumps(result.to_dict(), allow_nan=False))
    assert data["tasks"]["flat"]["spearman"] is None
    assert data["tasks"]["flat"]["reason"].startswith("constant predictions")
    assert data["average"]["spearman"] == data["tasks"]["good"]["spearman"] == 90.0
    assert "left out of the average: constant predictions" in result.table()


def test_degenerate_warning_has_its_own_category():
    from transencoder.eval import DegenerateEvaluationWarning

    task = _memory_task("flat", [1.0, 1.0, 1.0])
    with pytest.warns(DegenerateEvaluationWarning, match="constant gold scores"):
        StsEvaluator([task]).from_scores(np.array([0.1, 0.2, 0.3]))
