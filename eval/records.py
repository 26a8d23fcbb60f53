"""The benchmarks' JSON records: one current record per benchmark under ``eval/results/``.

Every record carries ``meta`` (the command that wrote it, when, on what machine, with which
library versions) next to its results; written atomically and as strict JSON (no NaN).

    record = read_record(path)              # {} when there is none yet
    write_record(path, {"results": ...})    # replaces it
    merge_record(path, "results", rows, key="strategy", settings=...)  # --append: same settings only
    write_section(path, "transfer", {...})  # one part of a record, the others kept
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any


def meta() -> dict[str, Any]:
    """Where and how a record was measured."""
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("transformers", "sentence_transformers", "accelerate"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:  # pragma: no cover - every benchmark machine has them
            pass
    return {
        "command": "python " + " ".join(shlex.quote(arg) for arg in sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            **_cpu(),
        },
        "versions": versions,
    }


def _cpu() -> dict[str, Any]:
    """The CPU's model name and its bf16 matrix flags (what ``precision=auto`` decides on)."""
    from transencoder.precision import cpu_flags

    name = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = sorted(cpu_flags() & {"amx_bf16", "avx512_bf16"})
    return {"cpu": name, "bf16_flags": flags}


def read_record(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_record(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with a fresh ``meta`` (temp file, then rename)."""
    return _write_json(path, {"meta": meta(), **payload})


def _write_json(path: str | Path, record: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def merge_record(
    path: str | Path,
    field: str,
    rows: list[dict],
    *,
    key: str,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Add ``rows`` to the record's ``field`` (a row with the same ``key`` value is replaced) and
    keep every command that contributed; refuse a record measured with other ``settings``."""
    record = read_record(path)
    if record and settings is not None and record.get("settings") != settings:
        raise SystemExit(
            f"{path} was measured with other settings ({record.get('settings')}); "
            "write a new record instead of --append"
        )
    commands = record.get("commands", [])
    command = meta()["command"]
    if command not in commands:
        commands.append(command)
    kept = {row[key]: row for row in record.get(field, [])}
    kept.update({row[key]: row for row in rows})
    payload = {
        **{k: v for k, v in record.items() if k != "meta"},
        field: list(kept.values()),
        "commands": commands,
    }
    if settings is not None:
        payload["settings"] = settings
    write_record(path, payload)
    return payload


def write_section(path: str | Path, section: str, payload: dict[str, Any]) -> Path:
    """Replace one section of a record (with its own ``meta``) and keep the rest, the file's
    ``meta`` included: one file per benchmark even when separate commands measure its parts."""
    record = read_record(path)
    record[section] = {"meta": meta(), **payload}
    return _write_json(path, record if "meta" in record else {"meta": meta(), **record})
