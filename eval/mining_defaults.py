"""How the mining defaults were chosen, without training: which (k, band, random share) makes a
pool mined from the STS sentences look like the STS pairs themselves, task by task?

Trans-Encoder is known to work on the STS pairs (the paper's pool, and ours: +1.04 with the
recommended recipe). A mined pool whose start-model cosine distribution matches theirs feeds the
cycles labels of the same spread, from sentences alone. For every setting on a grid this
script mines the pool from the STS12-16 + STS-B sentences (exact neighbours of the default
model, the same embeddings for every setting) and measures the Wasserstein-1 distance between
its cosine distribution and the STS pairs', together with the pool size: on the pooled
sentences, and on each task's sentences against that task's pairs (ranked by the mean over the
six tasks, the per-domain view). It is a proxy (the
lead's quality benchmark trains on the chosen pool); it says nothing about a domain's own pairs.

    python eval/mining_defaults.py --data-dir ../shared/data/sts/senteval --cache-dir RUNS/cache

(The recorded table was made with batches of 128 rows, before the token-budget batching; the
embeddings then differ from today's by float rounding only.)
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/sts/senteval")
    parser.add_argument(
        "--cache-dir", help="the mining cache (reuses the embeddings of a mine run)"
    )
    parser.add_argument("--output", default="eval/results/mining_defaults.json")
    args = parser.parse_args()

    from scipy.stats import wasserstein_distance

    from transencoder import BiEncoder
    from transencoder.mining import MiningConfig, build_candidates, build_corpus
    from transencoder.mining.embeddings import encode_corpus, open_cache
    from transencoder.mining.topk import Neighbours, exact_neighbours, normalized
    from transencoder.training import pool_from_data_dir

    pool = pool_from_data_dir(args.data_dir)
    corpus = build_corpus((s for pair in pool.pairs for s in pair), source=str(args.data_dir))
    texts = corpus.sentences
    position = {s: i for i, s in enumerate(texts)}
    model = BiEncoder.from_pretrained("default", device="cpu")
    settings = MiningConfig()
    encoding = dict(
        batch_size=settings.batch_size,
        batch_tokens=settings.batch_tokens,
        chunk=settings.encode_chunk,
    )
    cache = open_cache(args.cache_dir, texts, model, **encoding)
    embeddings, encoded = encode_corpus(
        model, texts, cache=cache, show_progress_bar=False, **encoding
    )
    unit = normalized(embeddings).numpy()
    first = np.array([position[a] for a, _ in pool.pairs])
    second = np.array([position[b] for _, b in pool.pairs])
    reference = np.einsum("ij,ij->i", unit[first], unit[second])
    print(
        f"{len(texts)} sentences ({encoded} encoded now), {len(pool)} STS pairs; their cosine: "
        f"mean {reference.mean():.3f}, quartiles {np.percentile(reference, [25, 50, 75]).round(3)}"
    )
    grid = list(
        itertools.product(
            (1, 2, 3, 5, 10), (-1.0, 0.3, 0.5), (0.95, 0.98, 1.0), (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
        )
    )

    def sweep(rows_of: np.ndarray, cosines: np.ndarray) -> list[tuple[int, float, list]]:
        """(pool size, W1 to ``cosines``, quartiles) of every grid setting on these sentences."""
        sub = unit[rows_of]
        widest = exact_neighbours(sub, 10)
        out = []
        for k, low, high, share in grid:
            found = Neighbours(widest.scores[:, :k].copy(), widest.indices[:, :k].copy())
            mined = build_candidates(
                found,
                sub,
                [texts[i] for i in rows_of],
                min_similarity=low,
                max_similarity=high,
                random_share=share,
                seed=0,
            )
            distance = float(wasserstein_distance(mined.similarity, cosines))
            quartiles = np.percentile(mined.similarity, [25, 50, 75]).round(3).tolist()
            out.append((len(mined), round(distance, 4), quartiles))
        return out

    pooled = sweep(np.arange(len(texts)), reference)
    # Each task alone (its own sentences against its own pairs): the per-domain view.
    tasks: dict[str, list[int]] = {}
    start = 0
    for source, count in pool.sources.items():
        tasks.setdefault(source.split("-")[0], []).extend(range(start, start + count))
        start += count
    per_task = {}
    for task, pair_rows in tasks.items():
        members = sorted({int(first[i]) for i in pair_rows} | {int(second[i]) for i in pair_rows})
        per_task[task] = sweep(np.array(members), reference[pair_rows])
        print(f"  {task}: {len(pair_rows)} pairs, {len(members)} sentences", flush=True)
    rows = []
    for number, (k, low, high, share) in enumerate(grid):
        task_w1 = {task: values[number][1] for task, values in per_task.items()}
        rows.append(
            {
                "k": k,
                "min_similarity": low,
                "max_similarity": high,
                "random_share": share,
                "pairs": pooled[number][0],
                "wasserstein_to_sts": pooled[number][1],
                "quartiles": pooled[number][2],
                "wasserstein_per_task": task_w1,
                "mean_task_wasserstein": round(float(np.mean(list(task_w1.values()))), 4),
                "pairs_per_task": {task: values[number][0] for task, values in per_task.items()},
            }
        )
    rows.sort(key=lambda r: r["mean_task_wasserstein"])
    print(
        f"\n{'k':>3} {'min':>5} {'max':>5} {'share':>5} {'pairs':>7} {'W1 pooled':>9} "
        f"{'W1 tasks':>8}  per task"
    )
    for row in rows[:15]:
        tasks_text = " ".join(f"{t} {w:.3f}" for t, w in row["wasserstein_per_task"].items())
        print(
            f"{row['k']:3d} {row['min_similarity']:5.2f} {row['max_similarity']:5.2f} "
            f"{row['random_share']:5.2f} {row['pairs']:7d} {row['wasserstein_to_sts']:9.4f} "
            f"{row['mean_task_wasserstein']:8.4f}  {tasks_text}"
        )
    record = {
        "sentences": len(texts),
        "sts_pairs": len(pool),
        "sts_cosine": {
            "mean": round(float(reference.mean()), 4),
            "quartiles": np.percentile(reference, [25, 50, 75]).round(3).tolist(),
        },
        "rows": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
