"""How long the command line takes to answer ``--help``: the parser must not import torch.

Each command runs in a fresh interpreter (``python -m transencoder ...`` from this checkout),
``--repeats`` times; the minimum is the figure (the least disturbed run on a shared machine),
the median is kept too. Two references frame it: the bare interpreter (``python -c pass``) and
``import torch`` (what ``--help`` cost when the parser imported the models).

    python eval/bench_cli_startup.py                    # writes eval/results/cli_startup.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's transencoder, not another installed copy
sys.path.insert(0, str(REPO / "eval"))

from records import write_record  # noqa: E402

COMMANDS = {
    "python -c pass (interpreter)": ["-c", "pass"],
    "transencoder --help": ["-m", "transencoder", "--help"],
    "transencoder train --help": ["-m", "transencoder", "train", "--help"],
    "transencoder --version": ["-m", "transencoder", "--version"],
    "python -c 'import torch' (reference)": ["-c", "import torch"],
}


def time_command(args: list[str], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` fresh runs of ``python ARGS`` (each must succeed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"python {' '.join(args)} failed:\n{done.stderr}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(REPO / "eval" / "results" / "cli_startup.json"))
    args = parser.parse_args()
    rows = []
    for label, command in COMMANDS.items():
        runs = time_command(command, args.repeats)
        rows.append(
            {
                "command": label,
                "min_s": round(min(runs), 3),
                "median_s": round(statistics.median(runs), 3),
                "runs_s": [round(t, 3) for t in runs],
            }
        )
    width = max(len(row["command"]) for row in rows)
    print(f"{'command':<{width}}  min s  median s   (of {args.repeats} fresh runs)")
    for row in rows:
        print(f"{row['command']:<{width}}  {row['min_s']:5.2f}  {row['median_s']:8.2f}")
    write_record(args.output, {"repeats": args.repeats, "results": rows})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
