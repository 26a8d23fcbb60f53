"""The precision setting: detection (each answer forced), resolution, and the bf16 and fp32 paths
of inference, training, saving and resuming on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from transencoder import BiEncoder, CrossEncoder, precision
from transencoder.errors import UsageError
from transencoder.testing import tiny_sentences
from transencoder.training import StepConfig, build_config, run_trans_encoder, train_bi_encoder
from transencoder.training.rundir import RunDirError


@pytest.fixture
def no_override(monkeypatch):
    monkeypatch.delenv(precision.OVERRIDE, raising=False)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx512f", "amx_bf16", "amx_tile"}, True),  # Sapphire Rapids
        ({"avx512f", "avx512_bf16"}, True),  # Zen 4, Cooper Lake
        ({"avx2", "fma", "avx512f"}, False),  # Ice Lake, Zen 3: no bf16 units
        (set(), False),  # no /proc/cpuinfo
    ],
)
def test_cpu_detection_follows_the_flags(monkeypatch, no_override, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.native_bf16("cpu") is expected
    assert precision.resolve("auto", "cpu") == ("bf16" if expected else "fp32")
    assert precision.resolve("fp32", "cpu") == "fp32"  # a name is taken as it is
    assert precision.resolve("bf16", "cpu") == "bf16"
    assert ("auto = bf16" if expected else "auto = fp32") in precision.describe("cpu")


@pytest.mark.parametrize("supported", [True, False])
def test_cuda_detection_asks_torch(monkeypatch, no_override, supported):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    assert precision.native_bf16("cuda:0") is supported
    assert precision.resolve("auto", "cuda") == ("bf16" if supported else "fp32")


def test_the_override_wins_both_ways(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setenv(precision.OVERRIDE, "0")
    assert precision.resolve("auto") == "fp32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset())
    monkeypatch.setenv(precision.OVERRIDE, "1")
    assert precision.resolve("auto") == "bf16"
    assert "TRANSENCODER_BF16=1" in precision.describe()


def test_an_unknown_precision_is_refused():
    with pytest.raises(UsageError, match="fp16"):
        precision.resolve("fp16")
    with pytest.raises(UsageError, match="run.precision"):
        build_config({"data": {"pairs": "p.tsv"}, "run": {"precision": "half"}})


def _linear_output_dtypes(module: torch.nn.Module) -> tuple[list, list]:
    """Record the dtype of every Linear's output (what the matrix products ran in)."""
    seen = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
        for m in module.modules()
        if isinstance(m, torch.nn.Linear)
    ]
    return seen, handles


@pytest.mark.parametrize("kind", ["bi", "cross"])
def test_inference_runs_its_matrix_products_in_the_asked_precision(tiny_model, kind):
    sentences = tiny_sentences()[:12]
    pairs = list(zip(sentences, sentences[1:]))
    if kind == "bi":
        model = BiEncoder.from_pretrained(tiny_model, device="cpu")
        run = lambda p: model.encode(sentences, precision=p)  # noqa: E731
    else:
        model = CrossEncoder.from_pretrained(tiny_model, device="cpu")
        run = lambda p: model.predict(pairs, precision=p)  # noqa: E731
    seen, handles = _linear_output_dtypes(model)
    fp32 = run("fp32")
    assert set(seen) == {torch.float32}
    seen.clear()
    bf16 = run("bf16")
    assert set(seen) == {torch.bfloat16}
    for handle in handles:
        handle.remove()
    assert bf16.dtype == fp32.dtype == np.float32  # results come back in fp32
    assert not np.array_equal(bf16, fp32)  # bf16 really ran
    assert np.abs(bf16 - fp32).max() < 0.05  # ... and agrees to bf16's resolution
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights untouched


def test_the_model_default_precision_applies_when_none_is_asked(tiny_model):
    sentences = tiny_sentences()[:8]
    bf16 = BiEncoder.from_pretrained(tiny_model, device="cpu", precision="bf16")
    fp32 = BiEncoder.from_pretrained(tiny_model, device="cpu", precision="fp32")
    np.testing.assert_array_equal(bf16.encode(sentences), fp32.encode(sentences, precision="bf16"))
    # "auto" is fp32 in this suite (TRANSENCODER_BF16=0, conftest)
    auto = BiEncoder.from_pretrained(tiny_model, device="cpu")
    np.testing.assert_array_equal(auto.encode(sentences), fp32.encode(sentences))


def test_bf16_training_keeps_fp32_weights_and_saves_fp32(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    sentences = tiny_sentences()
    pairs = list(zip(sentences[:24], sentences[1:25]))
    labels = np.linspace(0.1, 0.9, len(pairs))
    results = {}
    for name in ("fp32", "bf16"):
        bi = BiEncoder.from_pretrained(tiny_model, device="cpu")
        seen, handles = _linear_output_dtypes(bi)
        stats = train_bi_encoder(
            bi, pairs, labels, StepConfig(epochs=2, batch_size=8, lr=1e-3), seed=0,
            precision=name, show_progress_bar=False,
        )  # fmt: skip
        for handle in handles:
            handle.remove()
        assert set(seen) == {torch.bfloat16 if name == "bf16" else torch.float32}
        assert stats.steps == 6 and all(p.dtype == torch.float32 for p in bi.parameters())
        bi.save(tmp_path / name)
        with safe_open(str(tmp_path / name / "model.safetensors"), "pt") as saved:
            assert {saved.get_tensor(k).dtype for k in saved.keys()} == {torch.float32}
        results[name] = (stats.losses, bi.encode(sentences[:6], precision="fp32"))
        ours = BiEncoder.from_pretrained(tmp_path / name, device="cpu").encode(
            sentences[:6], precision="fp32"
        )
        theirs = SentenceTransformer(str(tmp_path / name), device="cpu").encode(sentences[:6])
        assert np.abs(ours - theirs).max() < 1e-5
    # both learned (moved away from the start), not identically (bf16 rounding changes the path a
    # little), and to the same place within bf16's resolution: fp32 is the reference
    start = BiEncoder.from_pretrained(tiny_model, device="cpu").encode(
        sentences[:6], precision="fp32"
    )
    fp32_moved = np.abs(results["fp32"][1] - start).max()
    assert fp32_moved > 0.01
    assert not np.array_equal(results["fp32"][1], results["bf16"][1])
    assert np.abs(results["fp32"][1] - results["bf16"][1]).max() < 0.25 * fp32_moved


def _tiny_run(model, pairs, out, run_precision):
    return build_config(
        {
            "models": [str(model)],
            "cycles": 1,
            "recipe": "official",
            "data": {"pairs": str(pairs), "eval_data_dir": str(pairs)},
            "priming": {"method": "none"},
            "run": {"output_dir": str(out), "seed": 5, "precision": run_precision,
                    "show_progress_bar": False},
            "cross": {"batch_size": 8, "epochs": 1, "min_steps": None},
            "bi": {"batch_size": 8, "epochs": 1},
        }
    )  # fmt: skip


def test_precision_is_recorded_and_a_resume_in_another_is_refused(
    tiny_model, tmp_path, monkeypatch
):
    sentences = tiny_sentences()
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "".join(f"{a}\t{b}\t{i % 5}\n" for i, (a, b) in enumerate(zip(sentences, sentences[3:])))
    )
    out = tmp_path / "run"
    report = run_trans_encoder(_tiny_run(tiny_model, pairs, out, "bf16"), log=lambda *a: None)
    assert report["precision"] == "bf16"
    assert json.loads((out / "progress.json").read_text())["fingerprint"]["precision"] == "bf16"
    assert "precision: bf16" in (out / "report.md").read_text()
    for kind in ("bi", "cross"):
        assert (
            "precision: `bf16 (weights saved in fp32)`"
            in (out / "cycle-1" / kind / "README.md").read_text()
        )
    # "auto" is fp32 here (conftest), so it is another precision: refused, naming both
    with pytest.raises(RunDirError, match="precision: the run trains in bf16, this start would"):
        run_trans_encoder(_tiny_run(tiny_model, pairs, out, "auto"), log=lambda *a: None)
    # the same precision by another name resumes: "auto" where the device has bf16 units
    monkeypatch.setenv(precision.OVERRIDE, "1")
    again = run_trans_encoder(_tiny_run(tiny_model, pairs, out, "auto"), log=lambda *a: None)
    assert again["evaluation"] == report["evaluation"]
