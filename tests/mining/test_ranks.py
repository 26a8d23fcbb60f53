"""Mining on 2 gloo ranks gives the same pool, byte for byte, as one process."""

from __future__ import annotations

import numpy as np
import pytest

from tests.distributed.harness import run_ranks
from tests.mining.test_mine import sentences

SETTINGS = dict(
    k=4,
    min_similarity=-1.0,
    max_similarity=0.9999,
    random_share=0.3,
    encode_chunk=50,
    batch_tokens=64,
    batch_size=8,
    chunk_size=32,
)


def _mine(model_dir, config, cache_dir, index="exact", ranks=None):
    from transencoder import BiEncoder
    from transencoder.mining import MiningConfig, mine_pairs

    model = BiEncoder.from_pretrained(model_dir, device="cpu")
    result = mine_pairs(
        sentences(),
        model,
        MiningConfig(**config, index=index),
        seed=3,
        cache_dir=cache_dir,
        show_progress_bar=False,
        ranks=ranks,
    )
    return "".join(result.lines(with_scores=True)), result.summary["timing"]["encoded_now"]


def worker(rank, world_size, model_dir, config, cache_dir, index):
    first = _mine(model_dir, config, cache_dir, index)
    resumed = _mine(model_dir, config, cache_dir, index)  # from rank 0's cache, broadcast
    # Told it is one process (a run's local runtime), a rank mines alone: no collective, so
    # rank 1 finishes while rank 0 does nothing (a collective would wait for rank 0 and fail).
    alone = _mine(model_dir, config, None, index, ranks=(1, 0)) if rank == 1 else None
    return first, resumed, alone


@pytest.mark.multiprocess
@pytest.mark.parametrize("index", ["exact", "flat"])
def test_two_ranks_equal_one_process(tiny_model, tmp_path, index):
    if index == "flat":
        pytest.importorskip("faiss")
    single, _ = _mine(str(tiny_model), SETTINGS, None, index)
    results = run_ranks(worker, 2, str(tiny_model), SETTINGS, str(tmp_path / "cache"), index)
    for (text, encoded), (again, encoded_again), _ in results:
        assert text == single
        assert again == single
        assert encoded == 210 and encoded_again == 0
    assert results[0][2] is None and results[1][2] == (single, 210)
    # rank 0 alone wrote the cache: one folder, every chunk
    chunks = sorted(p.name for p in (tmp_path / "cache").glob("*/embeddings-*.npy"))
    assert chunks == [f"embeddings-{i:06d}.npy" for i in range(5)]
    lines = single.splitlines()
    assert (
        len(set(lines)) == len(lines) > 0
        and np.isfinite([float(x.split("\t")[2]) for x in lines]).all()
    )
