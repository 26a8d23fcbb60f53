"""Package attributes imported on first use (PEP 562), so that importing a package (the command
line's parser among its importers) does not import torch."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module


def lazy_exports(package: str, sources: dict[str, str]) -> tuple[Callable, Callable]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``: each name of ``sources``
    (name -> submodule, e.g. ``"BiEncoder": ".models"``) is imported from its submodule the
    first time it is read, then kept as an ordinary attribute."""

    def __getattr__(name: str):
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(sources[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(sources))

    return __getattr__, __dir__
