"""The optimisation loop shared by every Trans-Encoder step.

One epoch follows a batch order (lists of example indices, a pure function of the seed and
the epoch number); ``collate`` turns indices into padded tensors; ``loss_fn`` computes the loss.
AdamW (no decay on biases and LayerNorm), linear warm-up then linear decay to zero, gradient
accumulation, gradient clipping, bf16 autocast where ``precision`` resolves to it (on a CPU with
bf16 units as on a GPU; :mod:`transencoder.precision`). Every ``checkpoint_every`` optimizer
steps the full training state is written, so a killed run resumes bit-for-bit.

The process layout comes in as a :class:`~transencoder.training.runtime.Runtime`: ``prepare``
(wrap/shard the model, build the optimizer), ``local_slice`` (this rank's share of a batch),
``accumulate`` (skip or reduce the gradient sync on micro-batches), ``clip``, ``step`` (optimizer
step plus the strategy's own communication), ``finish`` and ``state_dict`` (snapshots).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..precision import autocast
from ..progress import progress_default
from .runtime import LocalRuntime, Runtime
from .snapshot import PhaseSnapshot, set_rng_state
from .step_config import StepConfig

Batch = dict[str, torch.Tensor]
LOSS_WINDOW = 20  # optimizer steps per logged mean loss (after the first step's own window)


@dataclass
class PhaseStats:
    """What a phase did: optimizer steps, examples seen, wall time, loss trace."""

    name: str
    steps: int = 0
    examples: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # mean loss of each logging window:
    # step 1, steps 2-20, 21-40, ..., and the last steps (see LOSS_WINDOW)
    resumed_from_step: int = 0
    model: nn.Module | None = field(
        default=None, repr=False, compare=False
    )  # as the runtime prepared it

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "steps": self.steps,
            "examples": self.examples,
            "seconds": round(self.seconds, 2),
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "resumed_from_step": self.resumed_from_step,
        }


def adamw(parameters: Sequence[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only, not on biases and LayerNorm gains (the
    one-dimensional tensors), as BERT trains.

    The fused kernel where every parameter is a plain fp32 tensor on a CPU or CUDA device: one
    pass over each tensor instead of a dozen (``eval/results/profile.json``: a bf16 cross-encoder
    step 0.209 s against 0.263 s with torch's CPU default on an AMX CPU, where the matrix
    products no longer hide the optimizer).
    Sharded parameters (DTensors of FSDP2 / MiCS) keep the foreach kernel.
    """
    parameters = list(parameters)
    decay, no_decay = [], []
    for parameter in parameters:
        (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, fused=fused_adamw_applies(parameters))


def fused_adamw_applies(parameters: Sequence[torch.Tensor]) -> bool:
    """Whether torch's fused AdamW takes these parameters: plain fp32 tensors (not a tensor
    subclass such as a DTensor) on a CPU or CUDA device."""
    return bool(parameters) and all(
        type(p) in (torch.Tensor, nn.Parameter)
        and p.dtype == torch.float32
        and p.device.type in ("cpu", "cuda")
        for p in parameters
    )


def linear_schedule(
    optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak learning rate, then linear decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_model(
    model: nn.Module,
    *,
    name: str,
    batch_order: Callable[[int], Sequence[Sequence[int]]],
    collate: Callable[[Sequence[int]], Batch],
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor],
    step_config: StepConfig,
    seed: int,
    snapshot_file: PhaseSnapshot | None = None,
    checkpoint_every: int = 100,
    runtime: Runtime | None = None,
    precision: str = "auto",
    show_progress_bar: bool | None = None,
    on_step: Callable[[int, torch.Tensor, float], None] | None = None,
) -> PhaseStats:
    """Train ``model`` in place for ``step_config.epochs`` epochs of ``batch_order``.

    ``precision`` (``auto``, ``bf16``, ``fp32``) is the forward and backward passes' autocast;
    weights, gradients and optimizer states stay fp32.

    ``on_step(step, loss, lr)`` is called after every optimizer step with the step's last micro-batch loss (a
    tensor: reading it is a host sync, which a caller that logs pays for) and the learning rate.
    """
    runtime = runtime or LocalRuntime()
    cfg = step_config
    if runtime.world_size > 1:  # every rank needs a share: drop a last batch smaller than the world
        given = batch_order
        batch_order = lambda epoch: [b for b in given(epoch) if len(b) >= runtime.world_size]  # noqa: E731
    batches_per_epoch = len(batch_order(0))
    steps_per_epoch = math.ceil(batches_per_epoch / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.min_steps is not None:  # a budget that does not shrink with the pool
        total_steps = max(total_steps, cfg.min_steps)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    torch.manual_seed(seed)  # dropout masks of this phase; restored from the snapshot on resume
    model.train()
    model, optimizer = runtime.prepare(
        model, lambda params: adamw(params, cfg.lr, cfg.weight_decay)
    )
    scheduler = linear_schedule(optimizer, math.ceil(cfg.warmup_ratio * total_steps), total_steps)
    stats = PhaseStats(name)
    step = 0
    snapshot = snapshot_file.load() if snapshot_file else None
    if snapshot is not None:  # resume: weights, optimizer, schedule, RNG and position
        runtime.load_state_dict(model, snapshot["model"])
        optimizer.load_state_dict(snapshot["optimizer"])
        scheduler.load_state_dict(snapshot["scheduler"])
        set_rng_state(snapshot["rng"])
        step = snapshot["position"]["step"]
        stats.losses = list(snapshot["position"]["losses"])
        stats.examples = snapshot["position"]["examples"]
        stats.resumed_from_step = step
    device = next(model.parameters()).device
    window = torch.zeros((), device=device)  # loss summed on the device: no per-step host sync
    window_batches = 0
    if snapshot is not None:
        window += snapshot["position"]["window"]
        window_batches = snapshot["position"]["window_batches"]
    started = time.perf_counter()
    bar = tqdm(
        total=total_steps, initial=step, desc=name, disable=not progress_default(show_progress_bar)
    )
    while step < total_steps:
        epoch, first_step = divmod(step, steps_per_epoch)
        batches = batch_order(epoch)
        for micro in range(first_step * cfg.grad_accum, batches_per_epoch):
            is_last = (micro + 1) % cfg.grad_accum == 0 or micro + 1 == batches_per_epoch
            local = runtime.local_slice(batches[micro])  # this rank's share of the global batch
            batch = {k: v.to(device, non_blocking=True) for k, v in collate(local).items()}
            with runtime.accumulate(model, is_last), autocast(precision, device):
                loss = loss_fn(model, batch)
                (loss / cfg.grad_accum).backward()
            window += loss.detach()
            window_batches += 1
            stats.examples += len(batches[micro])  # examples of the global batch
            if not is_last:
                continue
            # One optimizer step: clip, update (plus the strategy's sync), advance the schedule.
            if cfg.max_grad_norm is not None:
                runtime.clip(model, cfg.max_grad_norm)
            runtime.step(optimizer)
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            step += 1
            if on_step is not None:
                on_step(step, loss.detach(), lr)
            bar.update(1)
            # The loss trace: step 1 on its own (so even a short phase has a first and a last
            # window), then every 20 steps and the last. A pure function of the step, so a
            # resumed phase logs the same windows. The only host sync of the loop.
            if step == 1 or step % LOSS_WINDOW == 0 or step == total_steps:
                stats.losses.append(float(window) / window_batches)
                bar.set_postfix(loss=f"{stats.losses[-1]:.4f}")
                window.zero_()
                window_batches = 0
            if snapshot_file is not None and step % checkpoint_every == 0 and step < total_steps:
                snapshot_file.save(
                    model_state=runtime.state_dict(model),
                    optimizer=optimizer,
                    scheduler=scheduler,
                    position={
                        "step": step,
                        "losses": stats.losses,
                        "examples": stats.examples,
                        "window": float(window),
                        "window_batches": window_batches,
                    },
                )
            if step >= total_steps:
                break
    bar.close()
    stats.steps = step
    stats.seconds = time.perf_counter() - started
    runtime.finish(model)  # e.g. a last BMUF block sync: every rank then holds the result
    model.eval()
    stats.model = model
    return stats
