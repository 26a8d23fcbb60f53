"""Exact neighbours against a float64 brute force; faiss indexes against the exact sweep."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transencoder.mining.topk import exact_neighbours, search_exact


def brute_force(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 cosines, self excluded: (top-k values, top-k indices, full similarity matrix)."""
    unit = x.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, 1), order, sims


def assert_matches_brute_force(found, x: np.ndarray, k: int, atol: float = 1e-6) -> int:
    """Values equal within float32 rounding; index sets equal wherever the k-th value is clear
    of the (k+1)-th by more than the rounding (elsewhere any tied member is right). Returns the
    number of rows checked by index."""
    values, indices, sims = brute_force(x, k)
    np.testing.assert_allclose(found.scores, values, atol=atol)
    assert (found.indices != np.arange(len(x))[:, None]).all(), "a row lists itself"
    # every reported neighbour's float64 similarity is its reported value
    np.testing.assert_allclose(np.take_along_axis(sims, found.indices, 1), found.scores, atol=atol)
    following = np.sort(sims, axis=1)[:, ::-1][:, k] if k < len(x) - 1 else np.full(len(x), -np.inf)
    clear = values[:, -1] - following > 4 * atol
    for row in np.flatnonzero(clear):
        assert set(found.indices[row]) == set(indices[row]), row
    return int(clear.sum())


@pytest.mark.parametrize(
    ("n", "dim", "k", "chunk"),
    [(257, 16, 5, 64), (300, 8, 10, 7), (100, 32, 99, 33), (64, 4, 1, 64), (50, 6, 3, 1000)],
)
def test_exact_equals_float64_brute_force(n, dim, k, chunk):
    x = np.random.default_rng(n + k).standard_normal((n, dim)).astype(np.float32)
    found = exact_neighbours(x, k, chunk_size=chunk)
    assert found.scores.shape == found.indices.shape == (n, k)
    assert assert_matches_brute_force(found, x, k) > 0.9 * n
    # most similar first
    assert (np.diff(found.scores, axis=1) <= 0).all()


def test_ties_and_chunk_sizes():
    """Exact copies tie; results agree across chunk sizes up to float32 rounding (a product's
    last bit depends on the block shape), and the copies always come first."""
    base = np.random.default_rng(1).standard_normal((40, 8)).astype(np.float32)
    x = np.concatenate([base, base, base])  # every row has two exact copies
    runs = [exact_neighbours(x, 4, chunk_size=c) for c in (7, 16, 40, 120, 500)]
    for run in runs:
        np.testing.assert_allclose(run.scores, runs[0].scores, atol=1e-6)
        for row in range(120):
            copies = {(row + 40) % 120, (row + 80) % 120}
            assert set(run.indices[row, :2]) == copies, row
        assert_matches_brute_force(run, x, 4)


def test_block_order_does_not_change_the_result():
    """The same blocks visited in another order, or split between two states that are merged
    (what ranks do), give the same bytes: ties are broken by index, not by visiting order."""
    from transencoder.mining.topk import normalized, sweep_blocks, upper_blocks

    base = np.random.default_rng(6).standard_normal((70, 6)).astype(np.float32)
    unit = normalized(np.concatenate([base, base[:30]]))
    blocks = upper_blocks(100, 16)
    *_, whole = sweep_blocks(unit, 5, 16, blocks)
    *_, backwards = sweep_blocks(unit, 5, 16, blocks[::-1])
    *_, even = sweep_blocks(unit, 5, 16, blocks[0::2])
    *_, odd = sweep_blocks(unit, 5, 16, blocks[1::2])
    odd.merge(even)
    reference = whole.result()
    for other in (backwards.result(), odd.result()):
        np.testing.assert_array_equal(other.indices, reference.indices)
        np.testing.assert_array_equal(other.scores, reference.scores)


def test_both_orders_carry_the_same_float():
    x = np.random.default_rng(2).standard_normal((203, 12)).astype(np.float32)
    found = exact_neighbours(x, 6, chunk_size=50)
    table = {(i, j): s for i in range(203) for j, s in zip(found.indices[i], found.scores[i])}
    mutual = [(i, j) for (i, j) in table if (j, i) in table]
    assert mutual
    assert all(table[i, j] == table[j, i] for i, j in mutual)


def test_search_exact_matches_the_sweep_and_brute_force():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((311, 16)).astype(np.float32)
    swept = exact_neighbours(x, 7, chunk_size=64)
    searched = search_exact(x, x, 7, chunk_size=45, query_ids=np.arange(311))
    np.testing.assert_array_equal(searched.indices, swept.indices)
    np.testing.assert_allclose(searched.scores, swept.scores, atol=1e-6)
    queries = rng.standard_normal((29, 16)).astype(np.float32)  # not corpus rows
    outside = search_exact(x, queries, 5, chunk_size=100)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = np.argsort(
        -(queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ unit.T, axis=1
    )[:, :5]
    assert all(set(a) == set(b) for a, b in zip(outside.indices, expected))


def test_memory_is_bounded_by_the_chunk_not_n(monkeypatch):
    """No product larger than chunk x chunk is ever formed."""
    import transencoder.mining.topk as topk

    x = torch.nn.functional.normalize(torch.randn(1000, 8), dim=1)
    largest = []
    real_offer_block = topk.RunningTopk.offer_block

    def spy(self, block, rows, cols, **kwargs):
        largest.append(block.numel())
        return real_offer_block(self, block, rows, cols, **kwargs)

    monkeypatch.setattr(topk.RunningTopk, "offer_block", spy)
    exact_neighbours(x, 3, chunk_size=128)
    assert max(largest) <= 128 * 128


def test_k_out_of_range():
    x = np.ones((5, 3), np.float32)
    with pytest.raises(ValueError, match="k must be between 1 and 4"):
        exact_neighbours(x, 5)


faiss = pytest.importorskip("faiss")


def test_faiss_flat_gives_the_exact_neighbours():
    from transencoder.mining.ann import build_index, search_index

    x = np.random.default_rng(4).standard_normal((500, 24)).astype(np.float32)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    exact = exact_neighbours(unit, 8, chunk_size=128)
    flat = search_index(build_index(unit, "flat"), unit, 8, query_ids=np.arange(500), chunk_size=77)
    np.testing.assert_allclose(flat.scores, exact.scores, atol=1e-5)
    assert assert_matches_brute_force(flat, x, 8, atol=1e-5) > 450
    agree = (flat.indices == exact.indices).all(axis=1).mean()
    assert agree > 0.95


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_are_deterministic_and_close(kind):
    from transencoder.mining.ann import build_index, search_index

    rng = np.random.default_rng(5)
    centres = rng.standard_normal((20, 16))
    x = (centres[rng.integers(0, 20, 2000)] + 0.3 * rng.standard_normal((2000, 16))).astype(
        np.float32
    )
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    exact = exact_neighbours(unit, 10)
    runs = [
        search_index(
            build_index(unit, kind, seed=7, nlist=40, nprobe=8), unit, 10, query_ids=np.arange(2000)
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].indices, runs[1].indices)
    assert (runs[0].indices != np.arange(2000)[:, None]).all()
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(runs[0].indices, exact.indices)])
    assert recall > 0.9
