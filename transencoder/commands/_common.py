"""Small helpers the commands share."""

from __future__ import annotations


def split_list(text: str | None) -> list[str] | None:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; ``None`` or an empty text -> ``None``."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None
