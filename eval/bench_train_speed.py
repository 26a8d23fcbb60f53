"""Training speed: Trans-Encoder's two distillation steps vs sentence-transformers' trainers.

Same model, same pairs, same labels, batch size, maximum length and number of optimizer steps:

* bi -> cross: ``transencoder.training.train_cross_encoder`` (BCE on soft labels, both orders)
  vs ``sentence_transformers.cross_encoder.CrossEncoderTrainer`` with ``BinaryCrossEntropyLoss``
  on the same ordered pairs;
* cross -> bi: ``transencoder.training.train_bi_encoder`` (MSE of cosine) vs
  ``SentenceTransformerTrainer`` with ``CosineSimilarityLoss``.

Each run is its own subprocess, so the peak resident memory (``ru_maxrss``; on a GPU,
``torch.cuda.max_memory_allocated``) belongs to that run alone. Runs alternate (ours, theirs)
``--repeats`` times; the median throughput is reported. Prints a table and writes JSON.

    python eval/bench_train_speed.py --data-dir ../shared/data/sts/senteval
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def load_pairs(data_dir: str, count: int, seed: int) -> list[tuple[str, str]]:
    from transencoder.training.pairs import pool_from_data_dir

    return pool_from_data_dir(data_dir).limit(count, seed).pairs


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> dict:
    """One timed training run; returns examples/s and peak memory."""
    import torch

    from transencoder.training.pairs import both_orders

    torch.manual_seed(0)
    pairs = load_pairs(args.data_dir, args.pairs, 0)
    labels = np.random.default_rng(0).uniform(0.0, 1.0, len(pairs)).astype(np.float32)
    step, side = args.worker.split("-")
    batch = args.cross_batch_size if side == "cross" else args.bi_batch_size
    max_length = args.cross_max_length if side == "cross" else args.bi_max_length
    steps = args.cross_steps if side == "cross" else args.bi_steps
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as folder:
        if step == "ours":
            from transencoder import BiEncoder, CrossEncoder
            from transencoder.training import StepConfig, train_bi_encoder, train_cross_encoder

            config = StepConfig(
                epochs=1000,
                batch_size=batch,
                lr=2e-5,
                max_length=max_length,
                warmup_ratio=0.1,
                max_steps=steps,
            )
            if side == "cross":
                model = CrossEncoder.from_pretrained(
                    args.model, max_length=max_length, device=device
                )
                started = time.perf_counter()
                stats = train_cross_encoder(
                    model, pairs, labels, config, seed=0, show_progress_bar=False
                )
            else:
                model = BiEncoder.from_pretrained(args.model, device=device)
                started = time.perf_counter()
                stats = train_bi_encoder(
                    model, pairs, labels, config, seed=0, show_progress_bar=False
                )
            seconds, examples = time.perf_counter() - started, stats.examples
        else:
            from datasets import Dataset

            from transencoder.models.loading import resolve_model_path

            common = dict(
                output_dir=folder,
                per_device_train_batch_size=batch,
                max_steps=steps,
                learning_rate=2e-5,
                warmup_ratio=0.1,
                weight_decay=0.01,
                save_strategy="no",
                logging_steps=10_000,
                report_to=[],
                seed=0,
                disable_tqdm=True,
                dataloader_drop_last=False,
            )
            if side == "cross":
                from sentence_transformers.cross_encoder import CrossEncoder as STCrossEncoder
                from sentence_transformers.cross_encoder import (
                    CrossEncoderTrainer,
                    CrossEncoderTrainingArguments,
                )
                from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

                ordered = both_orders(pairs)
                data = Dataset.from_dict(
                    {
                        "sentence1": [a for a, _ in ordered],
                        "sentence2": [b for _, b in ordered],
                        "label": np.concatenate([labels, labels]).tolist(),
                    }
                )
                model = STCrossEncoder(
                    resolve_model_path(args.model),
                    num_labels=1,
                    max_length=max_length,
                    device=device,
                )
                trainer = CrossEncoderTrainer(
                    model=model,
                    args=CrossEncoderTrainingArguments(**common),
                    train_dataset=data,
                    loss=BinaryCrossEntropyLoss(model),
                )
            else:
                from sentence_transformers import (
                    SentenceTransformer,
                    SentenceTransformerTrainer,
                    SentenceTransformerTrainingArguments,
                )
                from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

                data = Dataset.from_dict(
                    {
                        "sentence1": [a for a, _ in pairs],
                        "sentence2": [b for _, b in pairs],
                        "label": labels.tolist(),
                    }
                )
                model = SentenceTransformer(resolve_model_path(args.model), device=device)
                model.max_seq_length = max_length
                trainer = SentenceTransformerTrainer(
                    model=model,
                    args=SentenceTransformerTrainingArguments(**common),
                    train_dataset=data,
                    loss=CosineSimilarityLoss(model),
                )
            started = time.perf_counter()
            trainer.train()
            seconds, examples = time.perf_counter() - started, steps * batch
    return {
        "examples_per_s": examples / seconds,
        "seconds": seconds,
        "examples": examples,
        "peak_memory_mb": peak_memory_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/sts/senteval")
    parser.add_argument("--model", default="default")
    parser.add_argument("--pairs", type=int, default=4000)
    parser.add_argument("--cross-batch-size", type=int, default=32)
    parser.add_argument("--cross-max-length", type=int, default=64)
    parser.add_argument("--cross-steps", type=int, default=100)
    parser.add_argument("--bi-batch-size", type=int, default=128)
    parser.add_argument("--bi-max-length", type=int, default=32)
    parser.add_argument("--bi-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", default="eval/results/bench_train_speed.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    passthrough = [
        f"--{key.replace('_', '-')}={value}"
        for key, value in vars(args).items()
        if key not in ("output", "worker")
    ]
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeats):
        for name in ("ours-cross", "st-cross", "ours-bi", "st-bi"):
            command = [sys.executable, __file__, *passthrough, "--worker", name]
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            if done.returncode != 0:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            runs.setdefault(name, []).append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{name}: {runs[name][-1]['examples_per_s']:.1f} examples/s", flush=True)

    summary = {}
    for side, label in (("cross", "bi->cross (cross-encoder)"), ("bi", "cross->bi (bi-encoder)")):
        ours = statistics.median(r["examples_per_s"] for r in runs[f"ours-{side}"])
        theirs = statistics.median(r["examples_per_s"] for r in runs[f"st-{side}"])
        summary[side] = {
            "step": label,
            "ours_examples_per_s": round(ours, 2),
            "st_examples_per_s": round(theirs, 2),
            "speedup": round(ours / theirs, 3),
            "ours_peak_memory_mb": round(max(r["peak_memory_mb"] for r in runs[f"ours-{side}"]), 1),
            "st_peak_memory_mb": round(max(r["peak_memory_mb"] for r in runs[f"st-{side}"]), 1),
        }
    print(
        f"\n{'step':28} {'ours ex/s':>10} {'s-t ex/s':>10} {'speedup':>8} {'ours MB':>8} {'s-t MB':>8}"
    )
    for row in summary.values():
        print(
            f"{row['step']:28} {row['ours_examples_per_s']:10.1f} {row['st_examples_per_s']:10.1f} "
            f"{row['speedup']:7.2f}x {row['ours_peak_memory_mb']:8.0f} {row['st_peak_memory_mb']:8.0f}"
        )
    meta = {
        key: getattr(args, key)
        for key in (
            "model",
            "pairs",
            "cross_batch_size",
            "cross_max_length",
            "cross_steps",
            "bi_batch_size",
            "bi_max_length",
            "bi_steps",
            "repeats",
        )
    }
    meta["cpu_count"] = os.cpu_count()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=2) + "\n"
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
