"""Whether to show progress bars: the one default every long loop uses."""

from __future__ import annotations

import sys


def progress_default(show: bool | None) -> bool:
    """``None`` means: show progress bars when stderr is a terminal."""
    return sys.stderr.isatty() if show is None else bool(show)
