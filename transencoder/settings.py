"""Building blocks of every settings dataclass (a run's ``TrainConfig`` and its sections, the
distributed ``StrategyConfig``): the error, documented fields, and value checks."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from .errors import UsageError


class ConfigError(UsageError):
    """A configuration value is invalid; the message names the field and what is allowed."""


def setting(default: Any, doc: str, *, factory: bool = False) -> Any:
    """A dataclass field with its documentation (``metadata["doc"]``)."""
    if factory:
        return field(default_factory=default, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


def choice(value: Any, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")


def boolean(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


def positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
