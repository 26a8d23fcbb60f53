"""Shared fixtures: the shared STS data (../shared/data/sts), tiny random models, SICK fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TRANSENCODER_STS_DATA", REPO.parent / "shared" / "data" / "sts"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# "auto" precision means fp32 in the suite (and in the processes it starts), on every machine:
# a figure compared with a reference must not depend on whether the CI machine has bf16 units.
# The bf16 paths are tested by asking for bf16 by name (torch emulates it where units are absent).
os.environ.setdefault("TRANSENCODER_BF16", "0")


def require_data() -> Path:
    if not (DATA / "senteval").is_dir():
        pytest.skip(f"shared STS data not found at {DATA} (set TRANSENCODER_STS_DATA)")
    return DATA


@pytest.fixture(scope="session")
def sts_data() -> Path:
    return require_data()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from transencoder.testing import tiny_bert_dir

    return tiny_bert_dir(tmp_path_factory.mktemp("tiny") / "bert")


from transencoder.testing import SICK_HEADER, SICK_ROWS, write_sick  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _one_thread_for_tiny_models(request):
    """Tiny models run fastest on one thread; end-to-end (slow) tests keep torch's default."""
    import torch

    if request.node.get_closest_marker("slow"):
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
