"""Label views of a bi-encoder: each view against a float64 computation done by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from transencoder.models import BiEncoder
from transencoder.testing import tiny_sentences
from transencoder.training.config import LABEL_VIEWS
from transencoder.training.steps import label_with_bi
from transencoder.training.teachers import views_teacher
from transencoder.training.views import view_scores


@pytest.fixture(scope="module")
def pairs():
    sentences = tiny_sentences()
    return [(sentences[i], sentences[(3 * i + 1) % len(sentences)]) for i in range(len(sentences))]


def _hidden_states(bi: BiEncoder, text: str):
    features = bi.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = bi.encoder(**features, output_hidden_states=True)
    special = set(bi.tokenizer.all_special_ids)
    keep = [i for i, t in enumerate(features["input_ids"][0].tolist()) if t not in special]
    return [h[0].double() for h in out.hidden_states], keep


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def test_each_view_matches_a_hand_computation(tiny_model, pairs):
    bi = BiEncoder.from_pretrained(
        tiny_model, device="cpu"
    ).eval()  # no dropout in the hand computation
    scores = view_scores(bi, pairs, LABEL_VIEWS, batch_size=4, show_progress_bar=False)
    assert list(scores) == list(LABEL_VIEWS)
    # pooled is exactly the bi-encoder's own cosine
    np.testing.assert_allclose(
        scores["pooled"], bi.pair_similarity(pairs, show_progress_bar=False), atol=1e-5
    )
    for k, (a, b) in enumerate(pairs):
        ha, keep_a = _hidden_states(bi, a)
        hb, keep_b = _hidden_states(bi, b)
        first_last_a = ((ha[1] + ha[-1]) / 2).mean(dim=0)
        first_last_b = ((hb[1] + hb[-1]) / 2).mean(dim=0)
        assert scores["first_last"][k] == pytest.approx(_cos(first_last_a, first_last_b), abs=1e-5)
        ta = torch.nn.functional.normalize(ha[-1][keep_a], dim=-1)
        tb = torch.nn.functional.normalize(hb[-1][keep_b], dim=-1)
        sims = ta @ tb.T
        precision, recall = sims.max(dim=1).values.mean(), sims.max(dim=0).values.mean()
        f1 = float(2 * precision * recall / (precision + recall))
        assert scores["token_f1"][k] == pytest.approx(f1, abs=2e-3)  # tokens kept in float16


def test_views_teacher_reorders_on_the_pooled_scale():
    rng = np.random.default_rng(0)
    views = {
        "pooled": rng.normal(size=50),
        "first_last": rng.normal(size=50),
        "token_f1": rng.uniform(size=50),
    }
    teacher = views_teacher(views)
    np.testing.assert_allclose(np.sort(teacher), np.sort(views["pooled"]))  # the pooled scale
    mean_rank = np.mean([rankdata(v) for v in views.values()], axis=0)
    lower = mean_rank[:, None] < mean_rank[None, :] - 1e-9
    assert (teacher[:, None] <= teacher[None, :])[lower].all()  # ordered as the mean rank
    assert len(np.unique(teacher)) > 40  # not a constant or a coarse re-binning
    np.testing.assert_array_equal(views_teacher({"pooled": views["pooled"]}), views["pooled"])


def test_label_with_bi_averages_views_over_members(tmp_path, pairs):
    from transencoder.testing import tiny_bert_dir

    members = [
        BiEncoder.from_pretrained(tiny_bert_dir(tmp_path / f"m{seed}", seed=seed), device="cpu")
        for seed in (1, 2)
    ]
    views = ["pooled", "token_f1"]
    got = label_with_bi(members, pairs, views=views, show_progress_bar=False)
    per_member = [view_scores(m, pairs, views, show_progress_bar=False) for m in members]
    expected = views_teacher({v: np.mean([s[v] for s in per_member], axis=0) for v in views})
    np.testing.assert_allclose(got, expected)
    # a view of the words is the same for every member: the mean is the view itself
    mixed = label_with_bi(members, pairs, views=[*views, "word_order"], show_progress_bar=False)
    expected = views_teacher(
        {
            **{v: np.mean([s[v] for s in per_member], axis=0) for v in views},
            "word_order": view_scores(None, pairs, ["word_order"])["word_order"],
        }
    )
    np.testing.assert_allclose(mixed, expected)
    plain = label_with_bi(members, pairs, show_progress_bar=False)
    np.testing.assert_allclose(
        plain, np.mean([m.pair_similarity(pairs, show_progress_bar=False) for m in members], axis=0)
    )


def _lcs(a: tuple, b: tuple) -> int:
    """The longest common subsequence's length, by its recursive definition."""
    from functools import cache

    @cache
    def length(i: int, j: int) -> int:
        if i == len(a) or j == len(b):
            return 0
        if a[i] == b[j]:
            return 1 + length(i + 1, j + 1)
        return max(length(i + 1, j), length(i, j + 1))

    return length(0, 0)


def test_word_order_by_hand_and_against_the_recursive_definition(tiny_model, pairs):
    from transencoder.training.teachers import words
    from transencoder.training.views import word_order

    by_hand = [
        ("The cat sat.", "the CAT sat"),  # the same words in the same order: 1
        ("x went from a to b", "x went from b to a"),  # x went from + a or b, or to: 4 of 6 + 6
        ("a b c", "c b a"),  # one word in order
        ("a b", "c d"),
        ("", "..."),  # no words on either side
        ("a", ""),
    ]
    np.testing.assert_allclose(word_order(by_hand), [1.0, 8 / 12, 2 / 6, 0.0, 0.0, 0.0])
    expected = [
        2 * _lcs(tuple(words(a)), tuple(words(b))) / max(1, len(words(a)) + len(words(b)))
        for a, b in pairs
    ]
    np.testing.assert_allclose(word_order(pairs), expected)
    # a view like the others, which needs no model; beside a model's views it changes nothing
    alone = view_scores(None, pairs, ["word_order"])
    np.testing.assert_array_equal(alone["word_order"], word_order(pairs))
    bi = BiEncoder.from_pretrained(tiny_model, device="cpu")
    both = view_scores(bi, pairs, ["pooled", "word_order"], show_progress_bar=False)
    np.testing.assert_array_equal(both["word_order"], alone["word_order"])
    np.testing.assert_allclose(
        both["pooled"], view_scores(bi, pairs, ["pooled"], show_progress_bar=False)["pooled"]
    )
