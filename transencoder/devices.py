"""Checking a user's device name before any work starts, and the default device."""

from __future__ import annotations

import torch

from .errors import UsageError


def check_device(name: str | None, what: str = "--device") -> torch.device | None:
    """``name`` as a ``torch.device`` (None stays None), or a :class:`UsageError` naming the
    value when it is not a device or not present on this machine."""
    if name is None:
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"{what} {name!r} is not a device: use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"{what} {name!r}: this machine has no CUDA device; use cpu")
        if device.index is not None and device.index >= count:
            raise UsageError(
                f"{what} {name!r}: this machine has {count} CUDA device(s) (cuda:0 .. cuda:{count - 1})"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"{what} {name!r}: MPS is not available on this machine; use cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"{what} {name!r}: unsupported device type; use cpu or cuda")
    return device


def default_device() -> torch.device:
    """A GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
