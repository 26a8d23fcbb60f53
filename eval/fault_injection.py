"""Fault injection: a tiny run killed (SIGKILL) at random points ends like an unbroken one.

1. An unbroken reference run: a raw tiny BERT (so it is primed with SimCSE), the recommended
   recipe for 2 cycles (label views, the cross-encoder continued, the average of the
   bi-encoders), snapshots every 2 optimizer steps.
2. The same command into another folder, killed with SIGKILL after a seeded random delay, then
   started again, ``--kills`` times; the phase under way at each kill is recorded. Then it runs
   to the end.
3. Two identical runs started at once into one folder: one must be refused (the folder is
   locked), the other must finish.
Every model file, label array and the report's figures are compared with the reference; the
table prints the kills per phase kind, the resumes and the mismatches (0 expected).

    python eval/fault_injection.py --kills 20 --seed 0
    python eval/fault_injection.py --kills 8 --seed 0 --precision bf16   # the record's bf16 section

``--precision`` sets the runs' ``run.precision`` (default fp32, the record's main table; bf16 is
written as the record's ``bf16`` section, so that each resumes its own kind of run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # eval/records.py


def _setup(root: Path, precision: str = "fp32") -> tuple[Path, Path]:
    from transencoder.testing import tiny_bert_dir, tiny_sentences

    model = tiny_bert_dir(root / "model")
    sentences, rng = tiny_sentences(), random.Random(0)
    rows = [
        f"{rng.choice(sentences)}\t{rng.choice(sentences)}\t{rng.uniform(0, 5):.2f}"
        for _ in range(96)
    ]
    pairs = root / "pairs.tsv"
    pairs.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = root / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "models": [str(model)],
                "cycles": 2,
                "data": {"pairs": str(pairs), "eval_data_dir": str(pairs)},
                "priming": {"method": "simcse", "batch_size": 8, "epochs": 2},
                "cross": {"batch_size": 4, "epochs": 2, "max_length": 32},
                "bi": {"batch_size": 4, "epochs": 2, "max_length": 32},
                "run": {
                    "seed": 11,
                    "checkpoint_every": 2,
                    "show_progress_bar": False,
                    "precision": precision,
                },
            }
        ),
        encoding="utf-8",
    )
    return config, pairs


def _command(config: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "transencoder",
        "train",
        "--config",
        str(config),
        "--output-dir",
        str(out),
    ]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path]),
    }


def _holds_lock(out: Path, pid: int) -> bool:
    """Whether process ``pid`` has taken the run directory (its lock file names it)."""
    from transencoder.training.rundir import HOLDER

    try:
        return json.loads((out / HOLDER).read_text(encoding="utf-8")).get("pid") == pid
    except (OSError, ValueError):
        return False


def _under_way(out: Path) -> str:
    """The phase a killed run was in: the first phase of the plan its ledger does not record."""
    from transencoder.training.plan import plan
    from transencoder.training.recipes import config_from_record

    progress = out / "progress.json"
    if not progress.is_file():
        return "(before the ledger)"
    state = json.loads(progress.read_text(encoding="utf-8"))
    config = config_from_record(state["config"])
    phases = plan(
        cycles=config.cycles, members=1, prime=state["primed"], average_bi=config.average_bi
    )
    pending = [p for p in phases if p.name not in state["done"]]
    return pending[0].kind.value if pending else "(finished)"


def compare(reference: Path, other: Path) -> list[str]:
    """Every model file and label array, and the report's evaluation: the differences."""
    files = sorted(
        p.relative_to(reference)
        for p in reference.rglob("*")
        if p.suffix in (".safetensors", ".npy") and "logs" not in p.parts
    )
    problems = [
        str(f)
        for f in files
        if not (other / f).is_file() or (other / f).read_bytes() != (reference / f).read_bytes()
    ]
    ours = json.loads((reference / "report.json").read_text())["evaluation"]
    theirs = json.loads((other / "report.json").read_text())["evaluation"]
    if ours != theirs:
        problems.append("report.json evaluation")
    return problems + ([] if files else ["no files compared"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--output", default="eval/results/fault_injection.json")
    args = parser.parse_args()
    from records import read_record, write_record, write_section

    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="fault-injection-"))
    config, _ = _setup(root, args.precision)
    started = time.perf_counter()
    done = subprocess.run(
        _command(config, root / "reference"), env=_env(), capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    unbroken = time.perf_counter() - started
    print(f"unbroken run: {unbroken:.0f} s")

    kills, by_kind, starts = [], {}, 0
    out = root / "killed"
    while len(kills) < args.kills:
        process = subprocess.Popen(
            _command(config, out),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        starts += 1
        # The kill lands inside the run: after the process has taken the run
        # directory (its lock names it), a seeded random time later (imports take seconds).
        while process.poll() is None and not _holds_lock(out, process.pid):
            time.sleep(0.05)
        delay = rng.uniform(0.2, 0.6 * unbroken)  # several kills per run, spread over its phases
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kind = _under_way(out)
            kills.append({"after_s": round(delay, 2), "phase": kind})
            by_kind[kind] = by_kind.get(kind, 0) + 1
            continue
        if process.returncode != 0:
            raise SystemExit(f"a restarted run failed: {process.stderr.read()[-3000:]}")
        if _under_way(out) == "(finished)":  # it finished before the kill: start over
            print(f"finished after {len(kills)} kills; a new killed run starts")
            early = compare(root / "reference", out)
            if early:
                raise SystemExit(f"mismatch after {len(kills)} kills: {early}")
            out = root / f"killed-{starts}"
    final = subprocess.run(_command(config, out), env=_env(), capture_output=True, text=True)
    resumes = starts  # every start after a kill resumes, the final one included
    mismatches = (
        compare(root / "reference", out) if final.returncode == 0 else ["the final run failed"]
    )

    # Two runs at once into one folder: one refused, the other intact.
    shared = root / "shared"
    both = [
        subprocess.Popen(
            _command(config, shared),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = [p.wait() for p in both]
    errors = [p.stderr.read() for p in both]
    refused = sum(code == 1 and "is in use by" in err for code, err in zip(codes, errors))
    concurrent = {
        "exit_codes": codes,
        "refused": refused,
        "mismatches": compare(root / "reference", shared) if 0 in codes else ["no run finished"],
    }

    print(f"\n{'phase under way at the kill':30} kills")
    for kind, count in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"{kind:30} {count:5}")
    print(
        f"\nkills {len(kills)}, resumes {resumes}, mismatches {len(mismatches)}"
        + (f": {mismatches}" if mismatches else "")
    )
    print(
        f"concurrent start: exit codes {codes}, refused {refused}, mismatches {len(concurrent['mismatches'])}"
    )
    payload = {
        "precision": args.precision,
        "kills": kills,
        "kills_by_phase": by_kind,
        "resumes": resumes,
        "mismatches": mismatches,
        "unbroken_seconds": round(unbroken, 1),
        "concurrent": concurrent,
    }
    if args.precision == "bf16":
        write_section(args.output, "bf16", payload)
    else:  # the main table; a bf16 section measured earlier is kept
        kept = {k: v for k, v in read_record(args.output).items() if k == "bf16"}
        write_record(args.output, {**payload, **kept})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
