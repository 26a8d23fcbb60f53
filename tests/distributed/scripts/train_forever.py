"""A rank of a training job that never ends by itself (the dead-rank test kills one of them).

    RANK=.. WORLD_SIZE=.. MASTER_ADDR=.. MASTER_PORT=.. python train_forever.py STRATEGY READY_DIR

It trains a small model with the given strategy and, after 3 steps, creates READY_DIR/<rank>.
Nothing here catches errors: a PeerFailure must end the process with a non-zero status.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from transencoder.distributed import StrategyConfig, build_strategy


def main() -> None:
    name, ready = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    config = StrategyConfig(
        name=name, group_size=2, block_steps=100_000, threshold=1e-3, timeout_s=30
    )
    strategy = build_strategy(config)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    model, optimizer = strategy.prepare(model, lambda ps: torch.optim.SGD(ps, lr=0.01))
    step = 0
    while True:
        x = torch.randn(8, 16)
        with strategy.accumulate(model, True):
            model(x).pow(2).mean().backward()
        strategy.step(optimizer)
        step += 1
        if step == 3:
            (ready / str(rank)).touch()
        time.sleep(0.02)  # a little "compute"


if __name__ == "__main__":
    main()
    os._exit(0)
