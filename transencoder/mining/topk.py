"""Exact k-nearest neighbours by cosine, in blocks, without ever building the N x N matrix.

The result is *canonical*: each row's neighbours are the ``k`` largest by (similarity
descending, index ascending), so ties between equal similarities are broken by the smaller
index, never by the order in which blocks were visited or how ``torch.topk`` happened to pick.
That makes the answer independent of the block size and of how the blocks are shared among
ranks (a distributed run merges to the same bytes as a single process).

All-against-all search (:func:`exact_neighbours`) visits only the blocks on and above the
diagonal: a block ``S = X_I X_J^T`` gives candidates to the rows of ``I`` (row-wise top-k of
``S``) and to the rows of ``J`` (row-wise top-k of ``S^T``), so every similarity is computed
once, half the products of a full sweep, and ``(a, b)`` and ``(b, a)`` carry the same float.
Memory: the embeddings, the ``(N, k)`` running result, and a few ``chunk_size^2`` float32
blocks; nothing grows with ``N^2``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

_LOW32 = (1 << 32) - 1
#: The index of an empty slot (its similarity is -inf), larger than any real index.
EMPTY = _LOW32


@dataclass
class Neighbours:
    """Each row's ``k`` nearest neighbours, most similar first (ties: smaller index first).

    Attributes:
        scores: ``(n, k)`` float32 cosine similarities.
        indices: ``(n, k)`` int64 row indices of the corpus.
    """

    scores: np.ndarray
    indices: np.ndarray

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def order_keys(values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """int64 keys whose descending order is (value descending, index ascending).

    A float32's bits, read as int32 with the lower 31 bits of negatives flipped, order like the
    floats; the index goes in the low 32 bits, reversed so that a smaller index ranks higher.
    """
    bits = values.contiguous().view(torch.int32).to(torch.int64)
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return ordered * (1 << 32) + (_LOW32 - indices.to(torch.int64))


def canonical_topk(
    values: torch.Tensor, indices: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best ``(value, index)`` of each row, in canonical order.

    Args:
        values: ``(rows, m)`` float32 similarities.
        indices: ``(rows, m)`` or ``(m,)`` int64 corpus indices of the columns.
        k: how many to keep (at most ``m``).
    """
    if indices.dim() == 1:
        indices = indices.expand_as(values)
    k = min(k, values.shape[1])
    position = torch.topk(order_keys(values, indices), k, dim=1).indices
    return values.gather(1, position), indices.gather(1, position)


def select_topk(
    values: torch.Tensor, indices: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The canonical top-k *set* of each row (in no particular order within the row).

    A float ``torch.topk`` of ``k + 1`` (fast) settles every row whose k-th and (k+1)-th values
    differ: the set is then the same whatever the tie-breaking. Only rows with a tie at that
    boundary need the exact (value, index) key ordering of :func:`canonical_topk`.

    Args:
        values: ``(rows, m)`` float32.
        indices: ``(rows, m)`` int64, or ``(m,)`` shared by every row (the block's columns).
    """
    width = values.shape[1]
    if width <= k:
        if indices.dim() == 1:
            indices = indices.expand_as(values)
        return values, indices
    best, position = torch.topk(values, k + 1, dim=1, sorted=True)
    chosen = indices[position] if indices.dim() == 1 else indices.gather(1, position)
    tied = best[:, k - 1] == best[:, k]
    best, chosen = best[:, :k], chosen[:, :k]
    if bool(tied.any()):
        rows = tied.nonzero().squeeze(1)
        best = best.clone()
        chosen = chosen.clone()
        full = indices if indices.dim() == 1 else indices[rows]
        best[rows], chosen[rows] = canonical_topk(values[rows], full, k)
    return best, chosen


class RunningTopk:
    """The best ``k`` candidates seen so far for each of ``n`` rows (a canonical top-k set).

    A similarity block reaches the state through :meth:`offer_block`: once a row holds ``k``
    candidates, only block entries at or above its current k-th value (its *floor*) can change
    it, and after a few blocks those are a small fraction. So the block is compared with the
    floors (one cheap pass) and only the entries that pass are merged, by a sort of
    ``(row, key)``; a full ``torch.topk`` of the block is used only while too many pass (the
    first blocks of a row).
    """

    def __init__(self, n: int, k: int, *, dense_factor: int = 4) -> None:
        self.k = k
        self.values = torch.full((n, k), float("-inf"), dtype=torch.float32)
        self.indices = torch.full((n, k), EMPTY, dtype=torch.int64)
        self.dense_factor = dense_factor

    def offer(
        self, rows: slice | torch.Tensor, values: torch.Tensor, indices: torch.Tensor
    ) -> None:
        """Merge candidates for ``rows`` (``values``/``indices`` shaped ``(len(rows), m)``)."""
        merged_values = torch.cat([self.values[rows], values], dim=1)
        merged_indices = torch.cat([self.indices[rows], indices], dim=1)
        self.values[rows], self.indices[rows] = select_topk(merged_values, merged_indices, self.k)

    def offer_block(
        self, block: torch.Tensor, rows: slice, cols: slice, *, transposed: bool = False
    ) -> None:
        """Merge a similarity block: ``block[i, j]`` = sim(row ``rows[i]``, corpus row ``cols[j]``).

        With ``transposed``, the block's *columns* are the rows to update (``block[i, j]`` =
        sim(row ``cols[j]``, corpus row ``rows[i]``)); the block is read as it lies in memory.
        """
        own, other = (cols, rows) if transposed else (rows, cols)
        floor = self.values[own].amin(dim=1)
        passing = block >= (floor.unsqueeze(0) if transposed else floor.unsqueeze(1))
        first, second = passing.nonzero(as_tuple=True)
        if first.numel() > self.dense_factor * self.k * (own.stop - own.start):
            lined = block.T.contiguous() if transposed else block
            columns = torch.arange(other.start, other.stop, dtype=torch.int64)
            self.offer(own, *select_topk(lined, columns, self.k))
            return
        values = block[first, second]
        if transposed:
            first, second = second, first
        self.offer_sparse(first + own.start, second + other.start, values)

    def offer_sparse(self, rows: torch.Tensor, indices: torch.Tensor, values: torch.Tensor) -> None:
        """Merge loose candidates ``(row, index, value)`` (any number per row)."""
        if rows.numel() == 0:
            return
        touched = torch.unique(rows)
        k = self.k
        rows = torch.cat([rows, touched.repeat_interleave(k)])
        indices = torch.cat([indices, self.indices[touched].reshape(-1)])
        values = torch.cat([values, self.values[touched].reshape(-1)])
        # Best first within each row: sort by key, then (stably) by row.
        order = torch.argsort(order_keys(values, indices), descending=True, stable=True)
        order = order[torch.argsort(rows[order], stable=True)]
        rows, indices, values = rows[order], indices[order], values[order]
        _, counts = torch.unique_consecutive(rows, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(rows.numel()) - starts.repeat_interleave(counts)
        keep = rank < k
        self.values[rows[keep], rank[keep]] = values[keep]
        self.indices[rows[keep], rank[keep]] = indices[keep]

    def merge(self, other: RunningTopk) -> None:
        self.offer(slice(None), other.values, other.indices)

    def result(self) -> Neighbours:
        """The neighbours in canonical order (one key sort of the final ``(n, k)`` arrays)."""
        values, indices = canonical_topk(self.values, self.indices, self.k)
        return Neighbours(values.numpy().copy(), indices.numpy().copy())


@contextmanager
def bookkeeping_threads() -> Iterator[None]:
    """Run the small tensor operations of a merge on one thread.

    Each parallel region of a small operation ends at a barrier; on a busy machine one of the
    threads is often descheduled and the barrier waits for it: measured on a loaded 2-core box, a
    26k-element gather took 0.5 ms on one thread and 39 ms on two. The matrix products, where the
    work per region is large, keep every thread.
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def normalized(embeddings: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (float32, CPU); a zero row stays zero."""
    tensor = torch.as_tensor(np.ascontiguousarray(embeddings), dtype=torch.float32)
    return torch.nn.functional.normalize(tensor, dim=1)


def upper_blocks(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """The ``(I, J)`` block numbers with ``J >= I`` of an ``n x n`` matrix, row-major."""
    count = -(-n // chunk_size)
    return [(i, j) for i in range(count) for j in range(i, count)]


def _span(block: int, chunk_size: int, n: int) -> slice:
    return slice(block * chunk_size, min((block + 1) * chunk_size, n))


def sweep_blocks(
    unit: torch.Tensor, k: int, chunk_size: int, blocks: list[tuple[int, int]]
) -> Iterator[RunningTopk]:
    """Run the given upper blocks of the all-against-all search; yields the state after each.

    A generator so that callers can drive a progress bar; the last state yielded is the result
    for these blocks (merge several ranks' states with :meth:`RunningTopk.merge`).
    """
    n = unit.shape[0]
    state = RunningTopk(n, k)
    for first, second in blocks:
        rows, cols = _span(first, chunk_size, n), _span(second, chunk_size, n)
        block = unit[rows] @ unit[cols].T
        if first == second:
            # One product per pair: mirror the strict upper triangle, so (a, b) == (b, a) bitwise.
            block = torch.triu(block, diagonal=1)
            block = block + block.T
            block.fill_diagonal_(float("-inf"))
        with bookkeeping_threads():
            state.offer_block(block, rows, cols)
            if first != second:
                state.offer_block(block, rows, cols, transposed=True)
        yield state


def exact_neighbours(
    embeddings: np.ndarray | torch.Tensor,
    k: int,
    *,
    chunk_size: int = 2048,
    progress=None,
) -> Neighbours:
    """Each row's ``k`` nearest other rows by cosine, exactly.

    Args:
        embeddings: ``(n, dim)``; normalised here (cosine), so raw embeddings are fine.
        k: neighbours per row, ``1 <= k < n``.
        chunk_size: rows per block; peak extra memory is about ``3 * chunk_size^2 * 4`` bytes.
        progress: optional callable ``(done_blocks, total_blocks)`` for a progress bar.

    Returns:
        :class:`Neighbours` in canonical order; a row never lists itself.
    """
    unit = normalized(embeddings)
    _check_k(k, unit.shape[0] - 1)
    blocks = upper_blocks(unit.shape[0], chunk_size)
    state = RunningTopk(unit.shape[0], k)
    for done, swept in enumerate(sweep_blocks(unit, k, chunk_size, blocks), start=1):
        state = swept
        if progress is not None:
            progress(done, len(blocks))
    return state.result()


def search_exact(
    corpus: np.ndarray | torch.Tensor,
    queries: np.ndarray | torch.Tensor,
    k: int,
    *,
    chunk_size: int = 2048,
    query_ids: np.ndarray | None = None,
) -> Neighbours:
    """The ``k`` nearest corpus rows of each query by cosine (queries need not be in the corpus).

    Args:
        query_ids: the corpus row of each query, when the queries are corpus rows: that row is
            then left out of the query's neighbours.
    """
    unit, asked = normalized(corpus), normalized(queries)
    _check_k(k, unit.shape[0] - (1 if query_ids is not None else 0))
    n, m = unit.shape[0], asked.shape[0]
    state = RunningTopk(m, k)
    own = torch.as_tensor(query_ids, dtype=torch.int64) if query_ids is not None else None
    for q in range(0, m, chunk_size):
        rows = slice(q, min(q + chunk_size, m))
        for c in range(0, n, chunk_size):
            cols = slice(c, min(c + chunk_size, n))
            block = asked[rows] @ unit[cols].T
            if own is not None:
                local = own[rows] - c
                hit = (local >= 0) & (local < block.shape[1])
                block[hit.nonzero().squeeze(1), local[hit]] = float("-inf")
            with bookkeeping_threads():
                state.offer_block(block, rows, cols)
    return state.result()


def _check_k(k: int, available: int) -> None:
    if not 1 <= k <= available:
        raise ValueError(f"k must be between 1 and {available} (the other rows), got {k}")
