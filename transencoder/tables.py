"""Figures as text: the one number format of tables, reports and cards, and the plain tables
the evaluators print."""

from __future__ import annotations

import math
from typing import Any


def figure(value: Any, digits: int = 2, missing: str = "-") -> str:
    """A figure with ``digits`` decimals; ``missing`` for None, NaN or infinity; an integer
    as it is; any other value as its text."""
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else missing


def format_table(rows: list[tuple[str, ...]], notes: dict[int, str] | None = None) -> str:
    """Header, rule, body rows, rule, last row; first column left-aligned, others right.

    ``notes`` maps a row number to a text printed after that row.
    """
    notes = notes or {}
    columns = len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(columns)]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
        line = "  ".join(cells).rstrip()
        lines.append(f"{line}  ({notes[number]})" if number in notes else line)
        if number in (0, len(rows) - 2):
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
