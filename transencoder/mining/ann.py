"""Approximate (and exact) neighbour search with ``faiss-cpu`` for corpora too large for a sweep.

Three index kinds, all on inner products of unit vectors (= cosine):

* ``flat``: ``IndexFlatIP``, exact; faiss's own kernels (a cross-check of the torch sweep).
* ``ivf``: ``IndexIVFFlat``: k-means cells (``nlist``), a query scans the ``nprobe`` nearest
  cells. Cost per query ~ ``nlist + nprobe * n / nlist`` dot products. Deterministic: the
  k-means training sample is drawn with the run's seed and faiss's k-means is seeded.
* ``hnsw``: ``IndexHNSWFlat``: a navigable small-world graph (``M`` links per node,
  ``efConstruction`` / ``efSearch`` beam widths). Building it with several threads inserts
  nodes in a racy order, so the graph (and the neighbours) can differ between runs; it is built
  with one thread when ``deterministic`` is set.

Every search asks for ``k + 1`` neighbours, drops the query itself, and returns the rest in the
same canonical order as the exact sweep (similarity descending, index ascending).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch

from ..errors import UsageError
from .topk import EMPTY, Neighbours, canonical_topk

INDEX_KINDS = ("flat", "ivf", "hnsw")


def import_faiss():
    """The ``faiss`` module, or a :class:`UsageError` that says how to install it."""
    try:
        import faiss
    except ImportError as err:
        raise UsageError(
            "this index needs faiss: pip install 'transencoder[mining]' (faiss-cpu), "
            "or use --index exact"
        ) from err
    return faiss


def default_nlist(n: int) -> int:
    """IVF cells: about ``4 * sqrt(n)``, and at least 39 training points per cell."""
    return max(1, min(int(round(4 * math.sqrt(n))), n // 39))


@contextmanager
def _faiss_threads(faiss, count: int | None):
    if count is None:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def build_index(
    unit: np.ndarray,
    kind: str,
    *,
    seed: int = 0,
    nlist: int | None = None,
    nprobe: int = 32,
    hnsw_m: int = 32,
    ef_construction: int = 80,
    ef_search: int = 128,
    train_points_per_cell: int = 64,
    deterministic: bool = True,
):
    """A faiss index over ``unit`` (``(n, dim)`` float32 rows of length 1), ready to search."""
    faiss = import_faiss()
    n, dim = unit.shape
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
        index.add(unit)
    elif kind == "ivf":
        cells = nlist or default_nlist(n)
        if not 1 <= cells <= n:
            raise UsageError(f"--nlist must be between 1 and the corpus size {n}, got {cells}")
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        sample = min(n, cells * train_points_per_cell)
        index.cp.max_points_per_centroid = max(train_points_per_cell, -(-sample // cells))
        rows = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
        index.train(unit[rows])
        index.add(unit)
        index.nprobe = min(nprobe, cells)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        with _faiss_threads(faiss, 1 if deterministic else None):
            index.add(unit)
        index.hnsw.efSearch = ef_search
    else:
        raise UsageError(f"index must be one of {INDEX_KINDS}, got {kind!r}")
    return index


def search_index(
    index,
    queries: np.ndarray,
    k: int,
    *,
    query_ids: np.ndarray | None = None,
    chunk_size: int = 4096,
    progress: Callable[[int, int], None] | None = None,
) -> Neighbours:
    """The ``k`` nearest indexed rows of each query; a query's own row (``query_ids``) is dropped.

    Rows the index could not fill (an IVF query whose cells hold fewer than ``k`` vectors) end
    with similarity ``-inf`` and index :data:`~transencoder.mining.topk.EMPTY`.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    m = queries.shape[0]
    ask = k + (1 if query_ids is not None else 0)
    scores = np.empty((m, k), dtype=np.float32)
    indices = np.empty((m, k), dtype=np.int64)
    for start in range(0, m, chunk_size):
        stop = min(start + chunk_size, m)
        found_scores, found = index.search(queries[start:stop], ask)
        values = torch.from_numpy(found_scores.astype(np.float32))
        ids = torch.from_numpy(found.astype(np.int64))
        missing = ids < 0
        if query_ids is not None:
            own = torch.as_tensor(query_ids[start:stop], dtype=torch.int64).unsqueeze(1)
            is_self = ids == own
            # Without its own row among the answers, a query drops its last (weakest) answer.
            is_self[:, -1] |= ~is_self.any(dim=1)
            missing |= is_self
        values = values.masked_fill(missing, float("-inf"))
        ids = ids.masked_fill(missing, EMPTY)
        best_values, best_ids = canonical_topk(values, ids, k)
        scores[start:stop], indices[start:stop] = best_values.numpy(), best_ids.numpy()
        if progress is not None:
            progress(stop, m)
    return Neighbours(scores, indices)
