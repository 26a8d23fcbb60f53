"""Inference speed: transencoder vs sentence-transformers on the same model, pairs and batch size.

* pair scoring with a bi-encoder: ``BiEncoder.pair_similarity(pairs)`` vs
  ``SentenceTransformer.encode(sentences1)``, ``encode(sentences2)`` and the cosine;
* cross-encoder prediction: ``CrossEncoder.predict(pairs)`` vs
  ``sentence_transformers.CrossEncoder.predict(pairs)`` (same saved weights).

Three sides: ours at its default precision (``auto``: bf16 weights where the CPU has bf16 units),
sentence-transformers at its default (fp32), and sentence-transformers under one line of bf16
autocast (what its user can do today). Runs alternate (ours, theirs, theirs in bf16, ours, ...)
and the median time of each is kept, so all see the same machine state. Prints a table and
writes JSON.

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


def alternate(sides: dict, repeats: int) -> dict:
    """Median seconds of each side (run in turn, ``repeats`` rounds) and ratios to ours."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    outputs: dict[str, object] = {}
    for _ in range(repeats):
        for name, function in sides.items():
            _, t, outputs[name] = timed(function, 1)
            times[name] += t
    medians = {name: statistics.median(t) for name, t in times.items()}
    ours = np.asarray(outputs["ours"])
    return {
        **{f"{name}_s": round(medians[name], 3) for name in sides},
        **{
            f"ratio_vs_{name}": round(medians[name] / medians["ours"], 3)
            for name in sides
            if name != "ours"
        },
        **{f"{name}_runs": [round(x, 3) for x in times[name]] for name in sides},
        **{
            f"max_abs_diff_vs_{name}": float(np.abs(ours - np.asarray(outputs[name])).max())
            for name in sides
            if name != "ours"
        },
    }


def bf16_autocast(function):
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return function()

    return run


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
    sides = {"ours": our_pairs, "st": st_pairs, "st_bf16": bf16_autocast(st_pairs)}
    results = {"pair_scoring": alternate(sides, args.repeats)}
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
        theirs = lambda: theirs_cross.predict(cross_pairs, batch_size=args.cross_batch_size)  # noqa: E731
        sides = {
            "ours": lambda: ours_cross.predict(
                cross_pairs, batch_size=args.cross_batch_size, show_progress_bar=False
            ),
            "st": theirs,
            "st_bf16": bf16_autocast(theirs),
        }
        results["cross_prediction"] = alternate(sides, args.cross_repeats)
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
    from transencoder import precision

    meta["precision_auto"] = precision.describe(device)
    print(f"\nours at auto precision: {meta['precision_auto']}")
    print(
        f"{'benchmark':18} {'pairs':>6} {'ours s':>7} {'s-t s':>7} {'s-t bf16 s':>10} "
        f"{'vs s-t':>6} {'vs bf16':>7} {'max|diff| vs s-t':>16}"
    )
    for name, row in results.items():
        print(
            f"{name:18} {row['pairs']:6d} {row['ours_s']:7.2f} {row['st_s']:7.2f} "
            f"{row['st_bf16_s']:10.2f} {row['ratio_vs_st']:5.2f}x {row['ratio_vs_st_bf16']:6.2f}x "
            f"{row['max_abs_diff_vs_st']:16.2e}"
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
