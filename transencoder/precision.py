"""Numeric precision of every path: one setting, ``auto``, ``bf16`` or ``fp32``.

``bf16`` runs the forward pass (and the backward pass in training) under
``torch.autocast(dtype=torch.bfloat16)``: matrix products in bf16, reductions, norms and losses in
fp32 as autocast's op lists keep them. Master weights, optimizer states and saved models stay
fp32, so a saved model opens in sentence-transformers unchanged. bf16 needs no loss scaling.

``auto`` is bf16 where the device multiplies bf16 natively, fp32 elsewhere:

* CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and later);
* CPU: the flags ``amx_bf16`` (Intel Sapphire Rapids and later) or ``avx512_bf16`` (Intel Cooper
  Lake, AMD Zen 4 and later). Without them torch still runs bf16, but emulated and slower than
  fp32, which is why ``auto`` does not pick it there.

:func:`native_bf16` is the one place that decides; the environment variable
``TRANSENCODER_BF16=1|0`` overrides it (a CPU whose flags are hidden by a hypervisor; tests force
each answer with it).
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "fp32")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
OVERRIDE = "TRANSENCODER_BF16"


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where ``/proc/cpuinfo`` is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(device: torch.device | str | None = None) -> bool:
    """Whether ``device`` (default: the CPU) multiplies bf16 matrices natively."""
    forced = os.environ.get(OVERRIDE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    device = torch.device(device or "cpu")
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(flag in cpu_flags() for flag in CPU_BF16_FLAGS)
    return False


def check_precision(value: str, what: str = "--precision") -> str:
    if value not in PRECISIONS:
        from .errors import UsageError

        raise UsageError(f"{what} must be one of {', '.join(PRECISIONS)}, got {value!r}")
    return value


def resolve(precision: str | None, device: torch.device | str | None = None) -> str:
    """``bf16`` or ``fp32``: what ``precision`` (None means ``auto``) runs as on ``device``."""
    precision = check_precision(precision or "auto")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str | None, device: torch.device | str | None = None):
    """The context a forward (and backward) pass runs in at ``precision`` on ``device``."""
    device = torch.device(device or "cpu")
    if resolve(precision, device) == "fp32" or device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def describe(device: torch.device | str | None = None) -> str:
    """One line for logs and reports: what ``auto`` chooses here, and why."""
    device = torch.device(device or "cpu")
    forced = os.environ.get(OVERRIDE, "").strip()
    if forced in ("0", "1"):
        reason = f"{OVERRIDE}={forced}"
    elif device.type == "cuda":
        reason = "CUDA bf16 " + ("supported" if native_bf16(device) else "not supported")
    else:
        found = [f for f in CPU_BF16_FLAGS if f in cpu_flags()]
        reason = "CPU flags " + (
            ", ".join(found) if found else f"without {' or '.join(CPU_BF16_FLAGS)}"
        )
    return f"auto = {resolve('auto', device)} on {device.type} ({reason})"


class InferencePass:
    """Calls of a module (or of its submodules) at one precision, for inference only.

    ``fp32`` calls the module as it is. ``bf16`` calls it with bf16 copies of its floating-point
    weights (``torch.func.functional_call``; the module's own fp32 weights are untouched), so every
    op runs in bf16 with no per-op casts. Measured on STS-B test with the packaged MiniLM, this is
    faster than autocast at the same Spearman (``eval/results/profile.json``). Training keeps
    autocast, whose reductions and norms stay in fp32.
    """

    def __init__(self, module: torch.nn.Module, precision: str | None, device=None) -> None:
        self.module = module
        self.bf16 = resolve(precision, device) == "bf16"
        self.weights: dict[str, torch.Tensor] = {}
        self._subsets: dict[int, dict[str, torch.Tensor]] = {}  # per submodule, built once
        if self.bf16:
            named = [*module.named_parameters(), *module.named_buffers()]
            self.weights = {
                name: tensor.detach().to(torch.bfloat16)
                for name, tensor in named
                if tensor.is_floating_point()
            }

    def __call__(self, submodule: torch.nn.Module | None = None, /, *args, **kwargs):
        """``submodule(*args, **kwargs)`` (default: the module itself) at this pass's precision."""
        target = self.module if submodule is None else submodule
        if not self.bf16:
            return target(*args, **kwargs)
        weights = self._subsets.get(id(target))
        if weights is None:
            prefix = "" if target is self.module else self._prefix(target)
            weights = {
                name[len(prefix) :]: tensor
                for name, tensor in self.weights.items()
                if name.startswith(prefix)
            }
            self._subsets[id(target)] = weights
        return torch.func.functional_call(target, weights, args, kwargs, strict=False)

    def _prefix(self, submodule: torch.nn.Module) -> str:
        for name, candidate in self.module.named_modules():
            if candidate is submodule:
                return f"{name}."
        raise ValueError(f"{type(submodule).__name__} is not a submodule of the pass's module")
