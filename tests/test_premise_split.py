"""eval/premise_split.py: which test pairs a run's pool held, and each split's metric."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_bench_records import _load
from transencoder.eval import EvaluationSuite, find_all_tasks


@pytest.fixture(scope="module")
def split():
    return _load("premise_split")


def test_a_test_pair_is_seen_in_either_order_and_points_at_its_pool_row(split):
    pool = [("a", "b"), ("c", "d"), ("e", "f")]
    test = [("d", "c"), ("a", "x"), ("a", "b"), ("f", "e"), ("b", "c")]
    seen, at = split.seen_in_pool(pool, test)
    assert seen.tolist() == [True, False, True, True, False]
    assert at == [1, 0, 2]


def _write(path, rows, column="score"):
    path.write_text(
        f"sentence1\tsentence2\t{column}\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows),
        encoding="utf-8",
    )


def test_the_whole_split_scores_as_the_evaluation_suite_does(split, tmp_path):
    rng = np.random.default_rng(0)
    sts = tmp_path / "sts.tsv"
    _write(sts, [(f"s{i}", f"t{i}", round(float(rng.uniform(0, 5)), 2)) for i in range(40)])
    pair = tmp_path / "pairs.tsv"
    _write(pair, [(f"p{i}", f"q{i}", int(rng.integers(0, 2))) for i in range(40)], "label")
    scores = rng.normal(size=40)
    for path, is_pair in ((sts, False), (pair, True)):
        (task,) = find_all_tasks(path)
        assert hasattr(task, "labels") is is_pair
        gold = np.asarray(task.labels if is_pair else task.scores, dtype=float)
        suite = EvaluationSuite([task], show_progress_bar=False)
        expected = round(float(suite.from_scores(scores).primary), 2)
        assert split._metric(gold, scores, is_pair) == expected
    # a split too small, or of one class, has no metric
    assert split._metric(np.array([1.0]), np.array([0.3]), False) is None
    assert split._metric(np.ones(5), rng.normal(size=5), True) is None


def test_a_screening_scores_its_cross_encoder_and_a_full_run_every_model(split, tmp_path):
    screen, full = {"cycles": 1, "bi": {"max_steps": 1}}, {"cycles": 3, "bi": {"max_steps": None}}
    (tmp_path / "screen" / "cycle-1" / "cross").mkdir(parents=True)
    assert [m[:2] for m in split.models_of(tmp_path / "screen", screen)] == [("cross", "cross")]
    for name in ("cycle-1/cross", "cycle-1/bi", "cycle-2/cross", "cycle-2/bi", "cycle-3/cross"):
        (tmp_path / "full" / name).mkdir(parents=True)
    # stopped in cycle 3: what it has, no result yet
    assert [m[0] for m in split.models_of(tmp_path / "full", full)][-1] == "cross 3"
    (tmp_path / "full" / "cycle-3" / "bi").mkdir()
    (tmp_path / "full" / "average" / "bi").mkdir(parents=True)
    names = [(name, kind) for name, kind, _ in split.models_of(tmp_path / "full", full)]
    assert names == [
        ("cross", "cross"), ("bi 1", "bi"), ("cross 2", "cross"), ("bi 2", "bi"),
        ("cross 3", "cross"), ("bi 3", "bi"), ("average", "bi"),
    ]  # fmt: skip


def test_both_orders_from_one_call_match_the_cross_encoders_own(split, tmp_path):
    import torch

    from transencoder import CrossEncoder
    from transencoder.testing import tiny_bert_dir, tiny_sentences

    torch.manual_seed(0)  # the new head
    model = CrossEncoder.from_pretrained(tiny_bert_dir(tmp_path / "bert"), device="cpu")
    model.new_head_warned = True  # a random head is all this comparison needs
    with torch.no_grad():  # ... once it is large enough for the two orders to score apart
        model.model.classifier.weight.normal_(0.0, 5.0)
    sentences = tiny_sentences()
    pairs = [(sentences[i], sentences[(3 * i + 1) % len(sentences)]) for i in range(12)]
    in_order, both = split.in_order_and_both(model, pairs)
    own = model.predict(pairs, batch_size=64, show_progress_bar=False, precision="fp32")
    own_both = model.predict(
        pairs, batch_size=64, show_progress_bar=False, both_orders=True, precision="fp32"
    )
    assert np.abs(own - own_both).max() > 2e-5  # 20x the tolerance: the average is a real check
    np.testing.assert_allclose(in_order, own, rtol=0, atol=1e-6)
    np.testing.assert_allclose(both, own_both, rtol=0, atol=1e-6)
