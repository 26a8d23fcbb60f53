"""`accelerate launch` of every strategy with its shipped config, 4 CPU processes (gloo).

Accelerate 1.x starts a single process for `launch --cpu --num_processes 4` (multi-CPU needs
MPI); the shipped multi-GPU configs with ACCELERATE_USE_CPU=1 start 4 gloo processes through
torchrun, which is what runs here. The script asserts 4 processes, so a silent fallback to one
process fails the test.
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


@pytest.mark.multiprocess
@pytest.mark.parametrize("strategy", ["ddp", "mics", "gtc", "bmuf", "gtc-bmuf"])
def test_accelerate_launch_smoke(strategy, tiny_model, tmp_path):
    config = ROOT / "distributed" / f"{strategy}.yaml"
    env = dict(
        os.environ,
        ACCELERATE_USE_CPU="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [
        *_accelerate(),
        "launch",
        "--config_file",
        str(config),
        "--num_processes",
        "4",
        "--main_process_port",
        "0",
        str(SCRIPT),
        strategy,
        str(tiny_model),
    ]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert f"SMOKE OK {strategy}" in output, output[-6000:]
