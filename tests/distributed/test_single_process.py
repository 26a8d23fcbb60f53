"""Without a launcher (one plain process) every strategy runs the same code with no traffic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "scripts" / "single_process.py"


def test_every_strategy_runs_in_one_plain_process():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = [line for line in done.stdout.splitlines() if "steps=" in line]
    assert [line.split()[0] for line in lines] == [
        "ddp",
        "zero3",
        "mics",
        "gtc",
        "bmuf",
        "gtc-bmuf",
    ]
    for line in lines:
        assert "steps=3 bytes=0.0 changed=True" in line, line
        # gtc and gtc-bmuf with a group of one compress the rank's own updates (G = 1 used to
        # skip compression silently)
        compresses = line.split()[0] in ("gtc", "gtc-bmuf")
        assert ("gtc_words=0" not in line) == compresses, line
