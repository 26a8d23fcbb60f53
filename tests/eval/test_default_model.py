"""The packaged all-MiniLM-L6-v2 on the shared STS data, against an independent computation.

The reference reads the files as SentEval does (its own few lines here, not our readers),
embeds with ``sentence_transformers.SentenceTransformer.encode`` and correlates with scipy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from transencoder import BiEncoder, CrossEncoder
from transencoder.cli import main
from transencoder.eval import StsEvaluator, find_tasks

pytestmark = pytest.mark.slow

SUBSETS = {
    "STS12": ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"],
    "STS13": ["FNWN", "headlines", "OnWN"],
    "STS14": ["deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"],
    "STS15": ["answers-forums", "answers-students", "belief", "headlines", "images"],
    "STS16": ["answer-answer", "headlines", "plagiarism", "postediting", "question-question"],
}


def reference_pairs(root: Path) -> dict[str, tuple[list[str], list[str], list[float]]]:
    """SentEval's loading: split lines, drop empty gold lines, re-join whitespace tokens."""
    out = {}
    for task, subsets in SUBSETS.items():
        folder = root / f"{task}-en-test"
        firsts, seconds, gold = [], [], []
        for subset in subsets:
            prefix = "STS2016" if (folder / f"STS2016.input.{subset}.txt").exists() else "STS"
            lines = (
                (folder / f"{prefix}.input.{subset}.txt").read_text(encoding="utf-8").splitlines()
            )
            scores = (folder / f"{prefix}.gs.{subset}.txt").read_text(encoding="utf-8").splitlines()
            for line, score in zip(lines, scores):
                if score.strip():
                    columns = line.split("\t")
                    firsts.append(" ".join(columns[0].split()))
                    seconds.append(" ".join(columns[1].split()))
                    gold.append(float(score))
        out[task] = (firsts, seconds, gold)
    stsb = root / "STSBenchmark" / "sts-test.csv"
    if stsb.exists():
        rows = [line.strip().split("\t") for line in stsb.read_text(encoding="utf-8").splitlines()]
        out["STSB"] = (
            [" ".join(r[5].split()) for r in rows],
            [" ".join(r[6].split()) for r in rows],
            [float(r[4]) for r in rows],
        )
    return out


@pytest.fixture(scope="module")
def default_bi():
    return BiEncoder.from_pretrained("default", device="cpu")


@pytest.fixture(scope="module")
def st_model():
    from sentence_transformers import SentenceTransformer

    from transencoder.models import default_model_path

    return SentenceTransformer(str(default_model_path()), device="cpu")


@pytest.mark.parametrize("layout", ["senteval", "semeval"])
def test_every_task_equals_sentence_transformers_and_scipy(sts_data, default_bi, st_model, layout):
    result = StsEvaluator(find_tasks(sts_data / layout), batch_size=64, show_progress_bar=False)(
        default_bi
    )
    reference = reference_pairs(sts_data / layout)
    assert set(result.tasks) == set(reference)
    for task, (firsts, seconds, gold) in reference.items():
        u = st_model.encode(firsts, batch_size=64, convert_to_numpy=True)
        v = st_model.encode(seconds, batch_size=64, convert_to_numpy=True)
        cosine = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        expected = spearmanr(cosine, gold)[0] * 100
        assert result.tasks[task].n == len(gold)
        assert abs(result.tasks[task].spearman - expected) < 0.01, (
            task,
            result.tasks[task].spearman,
            expected,
        )
    if layout == "senteval":
        assert f"{result.tasks['STSB'].spearman:.2f}" == "82.03"


def test_saved_default_models_open_in_sentence_transformers(default_bi, tmp_path):
    import torch
    from sentence_transformers import CrossEncoder as STCrossEncoder
    from sentence_transformers import SentenceTransformer

    sentences = [
        "A man is playing a guitar.",
        "Someone plays music on a guitar.",
        "The cat sleeps.",
    ]
    default_bi.save(tmp_path / "bi")
    ours = default_bi.encode(sentences)
    theirs = SentenceTransformer(str(tmp_path / "bi"), device="cpu").encode(sentences)
    assert np.abs(ours - theirs).max() < 1e-5
    torch.manual_seed(0)
    cross = CrossEncoder.from_pretrained("default", device="cpu")
    cross.save(tmp_path / "cross")
    pairs = [(sentences[0], sentences[1]), (sentences[1], sentences[2])]
    assert (
        np.abs(
            cross.predict(pairs)
            - STCrossEncoder(str(tmp_path / "cross"), device="cpu").predict(pairs)
        ).max()
        < 1e-5
    )


def test_cli_eval_writes_json(sts_data, tmp_path, capsys):
    output = tmp_path / "results.json"
    code = main(
        [
            "eval",
            "--model",
            "default",
            "--kind",
            "bi",
            "--data-dir",
            str(sts_data / "stsbenchmark"),
            "--output",
            str(output),
            "--no-progress",
        ]
    )
    assert code == 0
    data = json.loads(output.read_text())
    assert data["tasks"]["STSB"]["n"] == 1379
    assert round(data["tasks"]["STSB"]["spearman"], 2) == 82.03
    printed = capsys.readouterr().out
    assert "found 1 task(s)" in printed and "STSB      1379     82.03" in printed
