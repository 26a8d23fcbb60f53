"""Train a tiny bi-encoder a few steps under `accelerate launch` and check each strategy's promise.

    ACCELERATE_USE_CPU=1 accelerate launch --config_file distributed/<strategy>.yaml \
        --num_processes 4 tests/distributed/scripts/accelerate_smoke.py <s1,s2,...> <tiny_bert_dir>

Strategies run one after the other in the same launch (one Accelerator, a fresh strategy and
model each); each prints "SMOKE OK <name>" or "SMOKE FAIL <name>: <why>" on rank 0.

Promises checked after every optimizer step (4 steps of 2 micro-batches):
* ddp, gtc, zero3, mics: every rank holds the same model;
* bmuf, gtc-bmuf (G = 2, K = 2): the members of a group hold the same model, and all ranks
  hold the same model after steps 2 and 4 (block syncs), but not in between.
Exits non-zero when any strategy broke a promise.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from accelerate import Accelerator

from transencoder.distributed import StrategyConfig, build_strategy
from transencoder.models import BiEncoder
from transencoder.models.batching import pad_batch
from transencoder.testing import tiny_sentences


def flat_state(strategy, model) -> torch.Tensor:
    if strategy.name in ("mics", "zero3"):  # sharded: compare the gathered full model
        state = strategy.full_state_dict(model)
    else:  # the local model, as it is
        state = strategy.unwrap(model).state_dict()
    return torch.cat([v.detach().float().reshape(-1).cpu() for _, v in sorted(state.items())])


def smoke(name: str, path: str, accelerator: Accelerator) -> dict:
    """Train 4 steps with strategy ``name``; assert its promise after each; return its stats."""
    world = accelerator.num_processes
    strategy = build_strategy(
        StrategyConfig(name=name, group_size=2, threshold=1e-4, block_steps=2), accelerator
    )
    torch.manual_seed(accelerator.process_index)  # different starts: prepare must unify them
    model = BiEncoder.from_pretrained(path, device="cpu")
    model.encoder.pooler.requires_grad_(False)
    model, optimizer = strategy.prepare(model, lambda ps: torch.optim.AdamW(ps, lr=1e-3))
    sentences = tiny_sentences()
    tokens = strategy.unwrap(model).tokenize(sentences)
    rank = accelerator.process_index
    start = flat_state(strategy, model)
    for step in range(1, 5):
        for micro in range(2):
            rows = [(rank * 7 + step * 3 + micro * 5 + i) % len(sentences) for i in range(6)]
            batch = pad_batch([tokens[i] for i in rows], 0, device=accelerator.device)
            with strategy.accumulate(model, micro == 1):
                emb = model(**batch)
                loss = F.mse_loss(F.cosine_similarity(emb[:3], emb[3:]), torch.full((3,), 0.5))
                accelerator.backward(loss / 2)
        strategy.step(optimizer)
        everyone = [None] * world
        dist.all_gather_object(everyone, flat_state(strategy, model))
        all_equal = all(torch.equal(everyone[0], x) for x in everyone)
        if name in ("ddp", "gtc", "zero3", "mics"):
            assert all_equal, f"{name}: ranks differ after step {step}"
        else:
            for g in strategy.topology.partition_groups():
                same = all(torch.equal(everyone[g[0]], everyone[r]) for r in g)
                assert same, f"{name}: group {g} differs after step {step}"
            synced = step % 2 == 0
            assert all_equal == synced, f"{name}: all ranks equal={all_equal} after step {step}"
    trained = not torch.equal(start, flat_state(strategy, model))
    assert trained, f"{name}: the model did not train"
    stats = strategy.stats()
    strategy.close()
    return stats


def main() -> None:
    names, path = sys.argv[1].split(","), sys.argv[2]
    accelerator = Accelerator()
    world = accelerator.num_processes
    assert world == 4, (
        f"expected 4 processes, Accelerate started {world} ({accelerator.distributed_type})"
    )
    failed = False
    for name in names:
        try:  # the checks use gathered values, so every rank passes or fails together
            stats = smoke(name, path, accelerator)
            kinds = {k: v["participants"] for k, v in stats["collectives"].items()}
            line = f"SMOKE OK {name}: {stats['bytes_per_step_mean']:.0f} bytes/rank/step, {kinds}"
        except AssertionError as error:
            failed = True
            line = f"SMOKE FAIL {name}: {error}"
        if accelerator.is_main_process:
            print(line, flush=True)
    accelerator.end_training()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
