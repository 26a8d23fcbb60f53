"""The method's premise per domain: does cycle 1's cross-encoder end above the start bi-encoder
that labelled its pairs? A screening of the variants of issue 36 on ``bench_domains.py``'s pools.

Each variant is one cycle of the recommended recipe on the domain's pool (a seeded draw of
``--max-pool`` pairs where it is larger, as in the per-domain record), the bi step cut to one
optimizer step (``bi.max_steps=1``: the screening looks at the cross-encoder only):

* ``record``: the recipe as the per-domain record ran it (2 epochs of the pool, both orders);
* ``budget``: ``cross.min_steps`` optimizer steps at least;
* ``augment``: the pool grown to ``data.augment_to`` pairs of its own sentences first;
* ``both``: the two together;
* ``uniform``: ``budget`` with the cross-encoder's targets spread evenly over [0, 1] by rank
  (``teachers.cross_scale=uniform``);
* ``pairs-budget``: the ``pairs`` recipe (labels by token alignment, for pair tasks) with the
  ``budget``; ``pairs-uniform``: that with ``teachers.cross_scale=uniform``;
* ``dropout``: ``budget`` with the cross-encoder's dropout at 0.3 while it trains
  (``cross.dropout``; the checkpoint's is 0.1); ``no-dropout``: that at 0;
  ``recommended-no-dropout``: the recommended recipe's cycle 1 (``token_f1`` labels where they
  crowd, ``word_order`` on word swaps) with the cross-encoder's dropout at 0;
* ``token-f1``, ``three-views``: the recommended recipe (``budget``, ``cross_scale=auto``) with
  the cross-encoder labelled by the token alignment F1 view, or by the rank average of the three
  views, instead of the pooled cosine.

``summarise`` keeps the runs the record holds whose folders are gone (each row names its CPU),
scores the start model and each run's cycle-1 cross-encoder on the domain's
200-pair dev sample (what a choice may use) and its test pairs (what is reported), with the
cross-encoder's fit on its own targets (Spearman x100 over the training pairs: a low fit is
under-fitting, a high fit with a low test figure is learning the wrong thing), prints the tables
(the runs; each variant at seed 2021; each domain and variant run at 2 seeds or more, its ``seeds``
part) and writes the ``premise`` section of ``eval/results/domains.json``.

    python eval/bench_domains.py prepare --root runs/domains
    python eval/bench_premise.py train --root runs/domains --domains STS16,STS13 --variants record,budget
    python eval/bench_premise.py summarise --root runs/domains
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_domains.py, domains_analysis.py

# Each variant names every setting it screens, so that a later default does not change it.
BI, UNIFORM = ["--set", "teachers.cross_scale=bi"], ["--set", "teachers.cross_scale=uniform"]
AUTO = ["--set", "teachers.cross_scale=auto"]
NO_BUDGET = ["--cross-min-steps", "0"]
ASIS = ["--set", "teachers.crowded_views=[]"]  # the label views as named, however they crowd
BUDGET = ["--cross-min-steps", "600", *BI, *ASIS]
# the recommended recipe's cycle 1 as it stands, each setting named
RECOMMENDED = [
    "--label-views",
    "pooled",
    "--cross-min-steps",
    "600",
    *AUTO,
    "--set",
    "teachers.crowded_views=[token_f1]",
    "--set",
    "teachers.swapped_views=[word_order]",
]
VARIANTS = {
    "record": [*NO_BUDGET, *BI, *ASIS],
    "budget": BUDGET,
    "augment": ["--augment-to", "6000", *NO_BUDGET, *BI, *ASIS],
    "both": ["--augment-to", "4000", "--cross-min-steps", "800", *BI, *ASIS],
    "uniform": ["--cross-min-steps", "600", *UNIFORM, *ASIS],
    "pairs-budget": ["--recipe", "pairs", "--cross-min-steps", "600", *BI, *ASIS],
    "pairs-uniform": ["--recipe", "pairs", "--cross-min-steps", "600", *UNIFORM, *ASIS],
    "token-f1": ["--label-views", "token_f1", "--cross-min-steps", "600", *AUTO, *ASIS],
    "three-views": [
        "--label-views",
        "pooled,first_last,token_f1",
        "--cross-min-steps",
        "600",
        *AUTO,
        *ASIS,
    ],
    # the budget with the cross-encoder's dropout raised from the checkpoint's 0.1
    "dropout": [*BUDGET, "--set", "cross.dropout=0.3"],
    # ... and with no dropout at all: the model that trains is the one that predicts
    "no-dropout": [*BUDGET, "--set", "cross.dropout=0"],
    # the recommended recipe's cycle 1 as it stands, with no dropout in the cross-encoder
    "recommended-no-dropout": [*RECOMMENDED, "--set", "cross.dropout=0"],
    # the budget with the cross-encoder's peak learning rate (2e-5) raised or lowered
    "lr-5e-5": [*BUDGET, "--cross-lr", "5e-5"],
    "lr-1e-5": [*BUDGET, "--cross-lr", "1e-5"],
    "lr-1e-4": [*BUDGET, "--cross-lr", "1e-4"],
    "recommended-lr-5e-5": [*RECOMMENDED, "--cross-lr", "5e-5"],
    # pooled labels, token_f1 when they crowd (teachers.crowded_views, off by default)
    "crowded": [
        "--label-views",
        "pooled",
        "--cross-min-steps",
        "600",
        *AUTO,
        "--set",
        "teachers.crowded_views=token_f1",
    ],
}
SCREEN = ["--cycles", "1", "--no-average-bi", "--set", "bi.max_steps=1"]


def run_folder(root: Path, domain: str, variant: str, seed: int) -> Path:
    return root / domain / "premise" / f"{variant}-s{seed}"


def train(root: Path, domains, variants, seeds, max_pool: int) -> None:
    for seed in seeds:
        for domain in domains:
            for variant in variants:
                out = run_folder(root, domain, variant, seed)
                if (out / "cycle-1" / "cross").is_dir() and _done(out):
                    print(f"{domain} {variant} seed {seed}: done", flush=True)
                    continue
                pool = root / domain / "data" / "pool.tsv"
                command = [
                    sys.executable, "-m", "transencoder", "train", "--pairs", str(pool),
                    "--output-dir", str(out), "--seed", str(seed), "--no-progress",
                    *SCREEN, *VARIANTS[variant],
                ]  # fmt: skip
                if len(pool.read_text(encoding="utf-8").splitlines()) > max_pool:
                    command += ["--max-pairs", str(max_pool)]
                print(" ".join(command), flush=True)
                subprocess.run(command, check=True)


def _done(out: Path) -> bool:
    progress = out / "progress.json"
    return progress.is_file() and "cycle-1/eval" in json.loads(progress.read_text())["done"]


def _scores(suite_dev, suite_test, model) -> dict:
    from domains_analysis import _primary

    return {"dev": _primary(suite_dev, model), "test": _primary(suite_test, model)}


def _cell(value, spec: str) -> str:
    """``value`` formatted, or blank at the same width where a run lacks it."""
    width = len(format(0, spec))
    return format(value, spec) if value is not None else " " * width


def _cpu() -> str:
    from records import meta

    return meta()["machine"].get("cpu", "")


def _recorded_runs(output: Path, key: str = "premise") -> dict:
    """The runs the record's section ``key`` already holds, each with the CPU it ran on."""
    from records import read_record

    section = read_record(output).get(key) or {}
    cpu = (section.get("meta") or {}).get("machine", {}).get("cpu", "")
    return {name: {"cpu": cpu, **row} for name, row in (section.get("runs") or {}).items()}


def _seeds(runs: dict) -> dict:
    """Per (domain, variant) run at 2 seeds or more: the gap to the start on each seed, its mean
    and sample standard deviation (ddof=1), the mean fit, and on how many seeds the premise holds."""
    groups: dict[str, list[dict]] = {}
    for row in runs.values():
        groups.setdefault(f"{row['domain']}/{row['variant']}", []).append(row)
    seeds = {}
    for name, rows in groups.items():
        if len(rows) < 2:
            continue
        rows = sorted(rows, key=lambda r: r["seed"])
        part = {"seeds": [r["seed"] for r in rows]}
        for split in ("test", "dev"):
            gaps = [r["cross_minus_start"][split] for r in rows]
            part[f"cross_minus_start_{split}"] = gaps
            part[f"mean_cross_minus_start_{split}"] = round(float(np.mean(gaps)), 2)
            part[f"sd_cross_minus_start_{split}"] = round(float(np.std(gaps, ddof=1)), 2)
        part["mean_cross_fit"] = round(float(np.mean([r["cross_fit"] for r in rows])), 2)
        part["premise_holds_on_test"] = int(sum(g >= 0 for g in part["cross_minus_start_test"]))
        seeds[name] = part
    return seeds


def summarise(root: Path, domains, output: Path, section: str = "premise") -> dict:
    from bench_domains import _save
    from domains_analysis import _suite, run_signals

    from transencoder import BiEncoder, CrossEncoder

    runs: dict[str, dict] = {}
    for domain in domains:
        data = root / domain / "data"
        folders = sorted((root / domain / "premise").glob("*-s*"))
        folders = [f for f in folders if _done(f)]
        if not folders:
            continue
        dev, test = _suite(data / "dev.tsv"), _suite(data / "test.tsv")
        both_orders = [_suite(data / f"{split}.tsv", both_orders=True) for split in ("dev", "test")]
        start_cache = root / domain / "premise" / "start_scores.json"
        if start_cache.is_file():
            start = json.loads(start_cache.read_text())
        else:
            start = _scores(dev, test, BiEncoder.from_pretrained("default", device="cpu"))
            start_cache.write_text(json.dumps(start))
        for folder in folders:
            cache = folder / "premise_scores.json"
            if cache.is_file():
                row = json.loads(cache.read_text())
            else:
                cross = CrossEncoder.from_pretrained(folder / "cycle-1" / "cross", device="cpu")
                progress = json.loads((folder / "progress.json").read_text())
                train_stats = progress["results"]["cycle-1/cross"]["train"]
                augment = (progress["results"].get("augment") or {}).get("augmentation") or {}
                row = {
                    "start": start,
                    "cross": _scores(dev, test, cross),
                    "cross_both_orders": _scores(*both_orders, cross),  # as it teaches
                    "cross_fit": run_signals(folder, 1)[0]["cross_fit"],
                    "cross_steps": train_stats["steps"],
                    "pool_pairs": progress["pool"]["count"] + progress["pool"].get("augmented", 0),
                    "augmentation": {
                        k: augment[k]
                        for k in (
                            "added_neighbour_pairs",
                            "added_random_pairs",
                            "wasserstein_added_vs_given",
                            "cosine_given",
                            "cosine_added",
                        )
                        if k in augment
                    },  # fmt: skip
                    "seconds": round(progress["seconds"], 1),
                    "precision": progress["fingerprint"].get("precision", "fp32"),
                }
                cache.write_text(json.dumps(row, indent=2))
            variant, seed = folder.name.rsplit("-s", 1)
            row = {**row, "domain": domain, "variant": variant, "seed": int(seed), "cpu": _cpu()}
            for key in ("cross", "cross_both_orders"):
                if key in row:
                    row[f"{key}_minus_start"] = {
                        split: round(row[key][split] - start[split], 2) for split in ("dev", "test")
                    }
            runs[f"{domain}/{folder.name}"] = row
    runs = {**_recorded_runs(output, section), **runs}  # runs whose folders are gone stay
    if not runs:
        raise SystemExit(f"no finished premise runs under {root}")
    header = (
        f"{'run':22} {'steps':>5} {'pairs':>5} {'start':>6} {'c1 cross':>8} {'- start':>7} "
        f"{'fit':>6} {'dev -':>6} {'both -':>6} {'W1':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, row in runs.items():
        w1 = row["augmentation"].get("wasserstein_added_vs_given")
        print(
            f"{name:22} {row['cross_steps']:5d} {row['pool_pairs']:5d} {row['start']['test']:6.2f} "
            f"{row['cross']['test']:8.2f} {row['cross_minus_start']['test']:+7.2f} "
            f"{row['cross_fit']:6.2f} {row['cross_minus_start']['dev']:+6.2f} "
            + _cell(row.get("cross_both_orders_minus_start", {}).get("test"), "+6.2f")
            + " "
            + _cell(w1, "6.3f")
        )
    variants: dict[str, dict] = {}
    for variant in VARIANTS:
        rows = [r for r in runs.values() if r["variant"] == variant and r["seed"] == 2021]
        if not rows:
            continue
        test_gap = [r["cross_minus_start"]["test"] for r in rows]
        dev_gap = [r["cross_minus_start"]["dev"] for r in rows]
        variants[variant] = {
            "domains": len(rows),
            "premise_holds_on_test": int(sum(g >= 0 for g in test_gap)),
            "mean_cross_minus_start_test": round(float(np.mean(test_gap)), 2),
            "mean_cross_minus_start_dev": round(float(np.mean(dev_gap)), 2),
            "mean_cross_fit": round(float(np.mean([r["cross_fit"] for r in rows])), 2),
        }
        both = [r["cross_both_orders_minus_start"] for r in rows if "cross_both_orders" in r]
        if len(both) == len(rows):  # scored both ways on every domain of the variant
            variants[variant].update(
                premise_holds_on_test_both_orders=int(sum(g["test"] >= 0 for g in both)),
                mean_cross_both_orders_minus_start_test=round(float(np.mean([g["test"] for g in both])), 2),
                mean_cross_both_orders_minus_start_dev=round(float(np.mean([g["dev"] for g in both])), 2),
            )  # fmt: skip
    print(
        f"\n{'variant':9} {'domains':>7} {'holds':>5} {'mean - start (test)':>20} {'(dev)':>6} "
        f"{'fit':>6} {'both orders: holds':>18} {'test':>6} {'dev':>6}"
    )
    for variant, v in variants.items():
        print(
            f"{variant:9} {v['domains']:7d} {v['premise_holds_on_test']:5d} "
            f"{v['mean_cross_minus_start_test']:+20.2f} {v['mean_cross_minus_start_dev']:+6.2f} "
            f"{v['mean_cross_fit']:6.2f} "
            + _cell(v.get("premise_holds_on_test_both_orders"), "18d")
            + " "
            + _cell(v.get("mean_cross_both_orders_minus_start_test"), "+6.2f")
            + " "
            + _cell(v.get("mean_cross_both_orders_minus_start_dev"), "+6.2f")
        )
    seeds = _seeds(runs)
    if seeds:
        print(
            f"\n{'run':14} {'seeds':>5} {'- start (test) per seed':>23} {'mean':>6} {'sd':>5} "
            f"{'(dev) per seed':>20} {'mean':>6} {'sd':>5} {'fit':>6} {'holds':>5}"
        )
        for name, s in seeds.items():
            cells = [f"{name:14} {len(s['seeds']):5d}"]
            for split, width in (("test", 23), ("dev", 20)):
                per_seed = " ".join(f"{g:+.2f}" for g in s[f"cross_minus_start_{split}"])
                cells.append(
                    f"{per_seed:>{width}} {s[f'mean_cross_minus_start_{split}']:+6.2f} "
                    f"{s[f'sd_cross_minus_start_{split}']:5.2f}"
                )
            print(" ".join(cells), f"{s['mean_cross_fit']:6.2f} {s['premise_holds_on_test']:5d}")
    record = {
        "what": "one cycle per variant, bi step cut to one step: cycle 1's cross-encoder against "
        "the start bi-encoder on each domain's dev (200 pairs) and test pairs",
        "variants": {name: " ".join(flags) or "(the recipe)" for name, flags in VARIANTS.items()},
        "screen_flags": " ".join(SCREEN),
        "runs": runs,
        "summary": variants,
        "seeds": seeds,
    }
    _save(output, record, section)
    print(f"wrote {output} (section {section})")
    return record


def main() -> None:
    from bench_domains import DOMAINS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("train", "summarise"))
    parser.add_argument("--root", default="runs/domains")
    parser.add_argument("--domains", default=",".join(DOMAINS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="2021")
    parser.add_argument("--max-pool", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=Path("eval/results/domains.json"))
    parser.add_argument(
        "--section", default="premise", help="the section of --output that summarise writes"
    )
    args = parser.parse_args()
    domains = [d.strip().upper() for d in args.domains.split(",") if d.strip()]
    if args.action == "train":
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = sorted(set(variants) - set(VARIANTS))
        if unknown:
            raise SystemExit(f"unknown variants {unknown}; known: {list(VARIANTS)}")
        seeds = [int(s) for s in args.seeds.split(",")]
        train(Path(args.root), domains, variants, seeds, args.max_pool)
    else:
        summarise(Path(args.root), domains, args.output, args.section)


if __name__ == "__main__":
    main()
