"""Pair-classification metrics against scikit-learn and sentence-transformers; the evaluators and
the suite's result shapes (STS only: exactly the STS result)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transencoder.eval import (
    EvaluationSuite,
    PairClassificationEvaluator,
    PairTask,
    StsEvaluator,
    StsSubset,
    StsTask,
    average_precision,
    best_accuracy,
    best_f1,
    binary_metrics,
    headline_metric,
    primary_average,
    primary_metric,
    roc_auc,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _random_sets(count: int = 200, seed: int = 0):
    """Scores with many ties (rounded), in float32 and float64, both classes present."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(2, 120))
        labels = rng.integers(0, 2, n)
        if labels.min() == labels.max():
            continue
        dtype = np.float32 if rng.random() < 0.5 else np.float64
        scores = np.round(rng.normal(labels * 0.5, 1.0), int(rng.integers(0, 3))).astype(dtype)
        if np.ptp(scores) == 0:
            continue
        yield scores, labels


def test_auc_and_ap_equal_scikit_learn():
    checked = 0
    for scores, labels in _random_sets():
        assert (
            abs(roc_auc(scores, labels) / 100 - sklearn_metrics.roc_auc_score(labels, scores))
            < 1e-9
        )
        assert (
            abs(
                average_precision(scores, labels) / 100
                - sklearn_metrics.average_precision_score(labels, scores)
            )
            < 1e-6
        )
        checked += 1
    assert checked > 150


def test_auc_counts_ties_as_one_half():
    # Positives 0.9, 0.5; negatives 0.5, 0.1: 3 pairs right, 1 tie -> (3 + 0.5) / 4.
    assert roc_auc(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0])) == pytest.approx(
        87.5, abs=1e-12
    )


def test_accuracy_f1_ap_equal_sentence_transformers():
    from sentence_transformers.sentence_transformer.evaluation import (
        BinaryClassificationEvaluator as Reference,
    )

    checked = 0
    for scores, labels in _random_sets(seed=1):
        accuracy, accuracy_threshold = Reference.find_best_acc_and_threshold(scores, labels, True)
        f1, precision, recall, f1_threshold = Reference.find_best_f1_and_threshold(
            scores, labels, True
        )
        ours = binary_metrics(scores, labels)
        assert abs(
            ours.accuracy / 100 - accuracy
        ) < 1e-6 and ours.accuracy_threshold == pytest.approx(accuracy_threshold, abs=1e-6)
        assert abs(ours.f1 / 100 - f1) < 1e-6 and ours.f1_threshold == pytest.approx(
            f1_threshold, abs=1e-6
        )
        assert (
            abs(ours.precision / 100 - precision) < 1e-6 and abs(ours.recall / 100 - recall) < 1e-6
        )
        assert abs(ours.ap / 100 - sklearn_metrics.average_precision_score(labels, scores)) < 1e-6
        # The threshold reproduces the accuracy: positive when score >= threshold.
        predicted = scores >= ours.accuracy_threshold
        assert (predicted == labels.astype(bool)).mean() * 100 == pytest.approx(
            ours.accuracy, abs=1e-9
        )
        checked += 1
    assert checked > 150


def test_against_sentence_transformers_evaluator_end_to_end(tiny_model):
    """Our bi-encoder evaluation of a tiny model equals BinaryClassificationEvaluator's."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator

    from tests.eval.conftest import pair_rows
    from transencoder import BiEncoder

    rows = pair_rows(30)
    task = PairTask(
        "mine",
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        np.array([r[2] for r in rows]),
        "pairs",
        "memory",
    )
    ours = PairClassificationEvaluator([task], show_progress_bar=False)(
        BiEncoder.from_pretrained(tiny_model, device="cpu")
    ).tasks["mine"]
    reference = BinaryClassificationEvaluator(
        list(task.sentences1), list(task.sentences2), task.labels.tolist(), name="ref"
    )(SentenceTransformer(str(tiny_model), device="cpu"))
    assert abs(ours.accuracy / 100 - reference["ref_cosine_accuracy"]) < 1e-6
    assert abs(ours.f1 / 100 - reference["ref_cosine_f1"]) < 1e-6
    assert abs(ours.ap / 100 - reference["ref_cosine_ap"]) < 1e-6


def test_no_threshold_can_beat_the_best():
    rng = np.random.default_rng(3)
    scores, labels = np.round(rng.random(60), 1), rng.integers(0, 2, 60)
    accuracy, _ = best_accuracy(scores, labels)
    f1, *_ = best_f1(scores, labels)
    for threshold in np.concatenate([np.unique(scores), [2.0]]):
        predicted = scores >= threshold
        assert (predicted == labels).mean() * 100 <= accuracy + 1e-9
        true_pos = (predicted & (labels == 1)).sum()
        if true_pos:
            assert 200 * true_pos / (predicted.sum() + labels.sum()) <= f1 + 1e-9


@pytest.mark.parametrize(
    ("scores", "labels", "reason"),
    [
        ([0.3], [1], "only one pair"),
        ([0.1, 0.4, 0.9], [1, 1, 1], "a single class (all 3 pairs are positive)"),
        ([0.1, 0.4], [0, 0], "a single class (all 2 pairs are negative)"),
        ([0.5, 0.5, 0.5], [1, 0, 1], "constant predictions"),
        ([0.5, np.nan, 0.2], [1, 0, 1], "1 non-finite predicted scores"),
    ],
)
def test_degenerate_sets(scores, labels, reason):
    result = binary_metrics(np.array(scores), np.array(labels))
    assert result.reason.startswith(reason) and np.isnan(result.auc)
    data = result.to_dict()
    assert data["auc"] is None and data["ap"] is None and data["reason"] == result.reason
    json.dumps(data, allow_nan=False)


def _pair_task(name: str, labels, prefix: str | None = None) -> PairTask:
    prefix = prefix or name
    n = len(labels)
    return PairTask(
        name,
        tuple(f"{prefix} a{i}" for i in range(n)),
        tuple(f"{prefix} b{i}" for i in range(n)),
        np.asarray(labels),
        "pairs",
        "memory",
    )


def _sts_task(name: str, gold) -> StsTask:
    gold = np.asarray(gold, dtype=np.float64)
    n = len(gold)
    subset = StsSubset(
        name,
        tuple(f"{name} a{i}" for i in range(n)),
        tuple(f"{name} b{i}" for i in range(n)),
        gold,
        name,
    )
    return StsTask(name, [subset], "tsv", "memory")


def test_pair_evaluator_result_and_single_class_task():
    good, single = _pair_task("good", [1, 0, 1, 0, 1]), _pair_task("single", [1, 1])
    evaluator = PairClassificationEvaluator([good, single])
    assert evaluator.pairs == good.pairs + single.pairs
    scores = np.array([0.9, 0.2, 0.4, 0.5, 0.8, 0.3, 0.7])
    with pytest.warns(UserWarning, match=r"single: AUC is undefined \(a single class"):
        result = evaluator.from_scores(scores)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    expected_auc = sklearn_metrics.roc_auc_score(good.labels, scores[:5]) * 100
    assert data["tasks"]["good"]["auc"] == pytest.approx(expected_auc, abs=1e-4)
    assert set(data["tasks"]["good"]) == {
        "auc",
        "ap",
        "accuracy",
        "accuracy_threshold",
        "f1",
        "f1_threshold",
        "precision",
        "recall",
        "n",
        "positives",
        "metric",
    }
    assert data["tasks"]["good"]["metric"] == "auc" and data["tasks"]["good"]["positives"] == 3
    assert (
        data["tasks"]["single"]["auc"] is None
        and "single class" in data["tasks"]["single"]["reason"]
    )
    assert data["average"]["auc"] == data["tasks"]["good"][
        "auc"
    ] and result.primary == pytest.approx(expected_auc)
    assert "left out of the average: a single class" in result.table()


def test_ensemble_and_both_orders():
    task = _pair_task("t", [1, 0, 1, 0])
    table = dict(zip(task.pairs, [0.9, 0.1, 0.6, 0.4]))

    class Asymmetric:
        """A cross-encoder-like model whose score of (b, a) is 1 - score of (a, b)."""

        def predict(self, pairs, *, batch_size, show_progress_bar, both_orders=False):
            forward = np.array([table.get(p, 1 - table.get((p[1], p[0]), 0.5)) for p in pairs])
            return (forward + (1 - forward)) / 2 if both_orders else forward

    bi_like = lambda pairs: np.array([table[p] ** 2 for p in pairs])  # noqa: E731
    plain = PairClassificationEvaluator([task])
    np.testing.assert_allclose(
        plain.scores([Asymmetric(), bi_like]), [(s + s**2) / 2 for s in table.values()]
    )
    np.testing.assert_allclose(
        PairClassificationEvaluator([task], both_orders=True).scores(Asymmetric()), 0.5
    )


def test_suite_with_sts_only_has_the_sts_result_in_the_one_shape():
    tasks = [_sts_task("A", [0, 1, 2, 3, 4]), _sts_task("B", [4, 0, 1, 3, 2])]
    scores = np.array([0.1, 0.3, 0.2, 0.8, 0.9, 0.5, 0.1, 0.2, 0.9, 0.3])
    suite = EvaluationSuite(tasks, aggregation="wmean")
    assert suite.pairs == StsEvaluator(tasks).pairs
    result = suite.from_scores(scores, models=["m"])
    reference = StsEvaluator(tasks, aggregation="wmean").from_scores(scores, models=["m"])
    data, expected = result.to_dict(), reference.to_dict()
    assert set(data) == {"tasks", "average", "metric", "n", "aggregation", "models"}
    assert {k: data[k] for k in expected} == {
        **expected, "average": {**expected["average"], "primary": expected["average"]["spearman"]}
    }  # fmt: skip
    assert data["metric"] == "spearman" == headline_metric(data) and data["aggregation"] == "wmean"
    assert result.primary == reference.primary
    assert primary_average(data) == expected["average"]["spearman"]
    # a result written before every result had ``primary`` and ``metric``
    assert primary_average(expected) == data["average"]["primary"]
    assert headline_metric(expected) == "spearman"


def test_suite_with_both_families():
    sts, pairs, flat = (
        _sts_task("S", [0, 1, 2, 3, 4]),
        _pair_task("P", [1, 0, 1, 0]),
        _pair_task("Q", [0, 0]),
    )
    suite = EvaluationSuite([pairs, sts, flat])
    assert suite.pairs == sts.pairs + pairs.pairs + flat.pairs
    scores = np.array([0.1, 0.3, 0.2, 0.8, 0.9] + [0.9, 0.3, 0.6, 0.4] + [0.2, 0.1])
    with pytest.warns(UserWarning, match="Q: AUC is undefined"):
        result = suite.from_scores(scores, models=["m"])
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(data) == {"tasks", "average", "metric", "n", "aggregation", "models"}
    assert (
        data["metric"] == "mixed"
        and data["aggregation"] == "all"
        and list(data["tasks"])
        == [
            "S",
            "P",
            "Q",
        ]
    )
    assert data["n"] == 11 and data["models"] == ["m"]
    assert data["tasks"]["S"] == StsEvaluator([sts]).from_scores(scores[:5]).to_dict()["tasks"]["S"]
    assert primary_metric(data["tasks"]["S"]) == ("spearman", 90.0)
    assert primary_metric(data["tasks"]["P"]) == ("auc", 100.0)
    assert primary_metric(data["tasks"]["Q"]) == ("auc", None)
    assert data["average"] == {
        "spearman": 90.0,
        "pearson": data["tasks"]["S"]["pearson"],
        "auc": 100.0,
        "ap": 100.0,
        "primary": 95.0,
    }
    assert result.primary == pytest.approx(95.0)
    # Called on models, the suite scores every pair once per model, in .pairs order.
    table = dict(zip(suite.pairs, scores))
    with pytest.warns(UserWarning, match="Q: AUC is undefined"):
        called = suite(lambda batch: np.array([table[p] for p in batch]))
    assert called.to_dict()["average"] == data["average"]
