"""Per-domain quality: each task's own pairs as the pool, measured on that task.

A domain is one task: STS12 ... STS16, STS-B (all splits), MRPC (train), PAWS-Wiki (dev), QNLI
(dev). For each, ``prepare`` writes into ``<root>/<domain>/data``:

* ``pool.tsv``: the task's unlabelled pairs (labels dropped; transductive, as in the paper);
* ``dev.tsv``: 200 labelled pairs drawn with a fixed seed (a user's small labelled sample);
* ``test.tsv``: the rest (STS-B: its whole test split; its dev sample comes from ``sts-dev``).

``train`` runs the recommended recipe on each pool (``<root>/<domain>/s<seed>``; resumable);
``summarise`` scores every candidate of every finished run on dev and test (see
``domains_analysis.py``), prints the per-domain table, the seeds, the summary of each variant
(the recipe's result, fixed mixes toward the start, selection on the dev sample) and how well
the label-free signals predict a loss, and writes ``eval/results/domains.json`` (``--section``:
one part of it, e.g. the mined pools); ``transfer`` adds the domain-transfer matrix (train on one
domain, evaluate on all) as its ``transfer`` section; ``views`` scores the start model's views
(``pooled``, ``first_last``, ``token_f1``) as teachers on each domain's dev and test pairs
(section ``start_views``: how the pairs recipe's label view was chosen).

    python eval/bench_domains.py prepare --root runs/domains
    python eval/bench_domains.py train --root runs/domains --domains STS16,STS13 --seeds 2021,1,2
    python eval/bench_domains.py train --root runs/domains-pairs --domains MRPC -- --recipe pairs
    python eval/bench_domains.py summarise --root runs/domains
    python eval/bench_domains.py transfer --root runs/domains
    python eval/bench_domains.py views --root runs/domains --domains MRPC,QNLI,PAWS,STSB
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # records.py, domains_analysis.py

STS_DOMAINS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSB")
PAIR_DOMAINS = ("MRPC", "PAWS", "QNLI")
DOMAINS = STS_DOMAINS + PAIR_DOMAINS
DEV_SIZE = 200
DEV_SEED = 13
# Pools above this many pairs are a seeded draw of it (PAWS 7,989, STS-B 8,542, QNLI 5,463 pairs):
# the table's cost on a 2-core CPU; the evaluation keeps the whole test split.
MAX_POOL = 4000


def _write(path: Path, header: tuple[str, ...] | None, rows) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(str(cell) for cell in row) for row in rows]
    path.write_text(
        "\n".join(([("\t".join(header))] if header else []) + lines) + "\n", encoding="utf-8"
    )
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
    """(s1, s2, label) of a binary pair task as shipped in ../shared/data/pairs, read by the
    product's reader (its layout checks); surrounding spaces stripped, as the record's pools were
    made (one QNLI sentence starts with a space)."""
    from transencoder.eval import read_pair_file

    file = {"MRPC": "mrpc/msr_paraphrase_train.txt", "PAWS": "paws-wiki/dev.tsv"}.get(
        domain, "qnli/dev.tsv"
    )
    task = read_pair_file(pairs_root / file)
    return [
        (a.strip(), b.strip(), int(label))
        for a, b, label in zip(task.sentences1, task.sentences2, task.labels)
    ]


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


def train(root: Path, domains, seeds, extra: list[str], max_pool: int = MAX_POOL) -> None:
    for seed in seeds:
        for domain in domains:
            out = root / domain / f"s{seed}"
            if (out / "report.json").is_file() and (out / "average").is_dir():
                print(f"{domain} seed {seed}: done")
                continue
            pool = root / domain / "data" / "pool.tsv"
            command = [
                sys.executable,
                "-m",
                "transencoder",
                "train",
                "--pairs",
                str(pool),
                "--output-dir",
                str(out),
                "--seed",
                str(seed),
                "--no-progress",
                *extra,
            ]
            if len(pool.read_text(encoding="utf-8").splitlines()) > max_pool:
                command += ["--max-pairs", str(max_pool)]
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True)


def _save(output: Path, record: dict, section: str | None) -> None:
    """The record, or one section of it; a whole record keeps the sections written before."""
    from records import read_record, write_record, write_section

    if section:
        write_section(output, section, record)
        return
    kept = {k: v for k, v in read_record(output).items() if isinstance(v, dict) and "meta" in v}
    write_record(output, {**record, **kept})


def print_transfer(
    root: Path, domains, output: Path, sources=None, section: str | None = None
) -> None:
    from domains_analysis import transfer

    matrix = transfer(root, sources or domains, domains)
    print(f"{'model':14} " + " ".join(f"{t:>7}" for t in domains))
    for name, row in matrix.items():
        print(f"{name:14} " + " ".join(f"{row.get(t, float('nan')):7.2f}" for t in domains))
    _save(
        output,
        {
            "matrix": matrix,
            "note": "Spearman x100 (STS) or ROC-AUC x100 (pairs) on each target's test split; rows: the start, and per source domain its final bi-encoder (the average) and cross-encoder (its last cycle)",
        },
        section or "transfer",
    )
    print(f"wrote the {section or 'transfer'} section of {output}")


def summarise(
    root: Path, domains, output: Path, section: str | None = None, merge: bool = False
) -> dict:
    """The table of the finished runs under ``root``; with ``merge``, the runs already in
    ``section`` are kept (runs of a run directory that is gone, another machine's) and those found
    replace or join them, and the record names the earlier measurement's meta."""
    from domains_analysis import run_row, score_run, signal_validation, summary
    from records import read_record

    earlier = read_record(output).get(section, {}) if merge and section else {}
    rows: dict[str, dict] = dict(earlier.get("runs", {}))
    if earlier:
        domains = list(dict.fromkeys([*(k.split("/")[0] for k in rows), *domains]))
    found: set[str] = set()
    for domain in domains:
        for run in sorted((root / domain).glob("s*"), key=lambda p: (p.name != "s2021", p.name)):
            if (run / "average" / "bi").is_dir() and (run / "report.json").is_file():
                row = run_row(score_run(run, root / domain / "data"))
                report = json.loads((run / "report.json").read_text(encoding="utf-8"))
                row["pool_pairs"] = report["pairs"]["count"]
                row["seconds"] = report["seconds"]
                rows[f"{domain}/{run.name}"] = row
                found.add(f"{domain}/{run.name}")
    if not rows:
        raise SystemExit(f"no finished runs under {root}")
    # The default mix for runs without dev labels is chosen on the dev samples (mean dev gain).
    firsts = {k: v for k, v in rows.items() if k.endswith("/s2021")}
    dev_means = {
        a: float(np.mean([r["mix_dev_gains"][a] for r in firsts.values()]))
        for a in next(iter(firsts.values()))["mix_dev_gains"]
    }
    dev_means["1.00"] = float(np.mean([r["average_dev_gain"] for r in firsts.values()]))
    default_mix = max(dev_means, key=lambda a: (round(dev_means[a], 6), -float(a)))
    cycle_names = list(next(iter(rows.values()))["cycles"])
    header = f"{'run':12} {'start':>6} " + " ".join(
        f"{n.replace('cycle ', 'c'):>8}" for n in cycle_names
    )
    header += f" {'average':>7} {'gain':>6} {'dev pick':>9} {'gain':>6} {'pool':>5} {'min':>4}"
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        cells = " ".join(f"{row['cycles'][n]:8.2f}" for n in cycle_names)
        print(
            f"{name:12} {row['start']:6.2f} {cells} {row['average']:7.2f} {row['gain']:+6.2f} "
            f"{row['dev_selected']:>9} {row['dev_selected_gain']:+6.2f} {row['pool_pairs']:5d} "
            f"{row['seconds'] / 60:4.0f}"
        )
    first = list(firsts.values())
    variants = {
        "recipe (average of the cycles' bi-encoders)": summary([r["gain"] for r in first]),
        "recipe's last cross-encoder (vs the start bi-encoder)": summary(
            [r["cross_gain"] for r in first]
        ),
        **{
            f"mix {a} toward the start (no labels)": summary([r["mix_gains"][a] for r in first])
            for a in first[0]["mix_gains"]
        },
        "selection on the 200-pair dev sample": summary([r["dev_selected_gain"] for r in first]),
    }
    print(f"\nseed 2021, {len(first)} domains (gain = test figure - start's; hurt = gain < 0)")
    print(f"{'variant':56} {'mean':>6} {'worst':>6} {'hurt':>5} {'< -0.1':>6}")
    for variant, s in variants.items():
        print(
            f"{variant:56} {s['mean']:+6.2f} {s['worst']:+6.2f} {s['hurt']:5d} {s['below_start_by_more_than_0.1']:6d}"
        )
    print(
        "mix chosen on the dev samples (mean dev gain per coefficient, 1.00 = the average): "
        + ", ".join(f"{a}: {v:+.2f}" for a, v in dev_means.items())
        + f" -> {default_mix}"
    )
    seeds = {}
    for domain in domains:
        runs = [r for k, r in rows.items() if k.startswith(f"{domain}/")]
        if len(runs) > 1:
            seeds[domain] = {
                key: {
                    "mean": round(float(np.mean([r[key] for r in runs])), 3),
                    "std": round(float(np.std([r[key] for r in runs], ddof=1)), 3),
                    "n": len(runs),
                }
                for key in ("gain", "dev_selected_gain", "cross_gain")
            }
            print(
                f"{domain}: {len(runs)} seeds, gain {seeds[domain]['gain']['mean']:+.2f} +- {seeds[domain]['gain']['std']:.2f}, "
                f"dev-selected {seeds[domain]['dev_selected_gain']['mean']:+.2f} +- {seeds[domain]['dev_selected_gain']['std']:.2f}"
            )
    signals = signal_validation(rows)
    print("\nsignals (lowest over the cycles) against the gain, all runs:")
    for name, entry in signals.items():
        extra = (
            (
                f"; warning below {entry['threshold']:g}: warned & hurt {entry['warned_and_hurt']}, warned & not hurt "
                f"{entry['warned_not_hurt']}, hurt & not warned {entry['hurt_not_warned']}"
            )
            if "threshold" in entry
            else ""
        )
        print(f"  {name}: Spearman with the gain {entry['spearman_with_gain']}{extra}")
    record = {
        "runs": rows,
        "variants_seed_2021": variants,
        "mix_dev_means": {a: round(v, 4) for a, v in dev_means.items()},
        "default_mix": default_mix,
        "seeds": seeds,
        "signals": signals,
        "dev_size": DEV_SIZE,
    }
    if earlier:
        kept = [k for k in earlier["runs"] if k not in found]
        record["merged"] = {"kept_runs": kept, "their_meta": earlier.get("merged", {}).get(
            "their_meta", earlier.get("meta"))}  # fmt: skip
    _save(output, record, section)
    print(f"wrote {output}" + (f" (section {section})" if section else ""))
    return record


def start_views(root: Path, domains, output: Path) -> dict:
    """The start model's views as teachers: each view's score of every domain's dev and test
    pairs (ROC-AUC x100 for a pair task, Spearman x100 for STS), and the three views' rank
    average. The pairs recipe's label view was chosen on the dev rows."""
    from scipy.stats import rankdata, spearmanr

    from transencoder import BiEncoder
    from transencoder.eval import find_all_tasks
    from transencoder.eval.classification import roc_auc
    from transencoder.eval.data import PairTask
    from transencoder.training.config import LABEL_VIEWS
    from transencoder.training.views import view_scores

    bi = BiEncoder.from_pretrained("default")
    columns = (*LABEL_VIEWS, "all three")
    print(f"{'domain':8} {'split':5} {'pairs':>6} " + " ".join(f"{c:>10}" for c in columns))
    table = {}
    for domain in domains:
        for split in ("dev", "test"):
            (task,) = find_all_tasks(root / domain / "data" / f"{split}.tsv")
            if isinstance(task, PairTask):
                first, second, gold = task.sentences1, task.sentences2, task.labels
                metric = roc_auc
            else:
                parts = task.subsets
                first = [a for part in parts for a in part.sentences1]
                second = [b for part in parts for b in part.sentences2]
                gold = np.concatenate([part.scores for part in parts])
                metric = lambda scores, gold: 100 * spearmanr(scores, gold)[0]  # noqa: E731
            scores = view_scores(bi, list(zip(first, second)), show_progress_bar=False)
            scores["all three"] = sum(rankdata(scores[view]) for view in LABEL_VIEWS)
            row = {name: round(float(metric(scores[name], gold)), 4) for name in columns}
            table.setdefault(domain, {})[split] = {"pairs": len(gold), **row}
            line = " ".join(f"{row[c]:10.2f}" for c in columns)
            print(f"{domain:8} {split:5} {len(gold):6d} {line}", flush=True)
    record = {
        "table": table,
        "note": "the packaged start model's views (pooled cosine, first-last average, token-"
        "alignment F1, and the three views' rank average) scored on each domain's 200-pair dev "
        "sample and its test pairs: ROC-AUC x100 for pair tasks, Spearman x100 for STS",
    }
    _save(output, record, "start_views")
    print(f"wrote the start_views section of {output}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("prepare", "train", "summarise", "transfer", "views"))
    parser.add_argument("--output", type=Path, default=Path("eval/results/domains.json"))
    parser.add_argument("--root", default="runs/domains")
    parser.add_argument("--sts-data", default="../shared/data/sts/senteval")
    parser.add_argument("--pairs-data", default="../shared/data/pairs")
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--seeds", default="2021")
    parser.add_argument(
        "--max-pool",
        type=int,
        default=MAX_POOL,
        help="train: a larger pool is a seeded draw of this many pairs",
    )
    parser.add_argument("--sources", help="transfer: the trained domains (default: --domains)")
    parser.add_argument(
        "--section",
        help="summarise / transfer: write the table as this section of --output (e.g. mined_pools)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="summarise: keep the runs already in --section and add or replace those found",
    )
    # ``train ... -- FLAGS``: argparse would match an empty ``nargs="*"`` positional at
    # ``train`` and then refuse the flags, so they are split off before parsing.
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.extra = argv[cut + 1 :]
    domains = [d.strip().upper() for d in args.domains.split(",") if d.strip()]
    if args.action == "prepare":
        prepare(Path(args.root), Path(args.sts_data), Path(args.pairs_data), domains)
    elif args.action == "train":
        train(
            Path(args.root),
            domains,
            [int(s) for s in args.seeds.split(",")],
            args.extra,
            args.max_pool,
        )
    elif args.action == "summarise":
        summarise(Path(args.root), domains, args.output, args.section, args.merge)
    elif args.action == "views":
        start_views(Path(args.root), domains, args.output)
    else:
        sources = [d.strip().upper() for d in (args.sources or "").split(",") if d.strip()]
        print_transfer(Path(args.root), domains, args.output, sources, args.section)


if __name__ == "__main__":
    main()
