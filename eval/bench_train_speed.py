"""Training speed: Trans-Encoder's two distillation steps vs sentence-transformers' trainers.

Same model, same pairs, same labels, batch size, maximum length and number of optimizer steps.
Four sides: ours at its default precision (``auto``: bf16 on a CPU with bf16 units), ours in
fp32, sentence-transformers at its default (fp32) and sentence-transformers in bf16
(``bf16=True`` in its training arguments: autocast). The ratios against both of theirs are the
honest comparison. A roofline line gives each side's useful FLOP/s (forward + backward,
``torch.utils.flop_counter`` on our step) against torch's bf16 matrix-product rate at the step's
shapes, measured in the same run.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_profile.py


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
    precision = {"ours": "auto", "ours32": "fp32"}.get(step)
    batch = args.cross_batch_size if side == "cross" else args.bi_batch_size
    max_length = args.cross_max_length if side == "cross" else args.bi_max_length
    steps = args.cross_steps if side == "cross" else args.bi_steps
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as folder:
        if step in ("ours", "ours32"):
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
                    model, pairs, labels, config, seed=0, show_progress_bar=False,
                    precision=precision,
                )  # fmt: skip
            else:
                model = BiEncoder.from_pretrained(args.model, device=device)
                started = time.perf_counter()
                stats = train_bi_encoder(
                    model, pairs, labels, config, seed=0, show_progress_bar=False,
                    precision=precision,
                )  # fmt: skip
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
                bf16=step == "stbf16",
                use_cpu=device == "cpu",  # transformers refuses bf16 on a CPU without it
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


def _spawn(passthrough: list[str], name: str) -> dict:
    command = [sys.executable, __file__, *passthrough, "--worker", name]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def roofline_worker(args: argparse.Namespace) -> dict:
    """FLOPs per training example of our two steps (torch's counter over 2 optimizer steps) and
    torch's GEMM rates at their shapes, in fp32 and bf16."""
    import torch
    from bench_profile import gemm_rates
    from torch.utils.flop_counter import FlopCounterMode

    from transencoder import BiEncoder, CrossEncoder, precision
    from transencoder.training import StepConfig, train_bi_encoder, train_cross_encoder

    pairs = load_pairs(args.data_dir, args.pairs, 0)
    labels = np.random.default_rng(0).uniform(0.0, 1.0, len(pairs)).astype(np.float32)
    out = {
        "flop_per_example": {},
        "gemm_gflops": {},
        "precision_auto": precision.describe(),
        "torch_threads": torch.get_num_threads(),
    }
    for side in ("cross", "bi"):
        batch = args.cross_batch_size if side == "cross" else args.bi_batch_size
        length = args.cross_max_length if side == "cross" else args.bi_max_length
        config = StepConfig(epochs=1000, batch_size=batch, lr=2e-5, max_length=length, max_steps=2)
        if side == "cross":
            model, train = (
                CrossEncoder.from_pretrained(args.model, max_length=length),
                train_cross_encoder,
            )
        else:
            model, train = BiEncoder.from_pretrained(args.model), train_bi_encoder
        torch.manual_seed(0)
        with FlopCounterMode(display=False) as counter:
            stats = train(model, pairs, labels, config, seed=0, show_progress_bar=False,
                          precision="fp32")  # fmt: skip
        out["flop_per_example"][side] = counter.get_total_flops() / stats.examples
        tokens = batch * length * (2 if side == "bi" else 1)
        out["gemm_gflops"][side] = gemm_rates(tokens)
    return out


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
        print(json.dumps(roofline_worker(args) if args.worker == "roofline-all" else worker(args)))
        return

    passthrough = [
        f"--{key.replace('_', '-')}={value}"
        for key, value in vars(args).items()
        if key not in ("output", "worker")
    ]
    sides = ("ours", "ours32", "st", "stbf16")
    runs: dict[str, list[dict]] = {}
    for repeat in range(args.repeats):
        for side in ("cross", "bi"):
            order = sides if repeat % 2 == 0 else sides[::-1]  # no side always runs first
            for step in order:
                name = f"{step}-{side}"
                runs.setdefault(name, []).append(_spawn(passthrough, name))
                print(f"{name}: {runs[name][-1]['examples_per_s']:.1f} examples/s", flush=True)
    roofline = _spawn(passthrough, "roofline-all")

    summary = {}
    for side, label in (("cross", "bi->cross (cross-encoder)"), ("bi", "cross->bi (bi-encoder)")):
        rate = {
            s: statistics.median(r["examples_per_s"] for r in runs[f"{s}-{side}"]) for s in sides
        }
        flop = roofline["flop_per_example"][side]
        bf16_gemm = max(roofline["gemm_gflops"][side]["bf16"].values())
        summary[side] = {
            "step": label,
            **{f"{s}_examples_per_s": round(rate[s], 2) for s in sides},
            "speedup_vs_st": round(rate["ours"] / rate["st"], 3),
            "speedup_vs_st_bf16": round(rate["ours"] / rate["stbf16"], 3),
            "ours_bf16_over_fp32": round(rate["ours"] / rate["ours32"], 3),
            **{
                f"{s}_peak_memory_mb": round(
                    max(r["peak_memory_mb"] for r in runs[f"{s}-{side}"]), 1
                )
                for s in sides
            },
            "roofline": {
                "gflop_per_example": round(flop / 1e9, 3),
                "useful_gflops": {s: round(rate[s] * flop / 1e9, 1) for s in sides},
                "bf16_gemm_gflops": bf16_gemm,
                "fp32_gemm_gflops": max(roofline["gemm_gflops"][side]["fp32"].values()),
                "ours_share_of_bf16_gemm": round(rate["ours"] * flop / 1e9 / bf16_gemm, 3),
            },
        }
    print(
        f"\n{'step':26} {'ours':>6} {'ours32':>6} {'s-t':>6} {'s-t bf16':>8} "
        f"{'vs s-t':>6} {'vs bf16':>7} {'GFLOP/s':>7} {'of bf16 GEMM':>12}"
    )
    for row in summary.values():
        roof = row["roofline"]
        print(
            f"{row['step']:26} {row['ours_examples_per_s']:6.1f} {row['ours32_examples_per_s']:6.1f} "
            f"{row['st_examples_per_s']:6.1f} {row['stbf16_examples_per_s']:8.1f} "
            f"{row['speedup_vs_st']:5.2f}x {row['speedup_vs_st_bf16']:6.2f}x "
            f"{roof['useful_gflops']['ours']:7.1f} {roof['ours_share_of_bf16_gemm']:11.1%}"
        )
    print("examples/s; peak MB: " + ", ".join(
        f"{side} " + "/".join(f"{row[f'{s}_peak_memory_mb']:.0f}" for s in sides)
        for side, row in summary.items()
    ))  # fmt: skip
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
    meta["precision_auto"] = roofline["precision_auto"]
    meta["torch_threads"] = roofline["torch_threads"]
    meta["load_average_at_end"] = os.getloadavg()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": runs, "roofline": roofline}, indent=2)
        + "\n"
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
