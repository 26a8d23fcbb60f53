"""The GPU check script: on a machine without CUDA it says so, runs nothing and exits 0; on a
GPU machine it plans every strategy for the GPUs present."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "eval/bench_gpu.py"], ["bash", "scripts/gpu_check.sh"]],
    ids=["python", "shell"],
)
def test_without_cuda_it_says_so_and_exits_0(command, tmp_path):
    out = tmp_path / "gpu"
    done = subprocess.run(
        [*command, "--out", str(out)], cwd=ROOT, env=_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no CUDA device" in done.stdout
    assert not out.exists()  # nothing measured, nothing written


def _bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "eval" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_strategy_is_planned_for_the_gpus_present():
    plan = _bench_gpu().plan_strategies
    from transencoder.distributed import STRATEGIES

    for gpus in (1, 2, 4, 8):
        steps = dict(plan(gpus))
        assert list(steps) == list(STRATEGIES)
        for name in ("mics", "gtc-bmuf"):  # groups of half the GPUs: replicas / several groups
            assert steps[name] == (gpus // 2 if gpus > 1 else 1)
        assert steps["bmuf"] == 1 and steps["ddp"] is None and steps["zero3"] is None
