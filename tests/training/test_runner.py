"""Trans-Encoder runs on tiny random models: checkpoints, resume after SIGKILL, mutual targets,
the teachers' rules end to end, selection, the report and the average."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from transencoder import BiEncoder, CrossEncoder
from transencoder.testing import tiny_bert_dir, tiny_sentences
from transencoder.training import (
    StepConfig,
    build_config,
    run_trans_encoder,
    train_bi_encoder,
    train_cross_encoder,
)
from transencoder.training.rundir import RunDirError


def _pairs_file(folder: Path, count: int = 60, seed: int = 0) -> Path:
    sentences, rng = tiny_sentences(), random.Random(seed)
    lines = [
        f"{rng.choice(sentences)}\t{rng.choice(sentences)}\t{rng.uniform(0, 5):.2f}"
        for _ in range(count)
    ]
    path = folder / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def _settings(model: Path, pairs: Path, **extra) -> dict:
    """A tiny official-recipe run of one cycle on ``pairs`` (evaluated on the same file)."""
    base = {
        "models": [str(model)],
        "cycles": 1,
        "recipe": "official",
        "data": {"pairs": str(pairs), "eval_data_dir": str(pairs)},
        "priming": {"method": "none"},
        "run": {"seed": 5, "checkpoint_every": 3, "show_progress_bar": False},
        "cross": {"batch_size": 8, "epochs": 2, "min_steps": None},
        "bi": {"batch_size": 8, "epochs": 2},
    }
    return _merge(base, extra)


def _out(path: Path) -> dict:
    return {"run": {"output_dir": str(path)}}


def test_soft_labels_are_fitted(tiny_model):
    pairs = [(a, b) for a, b in zip(tiny_sentences()[:24], tiny_sentences()[5:29])]
    labels = np.random.default_rng(0).uniform(0.1, 0.9, len(pairs))
    torch.manual_seed(0)
    cross = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    stats = train_cross_encoder(
        cross,
        pairs,
        labels,
        StepConfig(epochs=60, batch_size=8, lr=3e-3, max_length=32),
        seed=0,
        show_progress_bar=False,
    )
    floor = -np.mean(
        labels * np.log(labels) + (1 - labels) * np.log(1 - labels)
    )  # BCE at a perfect fit
    assert stats.losses[-1] - floor < 0.1 * (stats.losses[0] - floor)
    forward, backward = cross.predict(pairs), cross.predict([(b, a) for a, b in pairs])
    assert np.abs(forward - labels).mean() < 0.05 and np.abs(backward - labels).mean() < 0.05

    bi = BiEncoder.from_pretrained(tiny_model, device="cpu")
    targets = np.random.default_rng(1).uniform(0.0, 0.9, len(pairs))
    stats = train_bi_encoder(
        bi,
        pairs,
        targets,
        StepConfig(epochs=60, batch_size=8, lr=3e-3, max_length=32),
        seed=0,
        show_progress_bar=False,
    )
    assert stats.losses[-1] < 0.1 * stats.losses[0]
    assert np.abs(bi.pair_similarity(pairs) - targets).mean() < 0.05


def test_one_cycle_writes_loadable_checkpoints_and_report(tiny_model, tmp_path):
    from sentence_transformers import CrossEncoder as STCrossEncoder
    from sentence_transformers import SentenceTransformer

    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    settings = _settings(tiny_model, pairs, teachers={"both_orders": True}, **_out(out))
    report = run_trans_encoder(build_config(settings), log=lambda *a: None)
    assert set(report["evaluation"]) == {"start", "cycle 1"}
    assert set(report["evaluation"]["cycle 1"]) == {"bi", "cross"}
    sentences = tiny_sentences()[:6]
    ours = BiEncoder.from_pretrained(out / "cycle-1" / "bi", device="cpu").encode(sentences)
    assert (
        np.abs(
            SentenceTransformer(str(out / "cycle-1" / "bi"), device="cpu").encode(sentences) - ours
        ).max()
        < 1e-5
    )
    pairs_ = list(zip(sentences, sentences[1:]))
    ours = CrossEncoder.from_pretrained(out / "cycle-1" / "cross", device="cpu").predict(pairs_)
    assert (
        np.abs(
            STCrossEncoder(str(out / "cycle-1" / "cross"), device="cpu").predict(pairs_) - ours
        ).max()
        < 1e-5
    )
    for name in ("report.json", "report.md", "evaluation.png", "progress.json"):
        assert (out / name).is_file(), name
    # The cross-encoder is evaluated as it teaches (teachers.both_orders): mean of both orders.
    from transencoder.eval import StsEvaluator, find_tasks

    cross = CrossEncoder.from_pretrained(out / "cycle-1" / "cross", device="cpu")
    reported = report["evaluation"]["cycle 1"]["cross"]["average"]["spearman"]
    scored = {
        both: StsEvaluator(find_tasks(str(pairs)), show_progress_bar=False, both_orders=both)(
            cross
        ).primary
        for both in (True, False)
    }
    assert reported == pytest.approx(scored[True], abs=1e-3)
    assert abs(scored[True] - scored[False]) > 1e-3  # the two orders' scores do differ here
    assert "| cycle 1 |" in (out / "report.md").read_text()
    assert not list((out / "state").glob("*.pt"))  # snapshots are removed once a phase is saved


def _train_command(config: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "transencoder",
        "train",
        "--config",
        str(config),
        "--output-dir",
        str(out),
    ]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_kill_and_resume_ends_like_an_unbroken_run(tiny_model, tmp_path, precision):
    pairs = _pairs_file(tmp_path, count=120)
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            _settings(
                tiny_model,
                pairs,
                cross={"batch_size": 4, "epochs": 3},
                bi={"batch_size": 4, "epochs": 3},
                run={"precision": precision},
            )
        )
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    unbroken = tmp_path / "unbroken"
    subprocess.run(
        _train_command(config, unbroken), check=True, env=env, capture_output=True, timeout=600
    )

    broken, kills_mid_phase, attempts = tmp_path / "broken", 0, 0
    while kills_mid_phase < 3 and attempts < 12:
        attempts += 1
        process = subprocess.Popen(
            _train_command(config, broken),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 300
        while process.poll() is None and time.time() < deadline:
            snapshots = list((broken / "state").glob("*.pt")) if (broken / "state").is_dir() else []
            if snapshots:  # a phase is under way and has written a snapshot: kill it mid-phase
                time.sleep(random.Random(attempts).uniform(0.0, 0.3))
                process.send_signal(signal.SIGKILL)
                kills_mid_phase += 1
                break
            time.sleep(0.005)
        process.wait()
        if process.returncode == 0:
            break
    assert kills_mid_phase >= 1
    final = subprocess.run(
        _train_command(config, broken), env=env, capture_output=True, text=True, timeout=600
    )
    assert final.returncode == 0, final.stderr[-2000:]
    expected = json.loads((unbroken / "report.json").read_text())
    resumed = json.loads((broken / "report.json").read_text())
    assert resumed["evaluation"] == expected["evaluation"]
    assert resumed["precision"] == expected["precision"] == precision
    for kind in ("bi", "cross"):
        from safetensors.torch import load_file

        a = load_file(str(unbroken / "cycle-1" / kind / "model.safetensors"))
        b = load_file(str(broken / "cycle-1" / kind / "model.safetensors"))
        assert all(torch.equal(a[key], b[key]) for key in a), kind


@pytest.mark.parametrize("scale", ["auto", "bi"])
def test_the_run_gives_the_cross_encoder_the_resolved_target_scale(tiny_model, tmp_path, scale):
    from transencoder.training.teachers import CROWDED_SD, normalized_ranks

    out = tmp_path / scale
    settings = _settings(tiny_model, _pairs_file(tmp_path), teachers={"cross_scale": scale})
    run_trans_encoder(build_config(_merge(settings, _out(out))), log=lambda *a: None)
    bi = np.load(out / "labels" / "cycle-1-bi-scores.npy")
    targets = np.load(out / "labels" / "cycle-1-cross-targets.npy")
    resolved = json.loads((out / "progress.json").read_text())["results"]["cycle-1/label-bi"]
    assert np.std(bi) < CROWDED_SD  # a random tiny BERT's cosines crowd, so auto spreads them
    if scale == "auto":
        assert resolved["cross_scale"] == "uniform"
        np.testing.assert_allclose(targets, normalized_ranks(bi), atol=1e-7)
    else:
        assert resolved["cross_scale"] == "bi"
        np.testing.assert_allclose(targets, np.clip(bi, 0, 1), atol=1e-7)


def test_the_cross_encoder_trains_with_the_asked_dropout(tiny_model, tmp_path, monkeypatch):
    from transencoder.training import runner

    seen = []
    fit = runner.TransEncoderRun._fit

    def watch(self, phase, model, trainer, rebuild, *args, **kwargs):
        if trainer is train_cross_encoder:
            seen.append({m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)})
        return fit(self, phase, model, trainer, rebuild, *args, **kwargs)

    monkeypatch.setattr(runner.TransEncoderRun, "_fit", watch)
    out = tmp_path / "run"
    settings = _settings(tiny_model, _pairs_file(tmp_path), cross={"dropout": 0.25}, **_out(out))
    run_trans_encoder(build_config(settings), log=lambda *a: None)
    assert seen == [{0.25}]  # the tiny BERT's own is 0.1
    saved = json.loads((out / "cycle-1" / "cross" / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == saved["attention_probs_dropout_prob"] == 0.25
    assert json.loads((out / "progress.json").read_text())["config"]["cross"]["dropout"] == 0.25


def _scored_pairs_file(path: Path, pairs, scores) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{a}\t{b}\t{s:.6f}" for (a, b), s in zip(pairs, scores)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("gold_view", ["token_f1", "pooled"])
def test_the_dev_sample_chooses_the_view_the_cross_encoder_learns(tiny_model, tmp_path, gold_view):
    """A dev sample whose gold scores are one view of the start model makes that view the
    cross-encoder's teacher: the cycle-1 labels are that view's scores of the pool, the model
    card names it, and a resumed run keeps the choice whatever dev sample it is given."""
    from transencoder.training.pairs import pool_from_pairs_file
    from transencoder.training.views import view_scores

    start = BiEncoder.from_pretrained(tiny_model, device="cpu")
    (tmp_path / "x").mkdir()
    dev_pairs = pool_from_pairs_file(_pairs_file(tmp_path / "x", count=40, seed=1)).pairs
    gold = {v: view_scores(start, dev_pairs, [v])[v] for v in ("pooled", "token_f1")}
    dev = _scored_pairs_file(tmp_path / "dev" / "dev.tsv", dev_pairs, gold[gold_view])
    pool_file, out = _pairs_file(tmp_path), tmp_path / "run"
    settings = _settings(
        tiny_model, pool_file,
        teachers={"dev_views": True, "start_views": ["pooled", "first_last", "token_f1"]},
        selection={"dev_data": str(dev)}, **_out(out),
    )  # fmt: skip
    run_trans_encoder(build_config(settings), log=lambda *a: None)
    record = json.loads((out / "progress.json").read_text())["label_views"]
    assert record["chosen"] == [gold_view]
    assert record["dev"][gold_view] == pytest.approx(100.0, abs=1e-6)
    assert set(record["dev"]) == {
        "pooled",
        "first_last",
        "token_f1",
        "pooled + first_last + token_f1",
    }
    # The tiny BERT's first_last view orders its pairs as pooled does: with pooled gold they
    # tie at 100 and the configured label_views (pooled) win the tie.
    assert record["dev"]["first_last"] == record["dev"]["pooled"]
    others = [f for view, f in record["dev"].items() if view not in (gold_view, "first_last")]
    assert max(others) < 99.9
    pool = pool_from_pairs_file(pool_file).pairs
    labels = np.load(out / "labels" / "cycle-1-bi-scores.npy")
    np.testing.assert_allclose(labels, view_scores(start, pool, [gold_view])[gold_view], atol=1e-5)
    card = (out / "cycle-1" / "cross" / "README.md").read_text(encoding="utf-8")
    assert f"the start bi-encoder: {gold_view} (weight 1)" in card
    # Resumed with a dev sample that favours the other view: the recorded choice stays.
    other = "pooled" if gold_view == "token_f1" else "token_f1"
    _scored_pairs_file(dev, dev_pairs, gold[other])
    run_trans_encoder(build_config(settings), log=lambda *a: None)
    progress = json.loads((out / "progress.json").read_text())
    assert progress["label_views"] == record
    np.testing.assert_array_equal(np.load(out / "labels" / "cycle-1-bi-scores.npy"), labels)
    assert progress["config"]["teachers"]["label_views"] == ["pooled"]  # the settings as given


def test_without_a_dev_sample_the_configured_views_label(tiny_model, tmp_path):
    out = tmp_path / "run"
    settings = _settings(
        tiny_model, _pairs_file(tmp_path), teachers={"dev_views": True}, **_out(out)
    )
    run_trans_encoder(build_config(settings), log=lambda *a: None)
    progress = json.loads((out / "progress.json").read_text())
    assert "label_views" not in progress
    start = BiEncoder.from_pretrained(tiny_model, device="cpu")
    from transencoder.training.pairs import pool_from_pairs_file

    pool = pool_from_pairs_file(_pairs_file(tmp_path)).pairs
    np.testing.assert_allclose(
        np.load(out / "labels" / "cycle-1-bi-scores.npy"), start.pair_similarity(pool), atol=1e-6
    )


@pytest.mark.parametrize("crowds", [True, False])
def test_crowded_labels_use_the_crowded_views(tiny_model, tmp_path, monkeypatch, crowds):
    """When cycle 1's labels under label_views crowd (standard deviation below CROWDED_SD) the
    cross-encoder learns crowded_views' scores instead; otherwise the measured labels are the
    cycle-1 labels. The ledger records the choice and the spread, the card names the views, and
    a resumed run labels as it began even when the rule would now decide otherwise."""
    from transencoder.training import teachers
    from transencoder.training.pairs import pool_from_pairs_file
    from transencoder.training.views import view_scores

    pool_file, out = _pairs_file(tmp_path), tmp_path / "run"
    pool = pool_from_pairs_file(pool_file).pairs
    start = BiEncoder.from_pretrained(tiny_model, device="cpu")
    spread = float(np.std(start.pair_similarity(pool)))
    assert spread < teachers.CROWDED_SD  # a tiny random BERT's cosines crowd together
    if not crowds:
        monkeypatch.setattr(teachers, "CROWDED_SD", spread / 2)
    settings = _settings(
        tiny_model, pool_file, teachers={"crowded_views": ["token_f1"]}, **_out(out)
    )
    run_trans_encoder(build_config(settings), log=lambda *a: None)
    progress = json.loads((out / "progress.json").read_text())
    chosen = "token_f1" if crowds else "pooled"
    record = {"chosen": [chosen], "label_sd": round(spread, 4)}
    if crowds:  # the pairs' words, looked at only when the labels crowd
        record["shared_words"] = round(teachers.shared_words(pool), 4)
        assert record["shared_words"] <= teachers.SHARED_WORDS_MAX
    assert progress["label_views"] == record
    labels = np.load(out / "labels" / "cycle-1-bi-scores.npy")
    expected = view_scores(start, pool, [chosen])[chosen]
    np.testing.assert_allclose(labels, expected, atol=1e-5)
    card = (out / "cycle-1" / "cross" / "README.md").read_text(encoding="utf-8")
    assert f"the start bi-encoder: {chosen} (weight 1)" in card
    assert progress["config"]["teachers"]["label_views"] == ["pooled"]  # the settings as given
    # Resumed (one more cycle) with the threshold on the other side: the recorded views stay.
    monkeypatch.setattr(teachers, "CROWDED_SD", spread / 2 if crowds else 0.2)
    run_trans_encoder(build_config({**settings, "cycles": 2}), log=lambda *a: None)
    resumed = json.loads((out / "progress.json").read_text())
    assert resumed["label_views"] == progress["label_views"]
    np.testing.assert_array_equal(np.load(out / "labels" / "cycle-1-bi-scores.npy"), labels)


def test_crowded_labels_of_word_swaps_use_the_words_order(tiny_model, tmp_path):
    """A pool of word-swap pairs whose cycle-1 cosines crowd: the labels are the pairs'
    word_order scores (no model); the ledger, the log and the card say so."""
    from transencoder.training import teachers
    from transencoder.training.pairs import pool_from_pairs_file
    from transencoder.training.views import word_order

    rng, lines = random.Random(3), []
    for sentence in tiny_sentences()[:40]:
        words = sentence.split()
        swapped = words[:]
        i, j = rng.sample(range(len(words)), 2) if len(words) > 1 else (0, 0)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        lines.append(f"{sentence}\t{' '.join(swapped)}\t{rng.uniform(0, 5):.2f}")
    pool_file, out = tmp_path / "swaps.tsv", tmp_path / "run"
    pool_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pool = pool_from_pairs_file(pool_file).pairs
    assert teachers.shared_words(pool) > teachers.SHARED_WORDS_MAX
    settings = _settings(
        tiny_model,
        pool_file,
        teachers={
            "crowded_views": ["token_f1"],
            "swapped_views": ["word_order"],
            "cross_scale": "auto",
        },
        **_out(out),
    )
    logged = []
    run_trans_encoder(build_config(settings), log=logged.append)
    record = json.loads((out / "progress.json").read_text())["label_views"]
    assert record["chosen"] == ["word_order"] and record["label_sd"] < teachers.CROWDED_SD
    labels = np.load(out / "labels" / "cycle-1-bi-scores.npy")
    np.testing.assert_allclose(labels, word_order(pool))
    targets = np.load(out / "labels" / "cycle-1-cross-targets.npy")
    expected = teachers.cross_targets(labels, None, teachers.TeacherConfig(), scale="uniform")
    if not teachers.crowded(labels):  # auto: uniform only when these labels crowd too
        expected = np.clip(labels, 0, 1)
    np.testing.assert_allclose(targets, expected)
    card = (out / "cycle-1" / "cross" / "README.md").read_text(encoding="utf-8")
    assert "the start bi-encoder: word_order (weight 1)" in card
    assert any("teachers.swapped_views" in str(line) for line in logged)


def test_mutual_distillation_targets_are_member_means(tiny_model, tmp_path):
    second = tiny_bert_dir(tmp_path / "second", seed=1, hidden_size=48, num_heads=3)
    pairs_file = _pairs_file(tmp_path)
    out = tmp_path / "mutual"
    config = build_config(
        _settings(tiny_model, pairs_file, models=[str(tiny_model), str(second)], **_out(out))
    )
    report = run_trans_encoder(config, log=lambda *a: None)
    from transencoder.training.pairs import pool_from_pairs_file

    pairs = pool_from_pairs_file(pairs_file).pairs
    starts = [BiEncoder.from_pretrained(path, device="cpu") for path in (tiny_model, second)]
    cosines = np.mean([model.pair_similarity(pairs) for model in starts], axis=0)
    np.testing.assert_allclose(
        np.load(out / "labels" / "cycle-1-cross-targets.npy"), np.clip(cosines, 0, 1), atol=1e-6
    )
    crosses = [
        CrossEncoder.from_pretrained(out / "cycle-1" / f"cross-{m}", device="cpu") for m in (1, 2)
    ]
    scores = np.mean([model.predict(pairs) for model in crosses], axis=0)
    np.testing.assert_allclose(
        np.load(out / "labels" / "cycle-1-bi-targets.npy"), scores, atol=1e-6
    )
    assert {"bi-1", "bi-2", "bi-ensemble", "cross-1", "cross-2", "cross-ensemble"} <= set(
        report["evaluation"]["cycle 1"]
    )


def test_start_views_anchor_the_bi_encoder_labels(tiny_model, tmp_path):
    from transencoder.training.pairs import pool_from_pairs_file
    from transencoder.training.teachers import combine_teachers, views_teacher
    from transencoder.training.views import view_scores

    pairs_file = _pairs_file(tmp_path)
    out = tmp_path / "views"
    views = ["pooled", "first_last", "token_f1"]
    run_trans_encoder(
        build_config(
            _settings(
                tiny_model,
                pairs_file,
                **_out(out),
                recipe="recommended",
                teachers={"start_views": views, "bi_from_start": 0.5, "crowded_views": []},
                cross={"batch_size": 8, "epochs": 1},
                bi={"batch_size": 8, "epochs": 1},
            )
        ),
        log=lambda *a: None,
    )
    pairs = pool_from_pairs_file(pairs_file).pairs
    start = BiEncoder.from_pretrained(tiny_model, device="cpu")
    labels = out / "labels"
    cosines = start.pair_similarity(pairs)
    np.testing.assert_allclose(
        np.load(labels / "cycle-1-bi-scores.npy"), cosines, atol=1e-6
    )  # label_views: pooled
    anchor = views_teacher(view_scores(start, pairs, views))
    np.testing.assert_allclose(np.load(labels / "start-views-scores.npy"), anchor, atol=1e-6)
    # The bi-encoder's targets: the cross-encoder and the start model's views, half each.
    expected = combine_teachers(
        [np.load(labels / "cycle-1-cross-scores.npy"), anchor],
        [0.5, 0.5],
        mode="rank",
        reference=cosines,
    )
    np.testing.assert_allclose(np.load(labels / "cycle-1-bi-targets.npy"), expected, atol=1e-6)


@pytest.mark.parametrize("bi_init", ["start", "continue"])
def test_bi_targets_take_the_scale_of_the_student_start(tiny_model, tmp_path, bi_init):
    # Rank-mode bi-encoder targets carry the cosine distribution of the model the bi step starts
    # from: the start model's when it restarts each cycle, the previous bi-encoder's when it continues.
    from transencoder.training.teachers import combine_teachers

    pairs_file = _pairs_file(tmp_path)
    out = tmp_path / bi_init
    run_trans_encoder(
        build_config(
            _settings(
                tiny_model,
                pairs_file,
                **_out(out),
                recipe="recommended",
                cycles=2,
                teachers={"start_views": ["pooled"], "bi_from_start": 0.25, "crowded_views": []},
                cross={"batch_size": 8, "epochs": 1},
                bi={"batch_size": 8, "epochs": 1, "init": bi_init},
            )
        ),
        log=lambda *a: None,
    )
    labels = out / "labels"
    start_cosines = np.load(labels / "cycle-1-bi-scores.npy")
    cycle_1_cosines = np.load(labels / "cycle-2-bi-scores.npy")  # the cycle-1 bi-encoder's
    assert (
        np.abs(np.sort(start_cosines) - np.sort(cycle_1_cosines)).max() > 1e-4
    )  # training moved it
    scale = start_cosines if bi_init == "start" else cycle_1_cosines
    expected = combine_teachers(
        [np.load(labels / "cycle-2-cross-scores.npy"), start_cosines],
        [0.75, 0.25],
        mode="rank",
        reference=scale,
    )
    np.testing.assert_allclose(np.load(labels / "cycle-2-bi-targets.npy"), expected, atol=1e-6)


@pytest.mark.parametrize("bi_scale", ["labels", "cosine"])
def test_token_f1_labels_map_the_bi_targets_onto_the_asked_scale(tiny_model, tmp_path, bi_scale):
    # With token_f1 labels, rank-mode bi-encoder targets take the values of token-F1's scores
    # (labels) or of the labelling bi-encoder's pooled cosines (cosine): the start model's in
    # cycle 1, the cycle-1 bi-encoder's in cycle 2 when the bi step continues.
    from transencoder.training.pairs import pool_from_pairs_file
    from transencoder.training.views import view_scores

    pairs_file, out = _pairs_file(tmp_path), tmp_path / bi_scale
    teachers = {"label_views": ["token_f1"], "start_views": ["pooled"], "bi_from_start": 0.25,
                "crowded_views": [], "bi_scale": bi_scale}  # fmt: skip
    settings = _settings(
        tiny_model, pairs_file, **_out(out), recipe="recommended", cycles=2, teachers=teachers,
        cross={"batch_size": 8, "epochs": 1}, bi={"batch_size": 8, "epochs": 1, "init": "continue"},
    )  # fmt: skip
    run_trans_encoder(build_config(settings), log=lambda *a: None)
    pool, labels = pool_from_pairs_file(pairs_file).pairs, out / "labels"
    for k, labeller in ((1, tiny_model), (2, out / "cycle-1" / "bi")):
        cosines = view_scores(BiEncoder.from_pretrained(labeller, device="cpu"), pool, ["pooled"])
        token_f1 = np.load(labels / f"cycle-{k}-bi-scores.npy")
        assert np.abs(np.sort(token_f1) - np.sort(cosines["pooled"])).max() > 0.05  # other scales
        scale = cosines["pooled"] if bi_scale == "cosine" else token_f1
        targets = np.load(labels / f"cycle-{k}-bi-targets.npy")
        np.testing.assert_allclose(np.sort(targets), np.sort(scale), atol=2e-3)


def test_existing_run_with_other_config_is_refused(tiny_model, tmp_path):
    pairs = _pairs_file(tmp_path, count=16)
    out = tmp_path / "run"
    run_trans_encoder(build_config(_settings(tiny_model, pairs, **_out(out))), log=lambda *a: None)
    with pytest.raises(RunDirError, match=r"different configuration \(run.seed: 5 there, 6 now\)"):
        run_trans_encoder(
            build_config(_settings(tiny_model, pairs, run={"output_dir": str(out), "seed": 6})),
            log=lambda *a: None,
        )


def test_resume_under_another_strategy_is_refused(tiny_model, tmp_path, capsys):
    from accelerate.state import AcceleratorState

    from transencoder.cli import main
    from transencoder.training.runtime import LocalRuntime

    pairs = _pairs_file(tmp_path, count=16)
    out = tmp_path / "run"
    settings = _settings(tiny_model, pairs, **_out(out))
    run_trans_encoder(build_config(settings), log=lambda *a: None)
    recorded = json.loads((out / "progress.json").read_text(encoding="utf-8"))
    assert recorded["config"]["distributed"]["name"] == "none"
    assert recorded["fingerprint"]["layout"] == {
        "strategy": "none",
        "processes": 1,
        "group_size": 1,
    }
    file = tmp_path / "run.yaml"
    file.write_text(yaml.safe_dump(settings), encoding="utf-8")
    try:
        code = main(["train", "--config", str(file), "--strategy", "ddp"])
    finally:
        AcceleratorState._reset_state(True)  # the refused start made an Accelerator
    assert code == 1
    assert (
        "distributed: the run trains in one process, this start would train under ddp on 1 "
        "processes in groups of 1 (resume it without --strategy, in one process)"
    ) in capsys.readouterr().err

    class Grouped(LocalRuntime):  # the layout a launch of 4 ranks in groups of 2 reports
        def layout(self):
            return {"strategy": "gtc-bmuf", "processes": 4, "group_size": 2}

    other = tmp_path / "grouped"
    run_trans_encoder(
        build_config(_settings(tiny_model, pairs, **_out(other))), runtime=Grouped(),
        log=lambda *a: None,
    )  # fmt: skip
    with pytest.raises(
        RunDirError, match=r"resume it with --strategy gtc-bmuf --group-size 2 on 4"
    ):
        run_trans_encoder(build_config(_settings(tiny_model, pairs, **_out(other))), log=print)


def test_moved_run_directory_resumes(tiny_model, tmp_path):
    # A finished run moved elsewhere resumes there (output_dir and display settings are not part of
    # the comparison): every phase is done, so nothing is retrained and the report is the same.
    pairs = _pairs_file(tmp_path, count=16)
    first = run_trans_encoder(
        build_config(_settings(tiny_model, pairs, **_out(tmp_path / "a"))), log=lambda *a: None
    )
    (tmp_path / "a").rename(tmp_path / "b")
    logged = []
    again = run_trans_encoder(
        build_config(
            _settings(
                tiny_model, pairs, run={"output_dir": str(tmp_path / "b"), "checkpoint_every": 5}
            )
        ),
        log=logged.append,
    )
    assert any("phases done" in line for line in logged)
    assert not [line for line in logged if line.startswith("== ")]  # no phase ran again
    assert again["evaluation"] == first["evaluation"] and again["phases"] == first["phases"]
    assert again["config"]["run"]["output_dir"] == str(tmp_path / "b")


def test_report_is_written_after_each_cycle(tiny_model, tmp_path, monkeypatch):
    from transencoder.training import TransEncoderRun

    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    config = build_config(
        _settings(
            tiny_model,
            pairs,
            **_out(out),
            cycles=2,
            cross={"batch_size": 8, "epochs": 1},
            bi={"batch_size": 8, "epochs": 1},
        )
    )
    original = TransEncoderRun.label_bi

    def stop_in_cycle_two(self, phase):
        if phase.cycle == 2:
            raise KeyboardInterrupt
        return original(self, phase)

    monkeypatch.setattr(TransEncoderRun, "label_bi", stop_in_cycle_two)  # what its spec runs
    with pytest.raises(KeyboardInterrupt):
        run_trans_encoder(config, log=lambda *a: None)
    partial = json.loads((out / "report.json").read_text())
    assert set(partial["evaluation"]) == {"start", "cycle 1"}
    assert "| cycle 1 |" in (out / "report.md").read_text()

    # The same report again from the run's files alone, without training (`transencoder report`,
    # bench_quality's --summarise-only); a directory without a run is an error.
    from transencoder.training.report import rebuild_report

    (out / "report.json").unlink()
    again = rebuild_report(out)
    assert again["evaluation"] == partial["evaluation"]
    assert json.loads((out / "report.json").read_text())["evaluation"] == partial["evaluation"]
    with pytest.raises(RunDirError, match="no run there"):
        rebuild_report(tmp_path / "empty")


def test_average_bi_is_the_weight_mean_of_the_cycles(tiny_model, tmp_path):
    # A finished 2-cycle run, started again with average_bi on, runs only the averaging phases
    # (the setting changes no trained model); <out>/average/bi holds the float64 mean of the two
    # cycles' weights, loads in sentence-transformers, and the report's "average" row is its score.
    from sentence_transformers import SentenceTransformer

    from transencoder.eval import StsEvaluator, find_tasks

    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    settings = _settings(
        tiny_model,
        pairs,
        **_out(out),
        cycles=2,
        cross={"batch_size": 8, "epochs": 1},
        bi={"batch_size": 8, "epochs": 1},
    )
    first = run_trans_encoder(build_config(settings), log=lambda *a: None)
    assert "average" not in first["evaluation"] and not (out / "average").exists()
    logged = []
    report = run_trans_encoder(build_config({**settings, "average_bi": True}), log=logged.append)
    assert [line for line in logged if line.startswith("== ")] == [
        "== average/bi",
        "== average/eval",
    ]

    states = [
        BiEncoder.from_pretrained(out / f"cycle-{k}" / "bi", device="cpu").state_dict()
        for k in (1, 2)
    ]
    average = BiEncoder.from_pretrained(out / "average" / "bi", device="cpu")
    moved = 0
    for name, tensor in average.state_dict().items():
        if tensor.is_floating_point():
            expected = (states[0][name].double() + states[1][name].double()) / 2
            assert torch.allclose(tensor.double(), expected, atol=1e-7), name
            moved += int((states[0][name] != states[1][name]).any())
    assert moved > 10  # the two cycles' bi-encoders differ, so the mean is a third model
    sentences = tiny_sentences()[:6]
    reference = SentenceTransformer(str(out / "average" / "bi"), device="cpu").encode(sentences)
    assert np.abs(reference - average.encode(sentences)).max() < 1e-5

    evaluator = StsEvaluator(find_tasks(str(pairs)), show_progress_bar=False)
    assert set(report["evaluation"]["average"]) == {"bi"}
    assert report["evaluation"]["average"]["bi"]["average"]["spearman"] == pytest.approx(
        evaluator(average).primary, abs=1e-3
    )
    assert report["evaluation"]["cycle 2"] == first["evaluation"]["cycle 2"]
    assert "weight average of the 2 cycles' bi-encoders" in report["model_selection"]
    assert "| average |" in (out / "report.md").read_text()
