"""Per-domain quality: each task's own pairs as the pool, measured on that task.

A domain is one task: STS12 ... STS16, STS-B (all splits), MRPC (train), PAWS-Wiki (dev), QNLI
(dev). For each, ``prepare`` writes into ``<root>/<domain>/data``:

* ``pool.tsv``: the task's unlabelled pairs (labels dropped; transductive, as in the paper);
* ``dev.tsv``: 200 labelled pairs drawn with a fixed seed (a user's small labelled sample);
* ``test.tsv``: the rest (STS-B: its whole test split; its dev sample comes from ``sts-dev``).

``train`` runs the recommended recipe on each pool (``<root>/<domain>/s<seed>``; resumable);
``summarise`` scores every candidate model on dev and test and prints the table.

    python eval/bench_domains.py prepare --root runs/domains
    python eval/bench_domains.py train --root runs/domains --domains STS16,STS13 --seeds 2021,1,2
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from pathlib import Path

STS_DOMAINS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSB")
PAIR_DOMAINS = ("MRPC", "PAWS", "QNLI")
DOMAINS = STS_DOMAINS + PAIR_DOMAINS
DEV_SIZE = 200
DEV_SEED = 13


def _write(path: Path, header: tuple[str, ...] | None, rows) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(str(cell) for cell in row) for row in rows]
    path.write_text("\n".join(([("\t".join(header))] if header else []) + lines) + "\n", encoding="utf-8")
    return len(lines)


def _sts_labelled(data: Path, domain: str) -> tuple[list, list]:
    """(dev rows, test rows) of an STS task as (s1, s2, score)."""
    from transencoder.eval import find_tasks, read_stsb

    if domain == "STSB":
        root = data / "STSBenchmark"
        dev = read_stsb(root / "sts-dev.csv")
        test = read_stsb(root / "sts-test.csv")
        dev_rows = list(zip(*zip(*dev.pairs), dev.scores.tolist()))
        rng = random.Random(DEV_SEED)
        return rng.sample(dev_rows, DEV_SIZE), list(zip(*zip(*test.pairs), test.scores.tolist()))
    (task,) = find_tasks(data, tasks=[domain])
    rows = list(zip(*zip(*task.pairs), task.scores.tolist()))
    chosen = set(random.Random(DEV_SEED).sample(range(len(rows)), DEV_SIZE))
    return [rows[i] for i in sorted(chosen)], [r for i, r in enumerate(rows) if i not in chosen]


def _pair_rows(pairs_root: Path, domain: str) -> list[tuple[str, str, int]]:
    """(s1, s2, label) of a binary pair task as shipped in ../shared/data/pairs."""
    if domain == "MRPC":
        path, columns, positive = pairs_root / "mrpc" / "msr_paraphrase_train.txt", (3, 4, 0), "1"
    elif domain == "PAWS":
        path, columns, positive = pairs_root / "paws-wiki" / "dev.tsv", (1, 2, 3), "1"
    else:
        path, columns, positive = pairs_root / "qnli" / "dev.tsv", (1, 2, 3), "entailment"
    lines = path.read_text(encoding="utf-8-sig").splitlines()[1:]
    rows = []
    for line in lines:
        fields = line.split("\t")
        a, b, label = (fields[i].strip() for i in columns)
        rows.append((a, b, int(label == positive)))
    return rows


def prepare(root: Path, sts_data: Path, pairs_data: Path, domains) -> None:
    from transencoder.training import pool_from_data_dir

    for domain in domains:
        folder = root / domain / "data"
        if domain in STS_DOMAINS:
            pool = pool_from_data_dir(sts_data, [domain])
            dev, test = _sts_labelled(sts_data, domain)
            header = ("sentence1", "sentence2", "score")
            pool_pairs = pool.pairs
        else:
            rows = _pair_rows(pairs_data, domain)
            chosen = set(random.Random(DEV_SEED).sample(range(len(rows)), DEV_SIZE))
            dev = [rows[i] for i in sorted(chosen)]
            test = [r for i, r in enumerate(rows) if i not in chosen]
            header = ("sentence1", "sentence2", "label")
            seen, pool_pairs = set(), []
            for a, b, _ in rows:
                key = (a, b) if a <= b else (b, a)
                if key not in seen:
                    seen.add(key)
                    pool_pairs.append((a, b))
        n_pool = _write(folder / "pool.tsv", None, pool_pairs)
        n_dev = _write(folder / "dev.tsv", header, dev)
        n_test = _write(folder / "test.tsv", header, test)
        print(f"{domain}: pool {n_pool}, dev {n_dev}, test {n_test}")


def train(root: Path, domains, seeds, extra: list[str]) -> None:
    for seed in seeds:
        for domain in domains:
            out = root / domain / f"s{seed}"
            if (out / "report.json").is_file() and (out / "average").is_dir():
                print(f"{domain} seed {seed}: done")
                continue
            command = [sys.executable, "-m", "transencoder", "train", "--pairs",
                       str(root / domain / "data" / "pool.tsv"), "--output-dir", str(out),
                       "--seed", str(seed), "--no-progress", *extra]
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("prepare", "train"))
    parser.add_argument("--root", default="runs/domains")
    parser.add_argument("--sts-data", default="../shared/data/sts/senteval")
    parser.add_argument("--pairs-data", default="../shared/data/pairs")
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--seeds", default="2021")
    parser.add_argument("extra", nargs="*", help="more train flags after --")
    args = parser.parse_args()
    domains = [d.strip().upper() for d in args.domains.split(",") if d.strip()]
    if args.action == "prepare":
        prepare(Path(args.root), Path(args.sts_data), Path(args.pairs_data), domains)
    else:
        train(Path(args.root), domains, [int(s) for s in args.seeds.split(",")], args.extra)


if __name__ == "__main__":
    main()
