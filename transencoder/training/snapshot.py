"""Training-state snapshots, written atomically, so a killed run resumes where it stopped.

A snapshot holds what the next optimizer step depends on: model weights, optimizer and
scheduler state, the RNG states (dropout masks) and the position in the data plan. Resuming
from it replays exactly the steps an unbroken run would have taken (data order is a pure
function of seed and epoch, so only the position is stored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..files import atomic_file


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class PhaseSnapshot:
    """The snapshot file of one training phase (e.g. ``cycle-2/cross``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, *, model_state: dict, optimizer, scheduler, position: dict[str, Any]) -> None:
        state = {
            "model": model_state,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(),
            "position": position,
        }
        with atomic_file(self.path) as handle:
            torch.save(state, handle)

    def load(self) -> dict[str, Any] | None:
        """The snapshot, or None when there is none.

        Raises:
            RunDirError: the file cannot be read back (named, with what to do).
        """
        if not self.exists():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # a torn or foreign file: torch raises many kinds
            from .rundir import RunDirError

            raise RunDirError(
                f"{self.path}: the training snapshot is damaged ({type(err).__name__}); "
                "delete it to restart that phase from its beginning"
            ) from None

    def remove(self) -> None:
        if self.exists():
            self.path.unlink()
