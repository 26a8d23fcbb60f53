"""Recipes and how a config is assembled: defaults, recipe file, YAML, flags, ``--set``.

``TrainConfig()`` is the recommended recipe; ``official`` is ``recipes/official.yaml`` applied on
top (the single source of the paper's settings; ``scripts/`` use it through ``--recipe
official``), ``pairs`` is ``recipes/pairs.yaml`` (the recommended recipe for
pair-classification pools). Later sources override earlier ones, field by field:
defaults -> recipe file -> ``values`` (a YAML file) -> ``overrides`` (flags) -> ``sets``
(``section.field=value`` strings, the value read as YAML).
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .config import SECTION_DEFAULTS, SECTIONS, ConfigError, TrainConfig

RECIPES = ("recommended", "official", "pairs")
_LIST_FIELDS = {
    "models",
    "pool_tasks",
    "eval_tasks",
    "label_views",
    "start_views",
    "crowded_views",
    "swapped_views",
    "report_to",
}


def recipe_values(name: str) -> dict[str, Any]:
    """The settings a recipe changes from ``TrainConfig()``'s defaults."""
    if name not in RECIPES:
        raise ConfigError(f"recipe must be one of {RECIPES}, got {name!r}")
    if name == "recommended":
        return {}
    text = (
        resources.files(__package__).joinpath("recipes", f"{name}.yaml").read_text(encoding="utf-8")
    )
    return yaml.safe_load(text)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def parse_set(assignment: str) -> dict[str, Any]:
    """``"bi.lr=4e-5"`` -> ``{"bi": {"lr": 4e-05}}`` (the value is read as YAML)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects section.field=value, got {assignment!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    nested: dict[str, Any] = {}
    *parents, leaf = key.strip().split(".")
    node = nested
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return nested


def build_config(
    values: dict[str, Any] | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | tuple[str, ...] = (),
) -> TrainConfig:
    """A validated config from the recipe named in ``values``/``overrides`` (default:
    recommended) plus ``values``, ``overrides`` (``None`` leaves are ignored) and ``sets``."""
    layers = [values or {}, _drop_none(overrides or {}), *(parse_set(s) for s in sets)]
    recipe = "recommended"
    for layer in layers:
        recipe = layer.get("recipe", recipe)
    merged: dict[str, Any] = {}
    for layer in [recipe_values(recipe), *layers]:
        _merge(merged, layer, "")
    merged["recipe"] = recipe
    return _to_config(merged).validate()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out


def _merge(into: dict[str, Any], layer: dict[str, Any], where: str) -> None:
    for key, value in layer.items():
        if key in SECTIONS and not where:
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a mapping of {key} settings, got {value!r}")
            _merge(into.setdefault(key, {}), value, f"{key}.")
        else:
            into[key] = value


def _to_config(merged: dict[str, Any]) -> TrainConfig:
    top = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(merged) - top)
    if unknown:
        hints = [f"{s}.{k}" for k in unknown for s, cls in SECTIONS.items() if k in _names(cls)]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise ConfigError(f"unknown setting(s) {unknown}{hint}; top-level settings: {sorted(top)}")
    kwargs = {}
    for key, value in merged.items():
        if key in SECTIONS:
            cls = SECTIONS[key]
            bad = sorted(set(value) - _names(cls))
            if bad:
                raise ConfigError(f"unknown {key} setting(s) {bad}; valid: {sorted(_names(cls))}")
            kwargs[key] = dataclasses.replace(
                SECTION_DEFAULTS[key], **_coerce(cls, value, f"{key}.")
            )
        else:
            kwargs[key] = value
    return TrainConfig(**_coerce(TrainConfig, kwargs, ""))


def _names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _coerce(cls, values: dict[str, Any], where: str) -> dict[str, Any]:
    """Comma-separated strings become lists where a list is expected, and YAML 1.1's ``2e-5``
    (read as a string) becomes a float where a float is expected."""
    kinds = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    out = dict(values)
    for key, value in values.items():
        if key in _LIST_FIELDS and isinstance(value, str):
            out[key] = [part.strip() for part in value.split(",") if part.strip()]
        elif "float" in kinds.get(key, "") and isinstance(value, str):
            try:
                out[key] = float(value)
            except ValueError:
                raise ConfigError(f"{where}{key} must be a number, got {value!r}") from None
    return out


def config_from_record(values: dict[str, Any]) -> TrainConfig:
    """The config a run recorded (``progress.json``), without the checks that need this machine
    (devices, installed trackers): for reports of a finished run."""
    return _to_config(values)
