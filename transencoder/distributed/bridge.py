"""One object per strategy, for a plain Accelerate (or torch.distributed) training loop.

    >>> accelerator = Accelerator()                       # under `accelerate launch`
    >>> strategy = build_strategy(StrategyConfig(name="gtc-bmuf", group_size=2), accelerator)
    >>> model, optimizer = strategy.prepare(model, lambda params: torch.optim.AdamW(params, lr=5e-5))
    >>> for step_batches in loader:                       # one optimizer step = M micro-batches
    ...     for m, batch in enumerate(step_batches):
    ...         last = m == len(step_batches) - 1
    ...         with strategy.accumulate(model, last):
    ...             loss = compute_loss(model, batch) / len(step_batches)
    ...             loss.backward()                       # or accelerator.backward(loss)
    ...     strategy.clip_grad_norm(model, 1.0)           # optional
    ...     strategy.step(optimizer)                      # step, zero_grad, BMUF when due
    >>> state = strategy.full_state_dict(model)           # every rank calls it
    >>> strategy.unwrap(model).save(...)                  # after load_state_dict(state) if needed

The strategy wraps the model itself instead of ``accelerator.prepare(model)``: Accelerate's DDP
cannot run over a sub-group, and its FSDP path refuses the CPU/gloo case; dataloaders, autocast
and ``accelerator.backward`` are used as usual (with ``gradient_accumulation_steps=1`` in the
Accelerator: micro-batching is the loop's and :meth:`Strategy.accumulate`'s business).
"""

from __future__ import annotations

from ..settings import ConfigError
from .config import STRATEGIES, StrategyConfig
from .replicated import DataParallelStrategy
from .sharded import MiCSStrategy, ZeRO3Strategy
from .strategy import MakeOptimizer, Strategy, select_device

__all__ = [
    "DataParallelStrategy",
    "MakeOptimizer",
    "MiCSStrategy",
    "Strategy",
    "ZeRO3Strategy",
    "build_strategy",
    "select_device",
]


def build_strategy(config: StrategyConfig, accelerator=None) -> Strategy:
    """The strategy object for ``config`` (a collective: every rank must call it).

    Args:
        config: the strategy and its knobs.
        accelerator: an ``accelerate.Accelerator`` (its device is used); ``None`` uses the
            already-initialised ``torch.distributed`` state (or a one-rank group).
    """
    if config.local:
        raise ConfigError(
            f"distributed.name {config.name!r} means one process and no strategy; name one of "
            + ", ".join(STRATEGIES)
        )
    if config.name == "mics":
        return MiCSStrategy(config, accelerator)
    if config.name == "zero3":
        return ZeRO3Strategy(config, accelerator)
    return DataParallelStrategy(config, accelerator)
