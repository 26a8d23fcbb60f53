"""Every strategy in one plain process (no launcher, no process group): the same training code
must run, with a one-rank group and no traffic. Prints one line per strategy."""

from __future__ import annotations

import torch

from transencoder.distributed import STRATEGIES, StrategyConfig, build_strategy

torch.manual_seed(0)
for name in STRATEGIES:
    strategy = build_strategy(StrategyConfig(name=name, block_steps=2))
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model, optimizer = strategy.prepare(model, lambda ps: torch.optim.SGD(ps, lr=0.1))
    for _ in range(3):
        with strategy.accumulate(model, True):
            model(torch.randn(5, 4)).pow(2).mean().backward()
        strategy.step(optimizer)
    state = strategy.full_state_dict(model)
    changed = all(not torch.equal(before[n], state[n]) for n in before)
    stats = strategy.stats()
    strategy.close()
    words = stats["counters"].get("gtc_words_sent", 0)
    print(
        f"{name} steps={stats['steps']} bytes={stats['bytes_total']} changed={changed} "
        f"gtc_words={int(words)}"
    )
