"""The CLS MLP (SimCSE's pooler): a square Dense layer with Tanh, saved as sentence-transformers'
``2_Dense`` module (``config.json`` and ``model.safetensors``)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from .loading import ModelLoadError, load_module_weights


def load_mlp(directory: Path, config: dict, hidden: int) -> nn.Linear:
    activation = config.get("activation_function", "")
    if not activation.endswith("Tanh") or config.get("in_features") != config.get("out_features"):
        raise ModelLoadError(
            f"{directory}: only a square Dense layer with Tanh (the CLS MLP) is supported, "
            f"got {config}"
        )
    if config["in_features"] != hidden:
        raise ModelLoadError(f"{directory}: Dense in_features {config['in_features']} != {hidden}")
    layer = nn.Linear(hidden, hidden, bias=config.get("bias", True))
    state = load_module_weights(directory)
    layer.load_state_dict({key.removeprefix("linear."): value for key, value in state.items()})
    return layer


def save_mlp(directory: Path, mlp: nn.Linear) -> None:
    from safetensors.torch import save_file

    from ..files import write_json

    directory.mkdir(exist_ok=True)
    write_json(
        directory / "config.json",
        {
            "in_features": mlp.in_features,
            "out_features": mlp.out_features,
            "bias": mlp.bias is not None,
            "activation_function": "torch.nn.modules.activation.Tanh",
        },
    )
    state = {
        f"linear.{key}": value.detach().cpu().contiguous()
        for key, value in mlp.state_dict().items()
    }
    save_file(state, str(directory / "model.safetensors"))
