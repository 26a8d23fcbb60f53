"""Where cycle 1's cross-encoder loses to its teacher: on the test pairs it trained on, or on
the others? A split of ``bench_premise.py``'s runs.

A domain's pool is a seeded draw of ``--max-pool`` pairs from its unlabelled pairs, so some of
its test pairs are in the pool the cross-encoder learned (on its teacher's labels) and the rest
are new to it. The cross-encoder teaches the next bi-encoder on the pool's pairs only, so how it
ranks the pairs it saw is what the method leans on; how it ranks the others is how it generalises.

For each run folder (``<root>/<domain>/premise/<variant>-s<seed>``, or variant ``full``: a
``bench_domains.py`` run, ``<root>/<domain>/s<seed>``) this rebuilds the run's pool draw, checks
it against the pool fingerprint in the run's ledger, and scores the start model and the run's
models on every test pair, split into seen and new: a screening's cycle-1 cross-encoder (order
(a, b), as ``bench_premise.py``'s ``cross`` column, and both orders, as it teaches), a full run's
cross- and bi-encoder of every cycle and its result. On the seen pairs it also scores cycle 1's
labels (what the cross-encoder learned) and the bi-encoder's targets (what it learns from).
Spearman x100 for STS, ROC-AUC x100 for pair tasks, each over the split's pairs. Writes the
``premise_split`` section of ``eval/results/domains.json``.

    python eval/premise_split.py --root runs/domains --domains STS12,STS14 --variants no-dropout
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # records.py, bench_domains.py

SPLITS = ("seen", "new", "all")
FULL = "full"  # a bench_domains.py run, <root>/<domain>/s<seed>, not a screening


def _metric(gold: np.ndarray, scores: np.ndarray, pair_task: bool) -> float | None:
    """The evaluator's metric over these pairs (ROC-AUC or Spearman x100), None where undefined."""
    from transencoder.eval import roc_auc
    from transencoder.eval.metrics import correlate

    value = roc_auc(scores, gold) if pair_task else correlate(scores, gold).spearman
    return round(value, 2) if np.isfinite(value) else None


def _key(a: str, b: str) -> frozenset:
    return frozenset((a, b))  # the pool is de-duplicated without regard to order


def seen_in_pool(pool_pairs, test_pairs) -> tuple[np.ndarray, list[int]]:
    """Which test pairs the pool holds, in either order, and each seen one's index in the pool
    (in the test pairs' order)."""
    index = {_key(a, b): i for i, (a, b) in enumerate(pool_pairs)}
    seen = np.array([_key(a, b) in index for a, b in test_pairs], dtype=bool)
    return seen, [index[_key(a, b)] for (a, b), s in zip(test_pairs, seen) if s]


def in_order_and_both(model, pairs) -> tuple[np.ndarray, np.ndarray]:
    """A cross-encoder's scores of ``pairs`` in order (a, b) and averaged over both orders, as
    ``predict(pairs)`` and ``predict(pairs, both_orders=True)`` give them, each order scored once."""
    both = model.predict(pairs + [(b, a) for a, b in pairs], batch_size=64, show_progress_bar=False)
    return both[: len(pairs)], (both[: len(pairs)] + both[len(pairs) :]) / 2


def models_of(folder: Path, config: dict) -> list[tuple[str, str, Path]]:
    """What to score in a run folder: a screening run's cycle-1 cross-encoder (``cross``; its
    bi step was cut to one step), or a full run's cross- and bi-encoder of every cycle and its
    result (``average``, when the run averaged its bi-encoders), as far as the run got;
    ``config``: the run's, from its ledger."""
    if config["bi"].get("max_steps") == 1:
        return [("cross", "cross", folder / "cycle-1" / "cross")]
    found = [
        ("cross", "cross", folder / "cycle-1" / "cross"),
        ("bi 1", "bi", folder / "cycle-1" / "bi"),
    ]
    for k in range(2, int(config["cycles"]) + 1):
        found += [(f"cross {k}", "cross", folder / f"cycle-{k}" / "cross"),
                  (f"bi {k}", "bi", folder / f"cycle-{k}" / "bi")]  # fmt: skip
    found.append(("average", "bi", folder / "average" / "bi"))
    return [model for model in found if model[2].is_dir()]  # a run stopped early: what it has


def split_run(folder: Path, task, start_scores: np.ndarray) -> dict:
    """The start model's and each of the run's models' metric on the seen, new and all pairs of
    the test ``task``; ``start_scores`` are the start model's cosines of its pairs."""
    from transencoder import BiEncoder, CrossEncoder
    from transencoder.training.ledger import pool_fingerprint
    from transencoder.training.pairs import pool_from_pairs_file

    ledger = json.loads((folder / "progress.json").read_text(encoding="utf-8"))
    config = ledger["config"]
    pool = pool_from_pairs_file(config["data"]["pairs"]).limit(
        config["data"]["max_pairs"], int(config["run"]["seed"])
    )
    if pool_fingerprint(pool.pairs) != ledger["fingerprint"]["pool"]:
        raise SystemExit(f"{folder}: the rebuilt pool draw is not the run's (ledger fingerprint)")

    pair_task = hasattr(task, "labels")
    gold = np.asarray(task.labels if pair_task else task.scores, dtype=float)
    pairs = task.pairs
    seen, at = seen_in_pool(pool.pairs, pairs)

    row = {"test_pairs": len(pairs), "seen": int(seen.sum()), "new": int((~seen).sum())}
    masks = {"seen": seen, "new": ~seen, "all": np.ones_like(seen)}
    scored = {"start": start_scores}
    for name, kind, path in models_of(folder, config):
        if kind == "cross":
            model = CrossEncoder.from_pretrained(path, device="cpu")
            if name == "cross":  # also as it teaches
                scored[name], scored["cross_both_orders"] = in_order_and_both(model, pairs)
            else:
                scored[name] = model.predict(pairs, batch_size=64, show_progress_bar=False)
        else:
            model = BiEncoder.from_pretrained(path, device="cpu")
            scored[name] = model.pair_similarity(pairs, batch_size=128)
    for name, scores in scored.items():
        row[name] = {
            s: _metric(gold[m], np.asarray(scores)[m], pair_task) for s, m in masks.items()
        }
        if name != "start":
            row[f"{name}_minus_start"] = {
                s: None if row[name][s] is None else round(row[name][s] - row["start"][s], 2)
                for s in SPLITS
            }
    # The labels the cross-encoder learned (the start's pooled cosines, or the view the recipe
    # chose), and what cycle 1's bi-encoder learns from on the pool's pairs (the cross-encoder's labels
    # mixed with the start's, ``teachers``' settings): on the seen test pairs only.
    for name, array in (("labels", "cycle-1-bi-scores"), ("bi_targets", "cycle-1-bi-targets")):
        values = np.load(folder / "labels" / f"{array}.npy")
        value = _metric(gold[seen], values[at], pair_task) if at else None
        row[name] = {"seen": value}
        row[f"{name}_minus_start"] = {
            "seen": None if value is None else round(value - row["start"]["seen"], 2)
        }
    return row


def main() -> None:
    from bench_domains import _save

    from transencoder import BiEncoder
    from transencoder.eval import find_all_tasks

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/domains")
    parser.add_argument("--domains", required=True)
    parser.add_argument(
        "--variants",
        default="no-dropout,recommended-no-dropout",
        help=f"bench_premise.py variants; {FULL!r}: bench_domains.py's run of the seed",
    )
    parser.add_argument("--seeds", default="2021")
    parser.add_argument("--output", type=Path, default=Path("eval/results/domains.json"))
    parser.add_argument("--section", default="premise_split")
    parser.add_argument("--merge", action="store_true", help="keep the section's other runs")
    args = parser.parse_args()
    root = Path(args.root)
    start = BiEncoder.from_pretrained("default", device="cpu")
    runs = {}
    for domain in args.domains.split(","):
        (task,) = find_all_tasks(root / domain / "data" / "test.tsv")
        start_scores = start.pair_similarity(task.pairs, batch_size=128)
        start_scores = np.asarray(start_scores, dtype=np.float32)
        for variant in args.variants.split(","):
            for seed in args.seeds.split(","):
                folder = (
                    root
                    / domain
                    / (f"s{seed}" if variant == FULL else f"premise/{variant}-s{seed}")
                )
                if not (folder / "cycle-1" / "cross").is_dir():
                    continue
                row = split_run(folder, task, start_scores)
                runs[f"{domain}/{folder.name}"] = {"domain": domain, "variant": variant,
                                                   "seed": int(seed), **row}  # fmt: skip
                print(
                    f"{domain} {folder.name}: test pairs seen {row['seen']}, new {row['new']}; "
                    f"start {row['start']['seen']} / {row['start']['new']} / {row['start']['all']}"
                    f" (seen / new / all); cycle 1's labels - start on the seen pairs "
                    f"{row['labels_minus_start']['seen']}, its bi targets "
                    f"{row['bi_targets_minus_start']['seen']}",
                    flush=True,
                )
                for name in row:
                    if name.endswith("_minus_start") and "seen" in row[name] and "new" in row[name]:
                        g = row[name]
                        print(f"    {name[: -len('_minus_start')]:18} - start: seen "
                              f"{g['seen']}  new {g['new']}  all {g['all']}")  # fmt: skip
    if args.merge:
        from records import read_record

        runs = {**(read_record(args.output).get(args.section) or {}).get("runs", {}), **runs}
    record = {
        "what": "each model of a run minus the start on the test pairs its pool held (seen), the "
        "others (new) and all: a bench_premise.py run's cycle-1 cross-encoder, a bench_domains.py "
        "run's cross- and bi-encoders and result; labels and bi_targets: cycle 1's on the seen "
        "pairs",
        "runs": runs,
    }
    _save(args.output, record, args.section)
    print(f"wrote {args.output} (section {args.section})")


if __name__ == "__main__":
    main()
