"""Keep transformers' own console output (load reports, weight-loading bars) in check.

transformers prints a LOAD REPORT table when a checkpoint lacks some weights (every time a
cross-encoder starts from an encoder: its head is new) and shows "Loading weights" bars. The
models here read the loading information themselves (see ``CrossEncoder.new_head``), so the
report is noise; the bars follow the caller's progress setting. Both are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transformers_output(*, progress: bool | None = None, reports: bool = False) -> Iterator[None]:
    """Within the block: transformers' warnings off unless ``reports``; its progress bars (and
    huggingface_hub's) off when ``progress`` is False, untouched when it is ``None``.

    Args:
        progress: ``False`` hides the bars, ``True`` shows them, ``None`` leaves them as they are.
        reports: keep transformers' warnings (LOAD REPORT tables among them).
    """
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hub_disabled = are_progress_bars_disabled()
    try:
        if not reports:
            hf_logging.set_verbosity_error()
        if progress is False:
            hf_logging.disable_progress_bar()
        elif progress is True:
            hf_logging.enable_progress_bar()
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        else:
            hf_logging.disable_progress_bar()
        # transformers switches huggingface_hub's bars along with its own: put those back too.
        if hub_disabled:
            disable_progress_bars()
        else:
            enable_progress_bars()
