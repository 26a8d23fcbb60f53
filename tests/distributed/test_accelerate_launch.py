"""`accelerate launch` with the shipped config, 4 CPU processes (gloo), every strategy.

Accelerate 1.x starts a single process for `launch --cpu --num_processes 4` (multi-CPU needs
MPI); the shipped multi-GPU configs with ACCELERATE_USE_CPU=1 start 4 gloo processes through
torchrun, which is what runs here. The script asserts 4 processes, so a silent fallback to one
process fails the test. The six configs differ only in their comments (checked below), so one
launch runs the six strategies one after the other; each strategy has its own test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "scripts" / "accelerate_smoke.py"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transencoder.testing import tiny_bert_dir

    return tiny_bert_dir(tmp_path_factory.mktemp("tiny") / "bert")


def _accelerate() -> list[str]:
    exe = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which(
        "accelerate"
    )
    return [exe] if exe else [sys.executable, "-m", "accelerate.commands.launch"]


STRATEGIES = ["ddp", "zero3", "mics", "gtc", "bmuf", "gtc-bmuf"]


def test_configs_differ_only_in_comments():
    import yaml

    configs = {
        s: yaml.safe_load((ROOT / "distributed" / f"{s}.yaml").read_text()) for s in STRATEGIES
    }
    assert all(c == configs["ddp"] for c in configs.values())
    assert configs["ddp"]["distributed_type"] == "MULTI_GPU"


@pytest.fixture(scope="module")
def launch_output(tiny_model, tmp_path_factory):
    env = dict(
        os.environ,
        ACCELERATE_USE_CPU="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    config = ROOT / "distributed" / "ddp.yaml"
    cmd = [*_accelerate(), "launch", "--config_file", str(config), "--num_processes", "4"]
    cmd += ["--main_process_port", "0", str(SCRIPT), ",".join(STRATEGIES), str(tiny_model)]
    cwd = tmp_path_factory.mktemp("launch")
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=400)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.multiprocess
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_accelerate_launch_smoke(strategy, launch_output):
    returncode, output = launch_output
    assert f"SMOKE OK {strategy}:" in output, output[-6000:]
    if all(f"SMOKE OK {s}:" in output for s in STRATEGIES):
        assert returncode == 0, output[-6000:]
