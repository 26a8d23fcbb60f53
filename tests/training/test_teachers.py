"""The teachers: pure functions over score arrays, against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from transencoder.training import combine_teachers


def test_combine_raw_is_weighted_mean():
    a, b = np.array([0.1, 0.5, 0.9]), np.array([0.3, 0.3, 0.6])
    np.testing.assert_allclose(combine_teachers([a, b], [0.75, 0.25]), 0.75 * a + 0.25 * b)


def test_combine_rank_keeps_the_reference_values_in_the_teachers_order():
    rng = np.random.default_rng(0)
    cross, start, reference = rng.uniform(0, 1, 50), rng.uniform(-0.2, 1, 50), rng.uniform(0, 1, 50)
    labels = combine_teachers([cross, start], [0.5, 0.5], mode="rank", reference=reference)
    np.testing.assert_array_equal(np.sort(labels), np.sort(reference))  # same values ...
    combined = (rankdata(cross) + rankdata(start)) / 2
    for value in np.unique(combined)[:-1]:  # ... in the combined order (ties may go either way)
        following = combined[combined > value].min()
        assert labels[combined == value].max() <= labels[combined == following].min()


def _teachers(**values):
    from transencoder.training import TeacherConfig

    return TeacherConfig(**values)


def test_cross_targets_by_hand():
    from transencoder.training.teachers import cross_targets

    bi = np.array([0.9, 0.1, 0.5, 0.3, 0.7])
    previous = np.array([0.05, 0.6, 0.95, 0.2, 0.4])
    # Cycle 1 (no previous cross-encoder): the bi-encoder's own scores, clipped to [0, 1].
    np.testing.assert_array_equal(
        cross_targets(np.array([-0.2, 0.4, 1.3]), None, _teachers()), [0.0, 0.4, 1.0]
    )
    # Ranks in [0, 1]: bi [1, 0, .5, .25, .75], previous [0, .75, 1, .25, .5]; half each gives
    # [.5, .375, .75, .25, .625], whose order hands out the bi-encoder's sorted values.
    labels = cross_targets(bi, previous, _teachers(mode="rank", cross_from_cross=0.5))
    np.testing.assert_array_equal(labels, [0.5, 0.3, 0.9, 0.1, 0.7])
    # Raw mode: the weighted mean; a zero weight ignores the previous cross-encoder.
    raw = cross_targets(bi, previous, _teachers(mode="raw", cross_from_cross=0.25))
    np.testing.assert_allclose(raw, 0.75 * bi + 0.25 * previous)
    np.testing.assert_array_equal(cross_targets(bi, previous, _teachers(cross_from_cross=0.0)), bi)


def test_uniform_cross_targets_keep_the_order_and_spread_it_over_zero_to_one():
    from transencoder.training.teachers import cross_targets

    # PAWS-like labels crowd near 1; their ranks (ties share one) spread evenly over [0, 1].
    crowded = np.array([0.97, 0.99, 0.95, 0.99, 0.96])
    np.testing.assert_array_equal(
        cross_targets(crowded, None, _teachers(), scale="uniform"),
        [0.5, 0.875, 0.0, 0.875, 0.25],
    )
    # From cycle 2 the blend is ranked, not clipped: [.5, .375, .75, .25, .625] from the case above.
    bi = np.array([0.9, 0.1, 0.5, 0.3, 0.7])
    previous = np.array([0.05, 0.6, 0.95, 0.2, 0.4])
    labels = cross_targets(bi, previous, _teachers(cross_from_cross=0.5), scale="uniform")
    np.testing.assert_array_equal(labels, [0.5, 0.25, 1.0, 0.0, 0.75])


def test_auto_cross_scale_spreads_crowded_labels_only():
    from transencoder.training.teachers import CROWDED_SD, cross_scale

    rng = np.random.default_rng(0)
    crowded = np.clip(rng.normal(0.96, 0.05, 2000), 0, 1)  # PAWS: the start's cosines, sd 0.047
    spread = np.clip(rng.normal(0.62, 0.25, 2000), 0, 1)  # STS16: sd 0.252
    assert cross_scale(_teachers(), crowded) == "uniform"
    assert cross_scale(_teachers(), spread) == "bi"
    # Either side of the threshold: two values 2 * sd apart have that standard deviation.
    for sd, scale in ((CROWDED_SD * 1.001, "bi"), (CROWDED_SD * 0.999, "uniform")):
        assert cross_scale(_teachers(), np.array([0.5 - sd, 0.5 + sd])) == scale
    # A named scale is kept whatever the labels.
    assert cross_scale(_teachers(cross_scale="bi"), crowded) == "bi"
    assert cross_scale(_teachers(cross_scale="uniform"), spread) == "uniform"


def test_dev_view_candidates_put_the_configured_views_first_and_win_ties():
    from transencoder.training.teachers import best_views, view_candidates

    three = ["pooled", "first_last", "token_f1"]
    assert view_candidates(["pooled"], three) == [["pooled"], ["first_last"], ["token_f1"], three]
    assert view_candidates(["token_f1"], three) == [["token_f1"], ["pooled"], ["first_last"], three]
    assert view_candidates(three, ["pooled"]) == [three, ["pooled"]]
    assert view_candidates(["pooled"], ["pooled"]) == [["pooled"]]
    candidates = view_candidates(["pooled"], three)
    assert best_views(candidates, [78.63, 80.84, 81.86, 81.35]) == ["token_f1"]  # STS16's dev
    assert best_views(candidates, [84.54, 84.86, 84.74, 85.34]) == three  # STS-B's: a 0.80 lead
    assert best_views(candidates, [61.06, 57.32, 61.07, 59.84]) == ["pooled"]  # PAWS's: 0.01
    # A lead must exceed DEV_VIEWS_MARGIN (0.5); among the leaders the earlier wins a tie.
    assert best_views(candidates, [80.0, 80.5, 80.0, 80.0]) == ["pooled"]
    assert best_views(candidates, [80.0, 80.6, 80.0, 80.6]) == ["first_last"]
    assert best_views(candidates, [80.0, 81.0, 80.0, 80.0], margin=1.0) == ["pooled"]
    with pytest.raises(ValueError, match="4 candidates for 3 dev figures"):
        best_views(candidates, [1.0, 2.0, 3.0])


def test_bi_targets_by_hand():
    from transencoder.training.teachers import bi_target_scale_cycle, bi_targets

    cross = np.array([0.9, 0.2, 0.6, 0.4])
    anchor = np.array([0.1, 0.8, 0.5, 0.3])
    scale = np.array([0.7, 0.3, 0.9, 0.5])
    # Ranks: cross [1, 0, 2/3, 1/3], anchor [0, 1, 2/3, 1/3]; 0.75 / 0.25 gives
    # [.75, .25, 2/3, 1/3]: that order hands out the sorted scale [.3, .5, .7, .9].
    labels = bi_targets(cross, anchor, scale, _teachers(mode="rank", bi_from_start=0.25))
    np.testing.assert_array_equal(labels, [0.9, 0.3, 0.7, 0.5])
    # The official recipe: the cross-encoder's raw scores alone.
    np.testing.assert_array_equal(
        bi_targets(cross, None, scale, _teachers(mode="raw", bi_from_start=0.0)), cross
    )
    # Whose cosines give the scale: the start model's (cycle 1's labeller) when the bi-encoder
    # restarts from the start, else the bi-encoder that labelled this cycle.
    assert [bi_target_scale_cycle(k, "start") for k in (1, 2, 3)] == [1, 1, 1]
    assert [bi_target_scale_cycle(k, "continue") for k in (1, 2, 3)] == [1, 2, 3]


def test_views_teacher_by_hand():
    from transencoder.training.teachers import views_teacher

    pooled = np.array([0.2, 0.9, 0.5])
    np.testing.assert_array_equal(views_teacher({"pooled": pooled}), pooled)
    # Ranks: pooled [0, 1, .5], token_f1 [1, .5, 0] -> mean [.5, .75, .25]: pooled's sorted
    # values [.2, .5, .9] go to the pairs in that order.
    mixed = views_teacher({"token_f1": np.array([0.8, 0.6, 0.1]), "pooled": pooled})
    np.testing.assert_array_equal(mixed, [0.5, 0.9, 0.2])


def test_shared_words_by_hand():
    from transencoder.training.teachers import shared_words

    # {a, cat, sat} vs {the, cat, sat}: 2 of 4 words; a re-ordering with other case and
    # punctuation shares all of them; no pairs share nothing.
    assert shared_words([("A cat sat.", "the cat sat")]) == pytest.approx(0.5)
    assert shared_words([("Sat the cat", "the cat, sat!")]) == 1.0
    assert shared_words([("A cat sat.", "the cat sat"), ("x", "y")]) == pytest.approx(0.25)
    assert shared_words([]) == 0.0


@pytest.mark.parametrize("swapped", [True, False])
@pytest.mark.parametrize("swapped_views", [["word_order"], []])
def test_crowded_labels_of_pairs_of_the_same_words_use_the_swapped_views(swapped, swapped_views):
    """Crowded labels switch to crowded_views when the pairs share at most SHARED_WORDS_MAX of
    their words, else to swapped_views (word-swap pairs such as PAWS's; an empty list keeps
    label_views); the ledger record says how much the pairs shared."""
    from transencoder.training.teachers import SHARED_WORDS_MAX, choose_label_views, shared_words

    words = "the river flows north past the old mill into a wide lake".split()
    rng = np.random.default_rng(1)
    pairs = []
    for _ in range(50):
        a = list(rng.permutation(words)[:8])
        b = list(rng.permutation(a)) if swapped else list(rng.permutation(words)[:8])
        pairs.append((" ".join(a), " ".join(b)))
    overlap = shared_words(pairs)
    assert (overlap > SHARED_WORDS_MAX) == swapped
    labels = np.random.default_rng(0).normal(0.9, 0.05, len(pairs))  # crowded
    config = _teachers(
        label_views=["pooled"], crowded_views=["token_f1"], swapped_views=swapped_views
    )
    lines = []
    views, record = choose_label_views(config, lambda v: labels, None, lines.append, pairs)
    assert views == ((swapped_views or ["pooled"]) if swapped else ["token_f1"])
    assert record["shared_words"] == pytest.approx(overlap, abs=1e-4)
    assert f"share {overlap:.2f} of their words" in lines[0]
    assert ("teachers.swapped_views" in lines[0]) == swapped


def test_the_rule_acts_with_swapped_views_alone():
    """crowded_views off, swapped_views on: pairs of few shared words keep label_views, and the
    log says which list was empty."""
    from transencoder.training.teachers import choose_label_views

    config = _teachers(label_views=["pooled"], crowded_views=[], swapped_views=["word_order"])
    labels, lines = np.full(4, 0.9) + np.arange(4) / 100, []
    pairs = [("a b c d", "d c b a"), ("e f", "f e"), ("g h i", "i h g"), ("j k", "k j")]
    assert choose_label_views(config, lambda v: labels, None, lines.append, pairs)[0] == [
        "word_order"
    ]
    other = [("a b", "c d")] * 4
    assert choose_label_views(config, lambda v: labels, None, lines.append, other)[0] == ["pooled"]
    assert "teachers.crowded_views is empty" in lines[-1]


@pytest.mark.parametrize("sd", [0.05, 0.25])
def test_crowded_views_replace_label_views_before_the_dev_sample_chooses(sd):
    """Crowded cycle-1 labels switch to crowded_views, and the dev candidates then start from
    them: a lead under the margin keeps the switched views; spread labels keep label_views."""
    from transencoder.training.teachers import DEV_VIEWS_MARGIN, choose_label_views

    config = _teachers(
        label_views=["pooled"], crowded_views=["token_f1"], start_views=["pooled", "token_f1"]
    )
    labels = np.random.default_rng(0).normal(0.5, sd, 500)
    asked, seen = [], []

    def dev_scores(candidates):
        seen.extend(candidates)
        # pooled leads the first candidate by less than the margin, the others trail
        return [70.0 + (DEV_VIEWS_MARGIN / 2 if c == ["pooled"] else 0.0) for c in candidates]

    views, record = choose_label_views(
        config, lambda v: asked.append(v) or labels, dev_scores, lambda line: None, pairs=[]
    )
    first = ["token_f1"] if sd < 0.2 else ["pooled"]
    assert asked == [["pooled"]]  # cycle 1's labels under label_views, measured once
    assert record["label_sd"] == pytest.approx(float(np.std(labels)), abs=1e-4)
    assert seen[0] == first and views == first
    assert list(record["dev"]) == [" + ".join(c) for c in seen]
    # Without a dev sample, or with the rule off, nothing else is asked.
    assert choose_label_views(config, lambda v: labels, None, lambda line: None, [])[0] == first
    off = _teachers(label_views=["pooled"], crowded_views=[], swapped_views=[])
    assert choose_label_views(off, lambda v: 1 / 0, None, lambda line: None, []) == (["pooled"], {})
