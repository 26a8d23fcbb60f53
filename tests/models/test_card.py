"""Model cards: Hub metadata that parses back to the run's figures, and models that still load."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from transencoder import BiEncoder, CrossEncoder
from transencoder.models import card as card_module
from transencoder.models.card import (
    ModelCardInfo,
    read_model_card_info,
    update_model_card_results,
    write_model_card,
)
from transencoder.testing import tiny_sentences

SENTENCES = tiny_sentences()[:6]
PAIRS = [(SENTENCES[i], SENTENCES[(i + 2) % 6]) for i in range(6)]

STS_RESULTS = {
    "tasks": {
        "STS12": {"spearman": 72.3712, "pearson": 70.5, "n": 3108, "aggregation": "all"},
        "STSB": {"spearman": 81.9634, "pearson": 82.1, "n": 1379, "aggregation": "all"},
        "SICKR": {"spearman": float("nan"), "pearson": float("nan"), "n": 1, "aggregation": "all"},
    },
    "average": {"spearman": 77.1673, "pearson": 76.3},
    "n": 4488,
    "aggregation": "all",
    "models": ["x"],
}
PAIR_RESULTS = {
    "tasks": {
        "STSB": {"spearman": 80.25, "pearson": 79.5, "n": 1379},
        "QQP": {
            "auc": 84.12,
            "ap": 77.31,
            "accuracy": 76.0,
            "f1": 71.5,
            "n": 400,
            "positives": 150,
        },
    },
    "average": {"spearman": 80.25, "pearson": 79.5},
}


def _info(kind: str, results=None, **fields) -> ModelCardInfo:
    return ModelCardInfo(
        kind=kind,
        base_model="default",
        description=f"the {kind}-encoder of cycle 2",
        recipe="recommended",
        cycle=2,
        cycles=3,
        teachers=["the cycle-1 bi-encoder's cosines (weight 0.50)"],
        pool="2000 unique pairs [STSB 2000], 3 duplicates dropped from the source",
        transductive=True,
        seed=2021,
        results=results,
        **fields,
    )


def _load(model_dir):
    from huggingface_hub import ModelCard

    # ignore_metadata_errors=False: a malformed model-index raises instead of being dropped.
    return ModelCard.load(model_dir / "README.md", ignore_metadata_errors=False)


def _index(card) -> dict[tuple[str, str], tuple[str, float]]:
    """(dataset name, metric type) -> (task type, value) of the card's model-index."""
    return {
        (r.dataset_name, r.metric_type): (r.task_type, r.metric_value)
        for r in card.data.eval_results
    }


def _body_rows(text: str) -> dict[str, list[str]]:
    """The cells of the body's Markdown tables, by first cell."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| task"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_bi_encoder_card_parses_back_to_the_results_and_the_model_still_loads(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = BiEncoder.from_pretrained(tiny_model, device="cpu")
    model.save(tmp_path / "bi", card=_info("bi", STS_RESULTS))
    card = _load(tmp_path / "bi")
    assert card.data.library_name == "sentence-transformers"
    assert card.data.pipeline_tag == "sentence-similarity"
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"  # what "default" is
    assert "trans-encoder" in card.data.tags
    index = _index(card)
    expected = {
        (task, f"{metric}_cosine"): ("semantic-similarity", scores[metric])
        for task, scores in STS_RESULTS["tasks"].items()
        for metric in ("spearman", "pearson")
        if not math.isnan(scores[metric])  # an undefined figure is not a result
    }
    assert index == expected
    rows = _body_rows(card.text)
    assert rows["STS12"][:3] == ["3108", "72.37", "70.50"]
    assert rows["SICKR"][1] == "n/a"
    assert rows["**average**"][1] == "**77.17**"
    theirs = SentenceTransformer(str(tmp_path / "bi"), device="cpu").encode(SENTENCES)
    assert np.abs(theirs - model.encode(SENTENCES)).max() < 1e-5


def test_cross_encoder_card_says_how_to_score_pairs_and_the_model_still_loads(tiny_model, tmp_path):
    from sentence_transformers import CrossEncoder as STCrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    model.save(tmp_path / "cross", card=_info("cross", PAIR_RESULTS))
    card = _load(tmp_path / "cross")
    assert card.data.pipeline_tag == "text-ranking"  # sentence-transformers' tag for one logit
    assert _index(card) == {
        ("STSB", "spearman"): ("semantic-similarity", 80.25),
        ("STSB", "pearson"): ("semantic-similarity", 79.5),
        **{
            ("QQP", metric): ("pair-classification", PAIR_RESULTS["tasks"]["QQP"][metric])
            for metric in ("auc", "ap", "accuracy", "f1")
        },
    }
    text = card.text
    assert "CrossEncoder(" in text and ".predict([" in text
    assert "Score pairs, never single sentences" in text
    assert re.search(r"\(\"[^\"]+\", \"[^\"]+\"\)", text)  # the example passes (a, b) tuples
    assert _body_rows(text)["QQP"] == ["400", "150", "84.12", "77.31", "76.00", "71.50"]
    theirs = STCrossEncoder(str(tmp_path / "cross"), device="cpu").predict(PAIRS)
    assert np.abs(theirs - model.predict(PAIRS)).max() < 1e-5


def test_bi_encoder_pair_tasks_use_cosine_metric_types(tmp_path):
    (tmp_path / "m").mkdir()
    write_model_card(tmp_path / "m", _info("bi", PAIR_RESULTS))
    index = _index(_load(tmp_path / "m"))
    assert index[("QQP", "cosine_auc")] == ("pair-classification", 84.12)
    assert index[("STSB", "spearman_cosine")] == ("semantic-similarity", 80.25)


def test_plain_save_writes_a_minimal_card(tiny_model, tmp_path):
    BiEncoder.from_pretrained(tiny_model, device="cpu").save(tmp_path / "bi")
    card = _load(tmp_path / "bi")
    assert card.data.pipeline_tag == "sentence-similarity"
    assert card.data.base_model is None  # a local directory is not a hub id
    assert "trans-encoder" not in card.data.tags  # nothing says it was trained so
    assert "records no Trans-Encoder training" in card.text
    assert not card.data.eval_results
    assert "No evaluation results" in card.text and "SentenceTransformer(" in card.text
    info = read_model_card_info(tmp_path / "bi")
    assert info.kind == "bi" and info.base_model == str(tiny_model)


def test_update_adds_results_and_keeps_the_training_record(tiny_model, tmp_path):
    model = CrossEncoder.from_pretrained(tiny_model, device="cpu")
    saved = _info("cross", extra={"cross.lr": 2e-5})
    model.save(tmp_path / "cross", card=saved)
    assert not _load(tmp_path / "cross").data.eval_results  # saved before it is evaluated
    start = {
        "tasks": {"STS12": {"spearman": 65.0, "pearson": 60.0, "n": 3108}},
        "average": {"spearman": 65.0},
    }
    update_model_card_results(tmp_path / "cross", STS_RESULTS, start_results=start)
    card = _load(tmp_path / "cross")
    assert _index(card)[("STSB", "spearman")] == ("semantic-similarity", 81.9634)
    info = read_model_card_info(tmp_path / "cross")
    for name in (
        "kind",
        "base_model",
        "recipe",
        "cycle",
        "teachers",
        "pool",
        "seed",
        "extra",
        "versions",
    ):
        assert getattr(info, name) == getattr(saved, name), name
    assert _body_rows(card.text)["STS12"] == ["3108", "72.37", "70.50", "65.00"]
    update_model_card_results(tmp_path / "cross", PAIR_RESULTS)  # start results are kept
    assert _body_rows(_load(tmp_path / "cross").text)["STSB"][-1] == ""  # start has no STSB


def test_update_without_a_card_reads_the_kind_from_the_saved_model(tiny_model, tmp_path):
    CrossEncoder.from_pretrained(tiny_model, device="cpu").save(tmp_path / "cross")
    (tmp_path / "cross" / "README.md").unlink()
    update_model_card_results(tmp_path / "cross", STS_RESULTS)
    card = _load(tmp_path / "cross")
    assert card.data.pipeline_tag == "text-ranking"
    assert ("STS12", "spearman") in _index(card)


def test_a_failed_card_write_leaves_the_previous_card(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    path = write_model_card(tmp_path / "m", _info("bi", STS_RESULTS))
    before = path.read_bytes()

    def failing(descriptor):  # the new text is written, then the disk fails before the swap
        raise OSError("disk full")

    monkeypatch.setattr(card_module.os, "fsync", failing)
    with pytest.raises(OSError, match="disk full"):
        update_model_card_results(tmp_path / "m", PAIR_RESULTS)
    assert path.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md"]


def test_kind_is_checked(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="kind"):
        ModelCardInfo(kind="encoder")
    with pytest.raises(ValueError, match="'bi'"):
        BiEncoder.from_pretrained(tiny_model, device="cpu").save(
            tmp_path / "x", card=_info("cross")
        )
