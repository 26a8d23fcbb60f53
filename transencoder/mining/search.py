"""The neighbour-search phase of mining: the index a corpus gets, and its cache.

``search_neighbours`` runs the exact sweep or a faiss index (sharded among the ranks of a
``torch.distributed`` run); ``cached_search`` keeps its answer in the mining cache so that a
resumed run skips it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..files import save_npy, write_json
from .config import MiningConfig
from .embeddings import EmbeddingCache
from .ranks import broadcast_flag, broadcast_neighbours, exact_sharded, index_sharded, world
from .topk import Neighbours, exact_neighbours


def _show(show: bool | None) -> bool:
    from ..progress import progress_default

    return progress_default(show)


def search_neighbours(
    unit: np.ndarray,
    config: MiningConfig,
    *,
    seed: int,
    show_progress_bar: bool | None = None,
    ranks: tuple[int, int] | None = None,
) -> tuple[Neighbours, dict[str, Any]]:
    """Every row's ``config.k`` neighbours with the index ``config`` chooses for this corpus,
    shared among ``ranks`` (world size, this rank; default: the process group's)."""
    ranks = ranks or world()
    n = unit.shape[0]
    kind = config.index_for(n)
    info: dict[str, Any] = {"index": kind}
    bar = tqdm(
        total=1, desc=f"search ({kind})", disable=not _show(show_progress_bar) or ranks[1] != 0
    )

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    if kind == "exact":
        info["chunk_size"] = config.chunk_size
        if ranks[0] > 1:
            found = exact_sharded(unit, config.k, chunk_size=config.chunk_size, ranks=ranks)
        else:
            found = exact_neighbours(
                unit, config.k, chunk_size=config.chunk_size, progress=progress
            )
    else:
        from .ann import build_index, default_nlist, search_index

        index = build_index(
            unit,
            kind,
            seed=seed,
            nlist=config.nlist,
            nprobe=config.nprobe,
            hnsw_m=config.hnsw_m,
            ef_construction=config.ef_construction,
            ef_search=config.ef_search,
        )
        if kind == "ivf":
            info.update(
                nlist=config.nlist or default_nlist(n), nprobe=min(config.nprobe, index.nlist)
            )
        elif kind == "hnsw":
            info.update(
                M=config.hnsw_m, ef_construction=config.ef_construction, ef_search=config.ef_search
            )
        if ranks[0] > 1:
            found = index_sharded(index, unit, config.k, ranks=ranks)
        else:
            found = search_index(index, unit, config.k, query_ids=np.arange(n), progress=progress)
    bar.close()
    return found, info


def _search_key(config: MiningConfig, seed: int, kind: str) -> str:
    fields = {"k": config.k, "index": kind}
    if kind == "exact":
        fields["chunk_size"] = config.chunk_size
    elif kind != "flat":  # the approximate indexes: their answer depends on every knob
        fields.update(
            seed=seed,
            nlist=config.nlist,
            nprobe=config.nprobe,
            hnsw_m=config.hnsw_m,
            ef_construction=config.ef_construction,
            ef_search=config.ef_search,
        )
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def cached_search(
    unit: np.ndarray,
    config: MiningConfig,
    *,
    seed: int,
    cache: EmbeddingCache | None,
    show_progress_bar: bool | None = None,
    ranks: tuple[int, int] | None = None,
) -> tuple[Neighbours, dict[str, Any]]:
    """:func:`search_neighbours`, read from / written to ``cache`` (rank 0's, if distributed)."""
    ranks = ranks or world()
    size = ranks[0]
    kind = config.index_for(unit.shape[0])
    stored = cache.path(f"neighbours-{_search_key(config, seed, kind)}") if cache else None
    found, info = None, None
    if (
        stored is not None
        and (stored / "indices.npy").is_file()
        and (stored / "info.json").is_file()
    ):
        found = Neighbours(np.load(stored / "scores.npy"), np.load(stored / "indices.npy"))
        info = {**json.loads((stored / "info.json").read_text()), "from_cache": True}
    if size > 1 and broadcast_flag(found is not None):
        found = broadcast_neighbours(found, unit.shape[0], config.k)
        return found, info or {"index": kind, "from_cache": True}
    if found is not None:
        return found, info
    found, info = search_neighbours(
        unit, config, seed=seed, show_progress_bar=show_progress_bar, ranks=ranks
    )
    if stored is not None:  # indices.npy last: its presence marks a complete entry
        save_npy(stored / "scores.npy", found.scores)
        write_json(stored / "info.json", info, ascii_only=False)
        save_npy(stored / "indices.npy", found.indices)
    return found, info
