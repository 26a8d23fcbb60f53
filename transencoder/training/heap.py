"""Hand the memory a finished phase freed back to the operating system.

A training step's activations (about 2.3 GiB for one 64-pair bi-encoder batch in fp32 on a
CPU; docs/experiments.md, "Memory of a tiny demo run") are freed when the phase ends, but
glibc's allocator keeps most of them mapped: the process then holds the cross-encoder phase's peak through the labelling and
evaluation phases and into the bi-encoder phase. ``malloc_trim(0)`` returns the free pages of
every arena; it frees nothing that is in use and changes no computation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import cache


@cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to do
        return None


def release_freed_memory() -> bool:
    """Collect garbage, then trim the C heap; True when the trim ran."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
