"""The replicated strategies: ``ddp``, ``gtc``, ``bmuf`` and ``gtc-bmuf``, where every rank
holds the whole model and data parallelism runs inside a group of ranks (the world for ``ddp``
and ``gtc``; see :mod:`.data_parallel` and :mod:`.gtc_bmuf`). The sharded ones are
:mod:`.sharded`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .faults import translate_errors
from .gtc import GTCState
from .gtc_bmuf import GroupTraining, build_group_training
from .strategy import Strategy


class DataParallelStrategy(Strategy):
    """``ddp``, ``gtc``, ``bmuf`` and ``gtc-bmuf``: DDP inside the group (dense or GTC hook),
    optional BMUF across groups (see :mod:`.gtc_bmuf`). With groups of one rank, ``gtc`` and
    ``gtc-bmuf`` still compress: each rank's own update goes through GTC's threshold and
    residual (DDP over the one-rank group runs the hook, which exchanges nothing)."""

    training: GroupTraining | None = None

    @property
    def data_parallel_group(self) -> dist.ProcessGroup:
        return self.groups.partition_group

    def _wrap(self, model: nn.Module) -> nn.Module:
        cfg = self.config
        uses_bmuf = cfg.name in ("bmuf", "gtc-bmuf")
        eta = cfg.block_momentum
        if eta is None:
            eta = 1.0 - 1.0 / self.topology.num_groups
        self.training = build_group_training(
            model,
            self.groups,
            comm=self.comm,
            device=self.device,
            threshold=cfg.threshold if cfg.name in ("gtc", "gtc-bmuf") else None,
            block_steps=cfg.block_steps if uses_bmuf else None,
            block_momentum=eta,
            block_lr=cfg.block_lr,
            nesterov=cfg.nesterov,
            warmup_steps=cfg.warmup_steps,
            bucket_cap_mb=cfg.bucket_cap_mb,
            find_unused_parameters=cfg.find_unused_parameters,
        )
        return self.training.model if self.training.model is not None else model

    @contextmanager
    def accumulate(self, model: nn.Module, is_last_microbatch: bool) -> Iterator[None]:
        """Non-last micro-batches run under DDP's ``no_sync`` (gradients accumulate locally);
        the last one triggers the group's hook (all-reduce or GTC)."""
        self._begin_micro_batch()
        skip = not is_last_microbatch and isinstance(model, DistributedDataParallel)
        with (
            translate_errors("forward/backward", rank=self.rank),
            model.no_sync() if skip else nullcontext(),
        ):
            yield

    def _after_step(self) -> None:
        if self.training is not None and self.training.bmuf is not None:
            self.training.bmuf.after_step()

    @property
    def bmuf(self):
        return self.training.bmuf if self.training is not None else None

    @property
    def gtc_state(self) -> GTCState | None:
        state = self.training.hook_state if self.training is not None else None
        return state if isinstance(state, GTCState) else None

    def synchronize(self, model: nn.Module) -> None:
        """End of a BMUF phase: a plain average of the progress since the last block sync, or
        nothing when a sync just ran (see :meth:`BlockwiseModelUpdateFilter.finish`)."""
        if self.bmuf is not None:
            with self.comm.stage("final-sync"), translate_errors("BMUF sync", rank=self.rank):
                self.bmuf.finish()

    def _stop_threads(self) -> None:
        if self.gtc_state is not None:
            self.gtc_state.close()

    def _algorithm_state_bytes(self) -> dict[str, int]:
        extra = {}
        if self.gtc_state is not None:
            residuals = self.gtc_state.compressor.residuals.values()
            extra["gtc_residuals"] = sum(r.numel() * r.element_size() for r in residuals)
        if self.bmuf is not None:
            extra["bmuf"] = self.bmuf.state_bytes()
        return extra

    @torch.no_grad()
    def full_state_dict(
        self, model: nn.Module, *, rank0_only: bool = False
    ) -> dict[str, torch.Tensor]:
        """The module's state. With BMUF between syncs the groups' models differ; the state
        returned is then their mean (an all-reduce over the world; floating tensors only), the
        same on every rank. Right after a sync (or :meth:`synchronize`) every rank holds the
        same model and it is returned as it is."""
        module = self.unwrap(model)
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        diverged = self.bmuf is not None and self.bmuf.steps_since_sync > 0
        if diverged and self.topology.num_groups > 1:
            group = self.groups.world_group
            p = group.size()
            with (
                self.comm.stage("checkpoint"),
                translate_errors("full_state_dict", rank=self.rank),
            ):
                for value in state.values():
                    if value.is_floating_point():
                        dist.all_reduce(value, group=group)
                        value.div_(p)
        if rank0_only and self.rank != 0:
            return {}
        return {k: v.cpu() for k, v in state.items()}
