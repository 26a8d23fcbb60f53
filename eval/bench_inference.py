"""Inference speed: transencoder vs sentence-transformers on the same model, pairs and batch size.

* pair scoring with a bi-encoder: ``BiEncoder.pair_similarity(pairs)`` vs
  ``SentenceTransformer.encode(sentences1)``, ``encode(sentences2)`` and the cosine;
* cross-encoder prediction: ``CrossEncoder.predict(pairs)`` vs
  ``sentence_transformers.CrossEncoder.predict(pairs)`` (same saved weights).

Runs alternate (ours, theirs, ours, ...) and the median time of each is kept, so both see the
same machine state. Prints a table and writes JSON.

    python eval/bench_inference.py --data-dir ../shared/data/sts/senteval
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(function, repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def alternate(ours, theirs, repeats: int) -> dict:
    ours_times, theirs_times, ours_out, theirs_out = [], [], None, None
    for _ in range(repeats):
        _, t, ours_out = timed(ours, 1)
        ours_times += t
        _, t, theirs_out = timed(theirs, 1)
        theirs_times += t
    ours_s, theirs_s = statistics.median(ours_times), statistics.median(theirs_times)
    return {
        "ours_s": round(ours_s, 3),
        "sentence_transformers_s": round(theirs_s, 3),
        "ratio": round(theirs_s / ours_s, 3),
        "ours_runs": [round(x, 3) for x in ours_times],
        "sentence_transformers_runs": [round(x, 3) for x in theirs_times],
        "max_abs_diff": float(np.abs(np.asarray(ours_out) - np.asarray(theirs_out)).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/sts/senteval")
    parser.add_argument("--model", default="default")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cross-batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cross-repeats", type=int, default=1)
    parser.add_argument(
        "--cross-pairs",
        type=int,
        default=None,
        help="score only the first N pairs with the cross-encoders",
    )
    parser.add_argument("--output", default="eval/results/bench_inference.json")
    args = parser.parse_args()

    from sentence_transformers import CrossEncoder as STCrossEncoder
    from sentence_transformers import SentenceTransformer

    from transencoder import BiEncoder, CrossEncoder
    from transencoder.eval import find_tasks
    from transencoder.models.loading import resolve_model_path

    tasks = find_tasks(args.data_dir)
    pairs = [pair for task in tasks for pair in task.pairs]
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"{len(pairs)} pairs from {', '.join(t.name for t in tasks)}; {len(set(firsts + seconds))} distinct sentences"
    )

    bi = BiEncoder.from_pretrained(args.model, device=device)
    st = SentenceTransformer(resolve_model_path(args.model), device=device)

    def st_pairs():
        u = st.encode(firsts, batch_size=args.batch_size, convert_to_tensor=True)
        v = st.encode(seconds, batch_size=args.batch_size, convert_to_tensor=True)
        return torch.nn.functional.cosine_similarity(u, v).cpu().numpy()

    def our_pairs():
        return bi.pair_similarity(pairs, batch_size=args.batch_size, show_progress_bar=False)

    our_pairs()  # warm-up (allocator, kernels) for both
    st.encode(firsts[:256], batch_size=args.batch_size)
    results = {"pair_scoring": alternate(our_pairs, st_pairs, args.repeats)}
    results["pair_scoring"]["pairs"] = len(pairs)

    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        CrossEncoder.from_pretrained(args.model, device="cpu").save(Path(folder) / "cross")
        ours_cross = CrossEncoder.from_pretrained(Path(folder) / "cross", device=device)
        theirs_cross = STCrossEncoder(str(Path(folder) / "cross"), device=device)
        cross_pairs = pairs[: args.cross_pairs] if args.cross_pairs else pairs
        ours_cross.predict(
            cross_pairs[:256], batch_size=args.cross_batch_size, show_progress_bar=False
        )
        theirs_cross.predict(cross_pairs[:256], batch_size=args.cross_batch_size)
        results["cross_prediction"] = alternate(
            lambda: ours_cross.predict(
                cross_pairs, batch_size=args.cross_batch_size, show_progress_bar=False
            ),
            lambda: theirs_cross.predict(cross_pairs, batch_size=args.cross_batch_size),
            args.cross_repeats,
        )
        results["cross_prediction"]["pairs"] = len(cross_pairs)

    meta = {
        "model": args.model,
        "batch_size": args.batch_size,
        "cross_batch_size": args.cross_batch_size,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    print(
        f"\n{'benchmark':18} {'pairs':>6} {'ours s':>8} {'s-t s':>8} {'ratio':>6} {'max|diff|':>10}"
    )
    for name, row in results.items():
        print(
            f"{name:18} {row['pairs']:6d} {row['ours_s']:8.2f} {row['sentence_transformers_s']:8.2f} "
            f"{row['ratio']:5.2f}x {row['max_abs_diff']:10.2e}"
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
