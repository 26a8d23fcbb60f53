"""The libraries' progress bars follow our ``show_progress_bar`` (see also
:func:`transencoder.models.bi_encoder.progress_default`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def library_bars(show: bool | None) -> Iterator[None]:
    """With ``show`` False, hide transformers' and huggingface_hub's bars (weight loading,
    shard writing) inside the block, and restore their state after it."""
    if show is not False:
        yield
        return
    from huggingface_hub import utils as hub
    from transformers.utils import logging as hf_logging

    transformers_on = hf_logging.is_progress_bar_enabled()
    hub_off = hub.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()
    hub.disable_progress_bars()
    try:
        yield
    finally:
        if transformers_on:
            hf_logging.enable_progress_bar()
        if not hub_off:
            hub.enable_progress_bars()
