"""Our evaluators inside sentence-transformers' evaluation interface (``SentenceEvaluator``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.eval.conftest import pair_rows
from transencoder import BiEncoder
from transencoder.eval import (
    EvaluationSuite,
    PairClassificationEvaluator,
    PairTask,
    StsEvaluator,
    StsSubset,
    StsTask,
)
from transencoder.testing import tiny_sentences


def _sts_task(name: str, count: int, seed: int) -> StsTask:
    sentences = tiny_sentences()
    rng = np.random.default_rng(seed)
    firsts = tuple(sentences[i % len(sentences)] for i in range(count))
    seconds = tuple(sentences[(5 * i + 2) % len(sentences)] for i in range(count))
    gold = rng.uniform(0, 5, count).round(2)
    subset = StsSubset(name, firsts, seconds, gold, f"{name}.tsv")
    return StsTask(name, [subset], "test", f"{name}.tsv")


def _pair_task() -> PairTask:
    rows = pair_rows(24)
    return PairTask(
        "MINE",
        tuple(a for a, _, _ in rows),
        tuple(b for _, b, _ in rows),
        np.array([label for *_, label in rows]),
        "test",
        "mine.tsv",
    )


@pytest.fixture(scope="module")
def models(tiny_model, tmp_path_factory):
    from sentence_transformers import SentenceTransformer

    path = tmp_path_factory.mktemp("st") / "bi"
    torch.manual_seed(0)
    BiEncoder.from_pretrained(tiny_model, device="cpu").save(path)
    return BiEncoder.from_pretrained(path, device="cpu"), SentenceTransformer(
        str(path), device="cpu"
    )


def test_st_evaluators_run_inside_sentence_transformers(models, tmp_path):
    from sentence_transformers.base.evaluation import BaseEvaluator, SequentialEvaluator
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
    )

    ours, theirs = models
    sts = StsEvaluator([_sts_task("A", 20, 0), _sts_task("B", 16, 1)], show_progress_bar=False)
    pair = PairClassificationEvaluator([_pair_task()], show_progress_bar=False)
    dev, pairs = sts.as_sentence_evaluator("dev"), pair.as_sentence_evaluator()
    assert isinstance(dev, BaseEvaluator) and dev.greater_is_better
    sequential = SequentialEvaluator([dev, pairs], main_score_function=np.mean)
    metrics = theirs.evaluate(sequential, output_path=str(tmp_path))

    expected_sts, expected_pair = sts(ours), pair(ours)
    assert dev.primary_metric == "dev_spearman" and pairs.primary_metric == "auc"
    assert abs(metrics["dev_spearman"] - expected_sts.primary) < 1e-6
    assert abs(metrics["dev_B_pearson"] - expected_sts.tasks["B"].pearson) < 1e-6
    assert abs(metrics["auc"] - expected_pair.primary) < 1e-6
    assert abs(metrics["MINE_f1"] - expected_pair.tasks["MINE"].f1) < 1e-6
    assert metrics["sequential_score"] == pytest.approx(
        (expected_sts.primary + expected_pair.primary) / 2, abs=1e-6
    )
    # sentence-transformers' own STS evaluator on one task: the same Spearman (ours is x100).
    task = sts.tasks[0]
    reference = EmbeddingSimilarityEvaluator(
        list(task.subsets[0].sentences1),
        list(task.subsets[0].sentences2),
        task.scores.tolist(),
        main_similarity="cosine",
    )(theirs)
    assert abs(100 * reference["spearman_cosine"] - expected_sts.tasks["A"].spearman) < 1e-6
    # One line per call under output_path, as sentence-transformers' CSVs.
    lines = (tmp_path / "transencoder_evaluation_dev.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["epoch"] == -1


def test_suite_adapter_accepts_our_models_too(models):
    from transencoder.eval import STEvaluator

    ours, theirs = models
    suite = EvaluationSuite([_sts_task("A", 20, 0), _pair_task()], show_progress_bar=False)
    adapter = STEvaluator(suite, name="all")
    assert adapter.primary_metric == "all_primary"
    from_ours, from_theirs = adapter(ours), adapter(theirs)
    assert abs(from_ours["all_primary"] - suite(ours).primary) < 1e-6
    assert abs(from_theirs["all_primary"] - from_ours["all_primary"]) < 1e-6
    with pytest.raises(TypeError, match="StsEvaluator, PairClassificationEvaluator"):
        STEvaluator(object())
