"""Aggregations against hand computations; the evaluator's ensemble is the mean score."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from transencoder.eval import StsEvaluator, StsSubset, StsTask, aggregate


def _subsets(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [40, 25, 10]
    gold = [rng.uniform(0, 5, n) for n in sizes]
    # Subsets on different scales: pooling ("all") and averaging ("mean") differ.
    predicted = [g + rng.normal(0, 1 + i, len(g)) + 3 * i for i, g in enumerate(gold)]
    return predicted, gold


def test_all_mean_wmean_match_senteval_formulas():
    predicted, gold = _subsets()
    names = ["a", "b", "c"]
    per = [spearmanr(p, g)[0] * 100 for p, g in zip(predicted, gold)]
    sizes = [len(g) for g in gold]
    pooled = spearmanr(np.concatenate(predicted), np.concatenate(gold))[0] * 100
    assert aggregate(predicted, gold, names, "all").spearman == pytest.approx(pooled, abs=1e-9)
    assert aggregate(predicted, gold, names, "mean").spearman == pytest.approx(
        np.mean(per), abs=1e-9
    )
    assert aggregate(predicted, gold, names, "wmean").spearman == pytest.approx(
        np.average(per, weights=sizes), abs=1e-9
    )
    pooled_pearson = pearsonr(np.concatenate(predicted), np.concatenate(gold))[0] * 100
    assert aggregate(predicted, gold, names, "all").pearson == pytest.approx(
        pooled_pearson, abs=1e-9
    )
    assert (
        len(
            {
                round(aggregate(predicted, gold, names, m).spearman, 3)
                for m in ("all", "mean", "wmean")
            }
        )
        == 3
    )


def _task():
    predicted, gold = _subsets(1)
    subsets = [
        StsSubset(
            name,
            tuple(f"{name}{i}a" for i in range(len(g))),
            tuple(f"{name}{i}b" for i in range(len(g))),
            g,
            name,
        )
        for name, g in zip("xyz", gold)
    ]
    return StsTask("T", subsets, "tsv", "memory"), predicted


def test_evaluator_ensemble_is_mean_of_member_scores():
    task, predicted = _task()
    flat = np.concatenate(predicted)
    table = {pair: score for pair, score in zip(task.pairs, flat)}
    first = lambda pairs: np.array([table[p] for p in pairs])  # noqa: E731
    second = lambda pairs: -(np.array([table[p] for p in pairs]) ** 2)  # noqa: E731
    evaluator = StsEvaluator([task])
    result = evaluator([first, second])
    expected = aggregate(
        [(p - p**2) / 2 for p in predicted],
        [s.scores for s in task.subsets],
        ["x", "y", "z"],
        "all",
    )
    assert result.tasks["T"].spearman == pytest.approx(expected.spearman, abs=1e-9)
    assert result.tasks["T"].n == sum(len(p) for p in predicted)
    assert set(result.tasks["T"].subsets) == {"x", "y", "z"}


def test_result_json_shape(tmp_path):
    import json

    task, predicted = _task()
    table = dict(zip(task.pairs, np.concatenate(predicted)))
    result = StsEvaluator([task], aggregation="wmean")(
        lambda pairs: np.array([table[p] for p in pairs])
    )
    result.write_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["tasks"]["T"]["n"] == 75 and set(data["tasks"]["T"]["subsets"]) == {"x", "y", "z"}
    assert data["average"]["spearman"] == pytest.approx(result.primary, abs=1e-4)
    assert "average" in result.table().splitlines()[-1]
