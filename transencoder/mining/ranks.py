"""Mining under ``torch.distributed`` (``accelerate launch``): every rank encodes and searches a
share, and every rank ends with the same embeddings and neighbours as one process would.

* Encoding: each chunk of the corpus is cut into the batches a one-process run forms for it
  (:func:`~transencoder.mining.embeddings.encode_batches`); rank ``r`` encodes batches
  ``r, r + world, ...``.
  A sentence is therefore encoded in exactly the batch it would meet in a one-process run, so
  its embedding has the same bits; the rows are gathered and put back in corpus order.
* Exact search: the upper blocks of the similarity matrix are dealt round-robin; each rank
  keeps a canonical running top-k for all rows; the ranks' states are gathered and merged in
  rank order. Canonical ties (value, then index) make the merge independent of who did which
  block, so the result equals the one-process sweep byte for byte.
* faiss indexes: every rank builds the same (seeded) index and searches a contiguous shard of
  the queries; :func:`~transencoder.distributed.functional.gather_in_order` restores the order.
* The cache: rank 0 alone reads and writes it and broadcasts what it read, so ranks need not
  share a file system.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist

from .embeddings import EmbeddingCache, chunk_spans, embed_batches, encode_batches
from .topk import Neighbours, RunningTopk, normalized, sweep_blocks, upper_blocks


def world() -> tuple[int, int]:
    """``(world size, rank)`` of the initialised process group, ``(1, 0)`` outside one: what
    mining uses when the caller names no ``ranks`` (a run passes its runtime's)."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1, 0
    return dist.get_world_size(), dist.get_rank()


def _gather_rows(local: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Every rank's ``local`` (row counts may differ), in rank order."""
    count = torch.tensor([local.shape[0]], dtype=torch.int64)
    counts = [torch.zeros_like(count) for _ in range(size)]
    dist.all_gather(counts, count)
    longest = int(max(c.item() for c in counts))
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded.contiguous())
    return [part[: int(c.item())] for part, c in zip(parts, counts)]


def broadcast_flag(value: bool) -> bool:
    flag = torch.tensor([1 if value else 0], dtype=torch.int64)
    dist.broadcast(flag, 0)
    return bool(flag.item())


def encode_sharded(
    model,
    sentences: Sequence[str],
    *,
    batch_size: int,
    batch_tokens: int | None,
    chunk: int,
    cache: EmbeddingCache | None,
    show_progress_bar: bool | None = None,
    ranks: tuple[int, int],
) -> tuple[np.ndarray, int]:
    """:func:`~transencoder.mining.embeddings.encode_corpus`, shared among the ``ranks``
    (world size, this rank)."""
    size, rank = ranks
    dim = int(model.encoder.config.hidden_size)
    out = np.empty((len(sentences), dim), dtype=np.float32)
    encoded = 0
    for number, span in enumerate(chunk_spans(len(sentences), chunk)):
        cached = cache.load(number, len(span)) if (rank == 0 and cache is not None) else None
        if broadcast_flag(cached is not None):
            rows = torch.from_numpy(cached) if rank == 0 else torch.empty((len(span), dim))
            dist.broadcast(rows, 0)
            out[span.start : span.stop] = rows.numpy()
            continue
        token_ids = model.tokenize([sentences[i] for i in span])
        lengths = [len(ids) for ids in token_ids]
        batches = encode_batches(lengths, batch_size=batch_size, batch_tokens=batch_tokens)
        mine = batches[rank::size]  # whole batches: each row meets the batch it meets alone
        local = torch.from_numpy(embed_batches(model, token_ids, mine))
        positions = [i for batch in mine for i in batch]
        positions = torch.tensor(positions, dtype=torch.float32).unsqueeze(1)  # exact below 2^24
        rows = torch.cat(_gather_rows(torch.cat([positions, local], dim=1), size))
        array = np.empty((len(span), dim), dtype=np.float32)
        array[rows[:, 0].long().numpy()] = rows[:, 1:].numpy()
        encoded += len(span)
        if rank == 0 and cache is not None:
            cache.save(number, array)
        out[span.start : span.stop] = array
    return out, encoded


def exact_sharded(
    unit: np.ndarray, k: int, *, chunk_size: int, ranks: tuple[int, int]
) -> Neighbours:
    """:func:`~transencoder.mining.topk.exact_neighbours`, blocks dealt round-robin to ranks."""
    size, rank = ranks
    vectors = normalized(unit)
    n = vectors.shape[0]
    state = RunningTopk(n, k)
    for swept in sweep_blocks(vectors, k, chunk_size, upper_blocks(n, chunk_size)[rank::size]):
        state = swept
    values = [torch.empty_like(state.values) for _ in range(size)]
    indices = [torch.empty_like(state.indices) for _ in range(size)]
    dist.all_gather(values, state.values)
    dist.all_gather(indices, state.indices)
    merged = RunningTopk(n, k)
    for part_values, part_indices in zip(values, indices):
        merged.offer(slice(None), part_values, part_indices)
    return merged.result()


def index_sharded(index, unit: np.ndarray, k: int, *, ranks: tuple[int, int]) -> Neighbours:
    """A faiss index searched by query shards; every rank gets all rows in order."""
    from ..distributed.functional import gather_in_order, shard_indices
    from .ann import search_index

    size, rank = ranks
    n = unit.shape[0]
    rows = shard_indices(n, rank, size)
    found = search_index(
        index, unit[rows.start : rows.stop], k, query_ids=np.arange(rows.start, rows.stop)
    )
    return Neighbours(gather_in_order(found.scores, n), gather_in_order(found.indices, n))


def broadcast_neighbours(found: Neighbours | None, n: int, k: int) -> Neighbours:
    """Rank 0's neighbours (e.g. read from its cache) on every rank."""
    scores = torch.from_numpy(found.scores) if found is not None else torch.empty((n, k))
    indices = (
        torch.from_numpy(found.indices)
        if found is not None
        else torch.empty((n, k), dtype=torch.int64)
    )
    dist.broadcast(scores, 0)
    dist.broadcast(indices, 0)
    return Neighbours(scores.numpy(), indices.numpy())
