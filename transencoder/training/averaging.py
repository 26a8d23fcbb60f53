"""Weight averaging of models that share an architecture and an initialisation (a "model soup").

The recommended recipe restarts the bi-encoder from the start checkpoint in every cycle, so the
cycles' bi-encoders are fine-tunings of one set of weights on different targets; their uniform
weight average is a single model of the same size and speed as each of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def average_weights(states: Iterable[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform average of state dicts with the same keys and shapes.

    Floating-point tensors are summed in float64 and cast back to their own dtype; other tensors
    (integer buffers such as position ids) must be equal in every state and are kept as they are.
    """
    total: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    count = 0
    for state in states:
        if count and state.keys() != total.keys():
            differing = sorted(set(total) ^ set(state))[:5]
            raise ValueError(f"cannot average models with different parameters (e.g. {differing})")
        for name, tensor in state.items():
            tensor = tensor.detach()
            if count == 0:
                dtypes[name] = tensor.dtype
                total[name] = (
                    tensor.double().clone() if tensor.is_floating_point() else tensor.clone()
                )
            elif total[name].shape != tensor.shape:
                raise ValueError(
                    f"cannot average {name}: shape {tuple(tensor.shape)} against {tuple(total[name].shape)}"
                )
            elif tensor.is_floating_point():
                total[name] += tensor.double()
            elif not torch.equal(total[name], tensor):
                raise ValueError(
                    f"cannot average {name}: a non-float tensor that differs between models"
                )
        count += 1
    if count == 0:
        raise ValueError("no models to average")
    return {
        name: (tensor / count).to(dtypes[name]) if tensor.is_floating_point() else tensor
        for name, tensor in total.items()
    }


def mix_weights(
    start: dict[str, torch.Tensor], result: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * start + alpha * result`` per tensor (float64, cast back to each tensor's
    dtype): a point on the line between two models sharing an architecture (WiSE-FT's weight-space
    ensembling). Non-float tensors must be equal and are kept."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"a mixing coefficient must be in [0, 1], got {alpha}")
    if start.keys() != result.keys():
        differing = sorted(set(start) ^ set(result))[:5]
        raise ValueError(f"cannot mix models with different parameters (e.g. {differing})")
    out = {}
    for name, tensor in result.items():
        first = start[name].detach()
        if first.shape != tensor.shape:
            raise ValueError(
                f"cannot mix {name}: shape {tuple(first.shape)} against {tuple(tensor.shape)}"
            )
        if tensor.is_floating_point():
            mixed = (1.0 - alpha) * first.double() + alpha * tensor.detach().double()
            out[name] = mixed.to(tensor.dtype)
        elif torch.equal(first, tensor):
            out[name] = tensor.detach().clone()
        else:
            raise ValueError(
                f"cannot mix {name}: a non-float tensor that differs between the models"
            )
    return out
