"""The mined pool: no self pair, no pair twice in either order, the band, the random share."""

from __future__ import annotations

import numpy as np
import pytest

from transencoder.mining.candidates import build_candidates, random_count
from transencoder.mining.topk import exact_neighbours


def _corpus(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(2, n // 10), 12))
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, 12))
    unit = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    sentences = [f"sentence number {i}" for i in range(n)]
    return unit, sentences


def _build(unit, sentences, k=5, low=-1.0, high=0.99, share=0.3, seed=0):
    found = exact_neighbours(unit, k, chunk_size=64)
    pool = build_candidates(
        found,
        unit,
        sentences,
        min_similarity=low,
        max_similarity=high,
        random_share=share,
        seed=seed,
    )
    return found, pool


@pytest.mark.parametrize(
    ("n", "k", "share"), [(300, 5, 0.3), (500, 3, 0.5), (120, 10, 0.1), (80, 2, 0.0)]
)
def test_pool_invariants(n, k, share):
    unit, sentences = _corpus(n, seed=n)
    found, pool = _build(unit, sentences, k=k, low=0.2, high=0.95, share=share)
    first, second = pool.first, pool.second
    assert (first < second).all()  # no self pair; one orientation
    keys = set(zip(first.tolist(), second.tolist()))
    assert len(keys) == len(pool)  # no pair twice, in either order
    # the cosines are the pairs' own
    np.testing.assert_allclose(
        pool.similarity, np.einsum("ij,ij->i", unit[first], unit[second]), atol=1e-6
    )
    neighbour = ~pool.is_random
    # neighbour pairs: in the band, and exactly the band's neighbours of the search
    assert (pool.similarity[neighbour] >= 0.2).all() and (pool.similarity <= 0.95).all()
    expected = {
        (min(i, j), max(i, j))
        for i in range(n)
        for j, s in zip(found.indices[i].tolist(), found.scores[i].tolist())
        if 0.2 <= s <= 0.95
    }
    assert set(zip(first[neighbour].tolist(), second[neighbour].tolist())) == expected
    # the random share, within one pair of the setting
    randoms = int(pool.is_random.sum())
    assert abs(randoms - share * len(pool)) <= 1
    assert pool.counts["neighbour_pairs"] == len(expected)
    assert pool.counts["random_pairs"] == randoms == random_count(len(expected), share)


def test_same_seed_same_pool_other_seed_other_random_pairs():
    unit, sentences = _corpus(400)
    _, a = _build(unit, sentences, seed=3)
    _, b = _build(unit, sentences, seed=3)
    _, c = _build(unit, sentences, seed=4)
    for name in ("first", "second", "similarity", "is_random"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    randoms = lambda p: set(zip(p.first[p.is_random].tolist(), p.second[p.is_random].tolist()))  # noqa: E731
    assert randoms(a) != randoms(c)


def test_near_identical_sentences_are_never_paired():
    unit, sentences = _corpus(60, seed=9)
    # sentences 0..9 get a twin that differs only in case and spacing
    twins = [s.upper().replace(" ", "  ") for s in sentences[:10]]
    unit = np.concatenate([unit, unit[:10]])
    _, pool = _build(unit, sentences + twins, k=4, high=1.0, share=0.4)
    for a, b in zip(pool.first.tolist(), pool.second.tolist()):
        assert not (b == a + 60 and a < 10), (a, b)
    assert pool.counts["dropped_near_identical_text"] >= 10


def test_tiny_corpus_cannot_fill_the_random_share():
    unit, sentences = _corpus(5, seed=1)
    _, pool = _build(unit, sentences, k=4, share=0.9)
    assert len(set(zip(pool.first.tolist(), pool.second.tolist()))) == len(pool) <= 10
    assert pool.counts["random_pairs"] < pool.counts["random_pairs_wanted"]


def test_rejection_sampling_path_keeps_the_invariants(monkeypatch):
    """Large corpora draw random pairs by rejection instead of listing every pair."""
    import transencoder.mining.candidates as candidates

    monkeypatch.setattr(candidates, "ENUMERATE_LIMIT", 100)
    unit, sentences = _corpus(400, seed=2)
    found, pool = _build(unit, sentences, k=3, share=0.45)
    keys = set(zip(pool.first.tolist(), pool.second.tolist()))
    assert len(keys) == len(pool) and (pool.first < pool.second).all()
    assert abs(int(pool.is_random.sum()) - 0.45 * len(pool)) <= 1
    neighbour_keys = set(
        zip(pool.first[~pool.is_random].tolist(), pool.second[~pool.is_random].tolist())
    )
    assert len(neighbour_keys) == pool.counts["neighbour_pairs"]
