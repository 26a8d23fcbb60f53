"""Selection on a labelled dev sample: the start is a candidate, the best dev candidate wins,
mixes are float64 hand mixes, and a harmful run leaves the user with the start model."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from transencoder import BiEncoder
from transencoder.eval import EvaluationSuite, read_stsb
from transencoder.testing import tiny_sentences
from transencoder.training import build_config, run_trans_encoder
from transencoder.training.averaging import mix_weights


def _stsb(folder: Path) -> Path:
    sentences, rng = tiny_sentences(), random.Random(2)
    root = folder / "data" / "STSBenchmark"
    root.mkdir(parents=True)
    for split, count in (("train", 40), ("dev", 30), ("test", 30)):
        rows = [
            f"g\tf\t2012\t{i:04d}\t{rng.uniform(0, 5):.3f}\t{rng.choice(sentences)}\t{rng.choice(sentences)}"
            for i in range(count)
        ]
        (root / f"sts-{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder / "data"


def _values(model: Path, out: Path, **extra) -> dict:
    return {
        "models": [str(model)],
        "cycles": 2,
        "recipe": "official",
        "average_bi": True,
        "priming": {"method": "none"},
        "run": {"seed": 5, "output_dir": str(out), "show_progress_bar": False},
        "cross": {"batch_size": 8, "epochs": 1, "min_steps": None},
        "bi": {"batch_size": 8, "epochs": 1},
        **extra,
    }


def test_mix_weights_equal_a_float64_hand_mix():
    start = {
        "w": torch.tensor([1.0, -2.0, 0.3]),
        "h": torch.tensor([0.5], dtype=torch.bfloat16),
        "ids": torch.tensor([0, 1]),
    }
    result = {
        "w": torch.tensor([3.0, 2.0, 0.1]),
        "h": torch.tensor([1.5], dtype=torch.bfloat16),
        "ids": torch.tensor([0, 1]),
    }
    mixed = mix_weights(start, result, 0.25)
    expected = (0.75 * start["w"].double() + 0.25 * result["w"].double()).float()
    assert (
        torch.equal(mixed["w"], expected)
        and mixed["h"].item() == 0.75
        and torch.equal(mixed["ids"], start["ids"])
    )
    with pytest.raises(ValueError, match="non-float tensor that differs"):
        mix_weights(start, {**result, "ids": torch.tensor([1, 0])}, 0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        mix_weights(start, result, 1.5)


def test_selection_picks_the_best_dev_candidate(tiny_model, tmp_path):
    data = _stsb(tmp_path)
    out = tmp_path / "run"
    report = run_trans_encoder(
        build_config(
            _values(
                tiny_model,
                out,
                data={"data_dir": str(data)},
                selection={"stsb_dev": True, "mixes": [0.5]},
            )
        ),
        log=lambda *a: None,
    )
    dev = EvaluationSuite(
        [read_stsb(data / "STSBenchmark" / "sts-dev.csv")], show_progress_bar=False
    )
    candidates = {(c["name"], c["kind"]): c["dev"] for c in report["selection"]["candidates"]}
    assert set(candidates) == {
        ("start", "bi"),
        ("cycle 1", "bi"),
        ("cycle 2", "bi"),
        ("average", "bi"),
        ("mix 0.50", "bi"),
        ("cycle 1", "cross"),
        ("cycle 2", "cross"),
    }
    from transencoder import CrossEncoder

    # Every recorded dev figure is the model's own, scored independently.
    assert candidates[("start", "bi")] == pytest.approx(
        dev(BiEncoder.from_pretrained(tiny_model, device="cpu")).primary, abs=1e-3
    )
    for k in (1, 2):
        bi = BiEncoder.from_pretrained(out / f"cycle-{k}" / "bi", device="cpu")
        cross = CrossEncoder.from_pretrained(out / f"cycle-{k}" / "cross", device="cpu")
        assert candidates[(f"cycle {k}", "bi")] == pytest.approx(dev(bi).primary, abs=1e-3)
        assert candidates[(f"cycle {k}", "cross")] == pytest.approx(dev(cross).primary, abs=1e-3)
    # The mix is (start + average) / 2, weight by weight, and scores as such.
    start = BiEncoder.from_pretrained(tiny_model, device="cpu").state_dict()
    average = BiEncoder.from_pretrained(out / "average" / "bi", device="cpu")
    average.load_state_dict(mix_weights(start, average.state_dict(), 0.5))
    assert candidates[("mix 0.50", "bi")] == pytest.approx(dev(average).primary, abs=1e-3)
    # The chosen bi-encoder is the first with the best dev figure, and selected/bi holds it.
    order = [name for name, kind in candidates if kind == "bi"]
    best = max(order, key=lambda name: (candidates[(name, "bi")], -order.index(name)))
    assert report["selection"]["chosen"]["bi"] == best
    selected = BiEncoder.from_pretrained(out / "selected" / "bi", device="cpu")
    assert dev(selected).primary == pytest.approx(candidates[(best, "bi")], abs=1e-3)
    assert set(report["evaluation"]["selected"]) == {"bi", "cross"}
    assert "best candidate on the dev sample" in report["model_selection"]
    assert "| bi | **" in (out / "report.md").read_text()


def test_a_harmful_run_leaves_the_start_model(tiny_model, tmp_path):
    # The dev sample's gold scores are the start model's own cosines (Spearman 100 for it); the
    # run trains hard on noise, so every trained candidate ranks the dev pairs differently.
    sentences, rng = tiny_sentences(), random.Random(4)
    pairs = [(rng.choice(sentences), rng.choice(sentences)) for _ in range(40)]
    cosines = BiEncoder.from_pretrained(tiny_model, device="cpu").pair_similarity(pairs)
    dev_file = tmp_path / "dev.tsv"
    dev_file.write_text(
        "sentence1\tsentence2\tscore\n"
        + "".join(f"{a}\t{b}\t{2.5 + 2.5 * c:.6f}\n" for (a, b), c in zip(pairs, cosines)),
        encoding="utf-8",
    )
    pool = tmp_path / "pool.tsv"
    pool.write_text(
        "".join(f"{rng.choice(sentences)}\t{rng.choice(sentences)}\n" for _ in range(48)),
        encoding="utf-8",
    )
    out = tmp_path / "run"
    report = run_trans_encoder(
        build_config(
            _values(
                tiny_model,
                out,
                data={"pairs": str(pool), "eval_data_dir": str(dev_file)},
                selection={"dev_data": str(dev_file)},
                bi={"batch_size": 4, "epochs": 3, "lr": 0.05},
            )
        ),
        log=lambda *a: None,
    )
    devs = {(c["name"], c["kind"]): c["dev"] for c in report["selection"]["candidates"]}
    assert devs[("start", "bi")] == pytest.approx(100.0, abs=1e-6)
    assert all(v < 99.9 for (name, kind), v in devs.items() if kind == "bi" and name != "start")
    assert report["selection"]["chosen"]["bi"] == "start"
    chosen = BiEncoder.from_pretrained(out / "selected" / "bi", device="cpu").state_dict()
    start = BiEncoder.from_pretrained(tiny_model, device="cpu").state_dict()
    assert all(torch.equal(chosen[k], start[k]) for k in start)
    assert report["evaluation"]["selected"]["bi"]["average"]["spearman"] == pytest.approx(
        100.0, abs=1e-6
    )
    assert np.isfinite(devs[("cycle 1", "cross")])


def test_select_takes_what_it_needs_as_arguments():
    from transencoder.training.selection import Candidate, select

    class Model(torch.nn.Module):
        def __init__(self, score):
            super().__init__()
            self.score = score

    figures = {"start": 50.0, "cycle 1": 60.0, "cycle 2": 60.0, "mix 0.50": 55.0}
    found = [Candidate(name, "bi", 0, lambda f=f: Model(f)) for name, f in figures.items()]
    found.append(Candidate("cycle 1", "cross", 0, lambda: Model(float("nan"))))
    saved, logged = [], []
    result = select(
        found,
        dev_score=lambda model: model.score,
        save=lambda model, kind, member, name: saved.append((kind, member, name)),
        evaluate=lambda groups: {
            "bi": [m.score for m in groups["bi"]],
            "cross": len(groups["cross"]),
        },
        tag=lambda kind, member: kind,
        log=logged.append,
    )
    # the tie of cycles 1 and 2 goes to the earlier one; an undefined figure still gives a cross
    assert saved == [("bi", 0, "cycle 1"), ("cross", 0, "cycle 1")]
    assert result["chosen"] == {"bi": "cycle 1", "cross": "cycle 1"}
    assert result["eval"] == {"bi": [60.0], "cross": 1}
    assert [c["dev"] for c in result["candidates"]][:4] == [50.0, 60.0, 60.0, 55.0]
    assert len(logged) == 5 and logged[0] == "dev bi start: 50.00"
