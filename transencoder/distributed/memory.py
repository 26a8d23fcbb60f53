"""Memory each rank holds: model states from the tensors themselves, and the peak of a step.

*Model states* (ZeRO's term) are the parameters, their gradients and the optimizer's state. They
are counted from the tensors this rank actually holds: for a sharded parameter (FSDP2's
``DTensor``) the local shard only, so that DDP reports the whole model, ZeRO-3 ``1/N`` of it and
MiCS ``1/G`` (up to the rounding of uneven shards). Each storage is counted once.

*Algorithm state* is what a strategy keeps besides: GTC's residuals (one element per gradient
element), BMUF's ``W_g`` and ``Delta`` (``1/G`` of the model each).

*Peak of a step* is measured, not derived: on CUDA the allocator's high-water mark between the
first micro-batch and the end of the optimizer step (``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``); on a Linux CPU the process's resident-set high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs``) over the same span, which includes
everything the process holds (interpreter, libraries, activations), so the increase over the
step's start is the figure to compare. Elsewhere it is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

CONVENTION = {
    "model_state": "parameters + gradients + optimizer state this rank holds (local shards of "
    "sharded tensors), after the optimizer step, before zero_grad; each storage once",
    "algorithm_state": "GTC residuals, BMUF W_g and Delta slices",
    "peak": "cuda: allocator high-water mark from the first micro-batch to the end of the step; "
    "cpu (Linux): process VmHWM over the same span (peak_step_increase = VmHWM - RSS at start)",
}


def _unique_bytes(tensors: Iterable[torch.Tensor], seen: set) -> int:
    total = 0
    for tensor in tensors:
        if tensor is None or not isinstance(tensor, torch.Tensor):
            continue
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
        key = (local.device, local.untyped_storage().data_ptr(), local.storage_offset())
        if local.numel() == 0 or key in seen:
            continue
        seen.add(key)
        total += local.numel() * local.element_size()
    return total


def model_state_bytes(
    module: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, int]:
    """``parameters``, ``gradients``, ``optimizer`` and their sum ``model_state``, in bytes."""
    seen: set = set()
    params = list(module.parameters())
    held = {
        "parameters": _unique_bytes(params, seen),
        "gradients": _unique_bytes((p.grad for p in params), seen),
        "optimizer": _unique_bytes(
            (
                value
                for state in (optimizer.state.values() if optimizer is not None else ())
                for value in state.values()
            ),
            seen,
        ),
    }
    held["model_state"] = sum(held.values())
    return held


class StepPeak:
    """The memory high-water mark of one training step on ``device`` (see the module text)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.source = self._source()
        self.peak = 0
        self.increase = 0
        self._start: int | None = None

    def _source(self) -> str | None:
        if self.device.type == "cuda":
            return "cuda allocator"
        try:
            Path("/proc/self/clear_refs").write_text("5")
            _status("VmHWM")
        except (OSError, ValueError):
            return None
        return "process VmHWM (Linux)"

    def begin(self) -> None:
        """Start of a step (first micro-batch); idempotent until :meth:`end`."""
        if self.source is None or self._start is not None:
            return
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            Path("/proc/self/clear_refs").write_text("5")
            self._start = _status("VmRSS")

    def end(self) -> None:
        """End of the step: keep the largest peak and increase seen so far."""
        if self.source is None or self._start is None:
            return
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = _status("VmHWM")
        self.peak = max(self.peak, peak)
        self.increase = max(self.increase, peak - self._start)
        self._start = None

    def summary(self) -> dict:
        return {
            "peak_step_bytes": self.peak if self.source else None,
            "peak_step_increase": self.increase if self.source else None,
            "peak_source": self.source,
        }


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"/proc/self/status has no {field}")
    return int(match.group(1)) * 1024
