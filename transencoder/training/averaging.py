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
                total[name] = tensor.double().clone() if tensor.is_floating_point() else tensor.clone()
            elif total[name].shape != tensor.shape:
                raise ValueError(
                    f"cannot average {name}: shape {tuple(tensor.shape)} against {tuple(total[name].shape)}"
                )
            elif tensor.is_floating_point():
                total[name] += tensor.double()
            elif not torch.equal(total[name], tensor):
                raise ValueError(f"cannot average {name}: a non-float tensor that differs between models")
        count += 1
    if count == 0:
        raise ValueError("no models to average")
    return {
        name: (tensor / count).to(dtypes[name]) if tensor.is_floating_point() else tensor
        for name, tensor in total.items()
    }
