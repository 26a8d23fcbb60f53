"""Behaviour kept by a refactoring: a small recommended-recipe run, hashed file by file.

``run`` trains the packaged MiniLM on a seeded draw of STS-B's pairs (2 cycles, both students,
label views, the average) with one thread and writes the SHA-256 of every model file and label
array the run made (model cards and the ledger left out: they name the code that wrote them).
``compare`` prints the files whose bytes differ between two such records (0 expected).
Run ``run`` with a checkout of the code before the change (``--code``) and after:

    git worktree add ../before <commit before>
    python eval/same_bytes.py run --code ../before --output /tmp/before
    python eval/same_bytes.py run --output /tmp/after
    python eval/same_bytes.py compare /tmp/before/hashes.json /tmp/after/hashes.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/sts/senteval/STSBenchmark"
KEPT = ("cycle-", "average", "labels", "pool")


def run(output: Path, pairs: int, code: Path) -> Path:
    out = output.resolve() / "run"
    # The checkout ``code`` is imported first: the command runs in it, with it on the path.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(code)}
    command = [
        sys.executable, "-m", "transencoder", "train", "--data-dir", str(DATA),
        "--max-pairs", str(pairs),
        "--cycles", "2", "--output-dir", str(out), "--seed", "2021", "--no-progress",
        "--overwrite",
    ]  # fmt: skip
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, env=env, cwd=code)
    hashes = {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file()
        and path.name != "README.md"
        and str(path.relative_to(out)).startswith(KEPT)
    }
    record = output / "hashes.json"
    record.write_text(json.dumps(hashes, indent=2) + "\n", encoding="utf-8")
    print(f"{len(hashes)} files hashed: {record}")
    return record


def compare(first: Path, second: Path) -> int:
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (first, second))
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    for name in differ:
        print(f"differs: {name} ({'both' if name in a and name in b else 'one side only'})")
    print(f"{len(set(a) | set(b))} files, {len(differ)} differ")
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "compare"))
    parser.add_argument("records", nargs="*", type=Path)
    parser.add_argument("--output", type=Path, default=Path("runs/same-bytes"))
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument(
        "--code",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the checkout whose transencoder runs (default: this one)",
    )
    args = parser.parse_args()
    if args.action == "run":
        run(args.output, args.pairs, args.code.resolve())
    else:
        raise SystemExit(compare(*args.records))


if __name__ == "__main__":
    main()
