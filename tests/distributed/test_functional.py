"""Gathers for the training loop: in-batch negatives with gradient, sharded labelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from harness import run_ranks

from transencoder.distributed import shard_indices


@pytest.mark.parametrize("world", [1, 2, 3, 4, 6])
def test_shards_cover_everything_once_in_order(world):
    for n in range(0, 24):
        shards = [shard_indices(n, r, world) for r in range(world)]
        assert [i for s in shards for i in s] == list(range(n))
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1


def test_shard_indices_rejects_bad_ranks():
    with pytest.raises(ValueError, match="rank"):
        shard_indices(10, 4, 4)
    with pytest.raises(ValueError, match="rank"):
        shard_indices(10, 0, 0)


def _global_loss(embeddings: torch.Tensor) -> torch.Tensor:
    """A loss with cross-rank terms (like InfoNCE over in-batch negatives)."""
    sims = embeddings @ embeddings.T
    return torch.logsumexp(sims, dim=1).mean() - sims.diagonal().mean()


def functional_worker(rank: int, world: int) -> dict:
    import torch.distributed as dist

    from transencoder.distributed import all_gather_with_grad, gather_in_order

    out = {}
    torch.manual_seed(0)
    encoder = torch.nn.Linear(3, 4, dtype=torch.float64)
    inputs = [
        torch.randn(r + 1, 3, generator=torch.Generator().manual_seed(r), dtype=torch.float64)
        for r in range(world)
    ]  # rank r holds r + 1 rows
    for scale in (True, False):
        encoder.zero_grad()
        gathered = all_gather_with_grad(encoder(inputs[rank]), scale=scale)
        _global_loss(gathered).backward()
        grads = torch.cat([p.grad.reshape(-1) for p in encoder.parameters()])
        dist.all_reduce(grads)
        grads /= world  # what data parallelism does with the ranks' gradients
        single = torch.nn.Linear(3, 4, dtype=torch.float64)
        single.load_state_dict(encoder.state_dict())
        _global_loss(single(torch.cat(inputs))).backward()
        reference = torch.cat([p.grad.reshape(-1) for p in single.parameters()])
        out[f"grad_ratio_scale_{scale}"] = (grads / reference).tolist()
        out[f"gathered_rows_{scale}"] = gathered.shape[0]

    n = 10
    mine = shard_indices(n, rank, world)
    scores = torch.tensor([[1.5 * i, -i] for i in mine], dtype=torch.float32).reshape(len(mine), 2)
    out["scores"] = gather_in_order(scores, n)
    out["scores_numpy"] = gather_in_order(np.asarray([0.25 * i for i in mine]), n)
    try:
        gather_in_order(torch.zeros(len(mine) + 1), n)
        out["wrong_length"] = "accepted"
    except ValueError as error:
        out["wrong_length"] = str(error)
    return out


@pytest.fixture(scope="module")
def functional_results():
    return run_ranks(functional_worker, 4)


@pytest.mark.multiprocess
def test_all_gather_with_grad_matches_single_process(functional_results):
    for r in functional_results:
        assert r["gathered_rows_True"] == 1 + 2 + 3 + 4  # unequal rows per rank
        assert np.allclose(r["grad_ratio_scale_True"], 1.0, atol=1e-10)
        # SimCSE's convention (no factor): the averaged gradient is 1/world of the true one
        assert np.allclose(r["grad_ratio_scale_False"], 0.25, atol=1e-10)


@pytest.mark.multiprocess
def test_gather_in_order_restores_the_original_order(functional_results):
    expected = torch.tensor([[1.5 * i, -i] for i in range(10)])
    for r in functional_results:
        assert torch.equal(r["scores"], expected)
        assert isinstance(r["scores_numpy"], np.ndarray)
        assert np.array_equal(r["scores_numpy"], 0.25 * np.arange(10))
        assert "shard_indices" in r["wrong_length"]
