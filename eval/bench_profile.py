"""Where a training step's time goes, fp32 against bf16, and what the CPU's matrix units allow.

For one bi -> cross step (cross-encoder, batch 32, 64 tokens) and one cross -> bi step (bi-encoder,
batch 64, 32 tokens) of the product's own loop (``train_cross_encoder`` / ``train_bi_encoder`` on
STS pairs, the packaged MiniLM):

* seconds per optimizer step (median over ``--steps`` after one warm-up step), per variant:
  ``fp32``, ``bf16`` (autocast and fused AdamW: the product's training path), ``bf16+foreach``
  (torch's foreach AdamW), ``bf16+forloop`` (its one-tensor-at-a-time AdamW, torch's default on
  a CPU and the product's optimizer until fused was measured faster) and,
  with ``--compile``, ``bf16+compile`` (``torch.compile``, inductor's CPU backend);
* the time split of one bf16 and one fp32 step (``torch.profiler``, self CPU time per op):
  GEMM, attention, elementwise and norms, dropout, casts, optimizer, and data and Python (the
  wall time no op accounts for);
* the step's floating-point work (``torch.utils.flop_counter``) and so its useful FLOP/s, against
  the bf16 and fp32 GEMM rates measured in the same process at the step's shapes (the roofline);
* inference: STS-B test encoded in fp32, under bf16 autocast and with bf16 weights
  (``InferencePass``, the product's inference path): seconds and Spearman.

Prints tables and writes JSON (``eval/results/profile.json``).

    python eval/bench_profile.py --data-dir ../shared/data/sts/senteval
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # records.py

STEPS = {  # name: (kind, batch size, max length)
    "cross": ("cross", 32, 64),
    "bi": ("bi", 64, 32),
}
CATEGORIES = (  # first match wins; the names are aten's
    ("attention", ("attention", "softmax", "baddbmm", "bmm")),
    ("GEMM", ("mm", "addmm", "linear", "matmul", "mkldnn")),
    ("dropout", ("bernoulli", "dropout", "native_dropout")),
    ("casts and copies", ("copy_", "to_copy", "_to_copy", "clone", "contiguous")),
    ("optimizer", ("adam", "foreach", "_fused", "lerp", "addcmul", "addcdiv")),
    ("elementwise and norms", ("")),
)


def category(op: str) -> str:
    name = op.removeprefix("aten::").lower()
    if name.startswith("optimizer.step") or "adamw" in name:
        return "optimizer"
    for label, keys in CATEGORIES:
        if label == "GEMM" and name in ("mm", "addmm", "matmul", "linear"):
            return label
        if label != "GEMM" and any(key and key in name for key in keys):
            return label
    return "elementwise and norms"


def gemm_rates(tokens: int, dtypes=(torch.float32, torch.bfloat16)) -> dict:
    """GFLOP/s of torch's matrix product at a step's shapes (MiniLM: 384 and 1,536 wide)."""
    shapes = {
        f"{tokens}x384x384": (tokens, 384, 384),
        f"{tokens}x384x1536": (tokens, 384, 1536),
        f"{tokens}x1536x384": (tokens, 1536, 384),
    }
    rates = {}
    for dtype in dtypes:
        name = "bf16" if dtype == torch.bfloat16 else "fp32"
        for label, (m, k, n) in shapes.items():
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            for _ in range(3):
                a @ b
            reps, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < 1.5:
                a @ b
                reps += 1
            rates.setdefault(name, {})[label] = round(2 * m * k * n * reps / elapsed / 1e9, 1)
    return rates


def run_steps(kind: str, pairs, batch: int, length: int, steps: int, variant: str, around=None):
    """One short phase of the product's loop, inside ``around`` (a context: a profiler);
    returns the seconds between optimizer steps and the phase's stats."""
    from transencoder import BiEncoder, CrossEncoder
    from transencoder.training import StepConfig, loop, train_bi_encoder, train_cross_encoder

    precision = "fp32" if variant == "fp32" else "bf16"
    config = StepConfig(epochs=1000, batch_size=batch, lr=2e-5, max_length=length, max_steps=steps)
    torch.manual_seed(0)
    if kind == "cross":
        model, train = CrossEncoder.from_pretrained("default", device="cpu"), train_cross_encoder
    else:
        model, train = BiEncoder.from_pretrained("default", device="cpu"), train_bi_encoder
    labels = np.random.default_rng(0).uniform(0, 1, len(pairs)).astype(np.float32)
    stamps: list[float] = []
    original = loop.adamw
    if "foreach" in variant or "forloop" in variant:  # the benchmark's variants only
        loop.adamw = lambda params, lr, wd: torch.optim.AdamW(
            [
                {"params": g["params"], "weight_decay": g["weight_decay"]}
                for g in original(params, lr, wd).param_groups
            ],
            lr=lr,
            foreach="foreach" in variant,
            fused=False,
        )
    if "compile" in variant:
        model = _compiled(model, kind)
    started = time.perf_counter()
    try:
        with around or contextlib.nullcontext():
            stats = train(
                model, pairs, labels, config, seed=0, precision=precision, show_progress_bar=False,
                on_step=lambda *_: stamps.append(time.perf_counter()),
            )  # fmt: skip
    finally:
        loop.adamw = original
    stats.wall = time.perf_counter() - started  # the phase: tokenising, set-up and its steps
    return np.diff(stamps).tolist(), stats


def _compiled(model, kind):
    """The model with its transformer compiled (dynamic shapes: batches differ in length)."""
    inner = "model" if kind == "cross" else "encoder"
    setattr(model, inner, torch.compile(getattr(model, inner), dynamic=True))
    return model


def profile_split(kind, pairs, batch, length, precision) -> dict:
    """Self CPU seconds per category over 3 optimizer steps (a pool of 3 batches, so that
    tokenising it is a small part), and the wall time of the phase."""
    from torch.profiler import ProfilerActivity, profile

    pool = pairs[: batch * 3]
    run_steps(kind, pool, batch, length, 1, precision)  # warm-up of kernels and allocator
    prof = profile(activities=[ProfilerActivity.CPU])
    _, stats = run_steps(kind, pool, batch, length, 3, precision, around=prof)
    wall = stats.wall
    split: dict[str, float] = {}
    for event in prof.events():
        if not event.name.startswith(("aten::", "Optimizer.step")):
            continue
        label = "optimizer" if _under_optimizer(event) else category(event.name)
        split[label] = split.get(label, 0.0) + event.self_cpu_time_total / 1e6
    ops = sum(split.values())
    split["data and Python (wall - ops)"] = max(0.0, wall - ops)
    total = sum(split.values())
    return {
        "wall_s": round(wall, 3),
        "seconds": {k: round(v, 3) for k, v in split.items()},
        "share": {k: round(v / total, 3) for k, v in split.items()},
        "note": "one phase of 3 optimizer steps (tokenising its 3 batches included)",
    }


def _under_optimizer(event) -> bool:
    """Whether an op ran inside ``optimizer.step()`` (its elementwise ops are the optimizer's)."""
    while event is not None:
        if event.name.startswith("Optimizer.step"):
            return True
        event = event.cpu_parent
    return False


def step_flops(kind, pairs, batch, length) -> float:
    """Floating-point operations of one optimizer step (forward + backward), by torch's counter."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run_steps(kind, pairs, batch, length, 2, "fp32")
    return counter.get_total_flops() / 2


def inference(data_dir: str, batch_size: int, repeats: int) -> list[dict]:
    from scipy.stats import spearmanr

    from transencoder import BiEncoder
    from transencoder.eval import find_all_tasks

    task = next(t for t in find_all_tasks(data_dir) if t.name == "STSB")
    bi = BiEncoder.from_pretrained("default", device="cpu")
    rows = []
    for name, run in (
        ("fp32", lambda: bi.pair_similarity(task.pairs, batch_size=batch_size, precision="fp32")),
        ("bf16 autocast", lambda: _autocast(bi, task.pairs, batch_size)),
        ("bf16 weights (product)", lambda: bi.pair_similarity(task.pairs, batch_size=batch_size,
                                                         precision="bf16")),
    ):  # fmt: skip
        times, scores = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            scores = run()
            times.append(time.perf_counter() - started)
        rho = spearmanr(scores, np.asarray(task.scores)).statistic * 100
        rows.append({"variant": name, "seconds": round(min(times), 3), "spearman": round(rho, 3)})
    return rows


def _autocast(bi, pairs, batch_size):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return bi.pair_similarity(pairs, batch_size=batch_size, precision="fp32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/sts/senteval")
    parser.add_argument("--stsb-dir", default="../shared/data/sts/stsbenchmark")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--inference-repeats", type=int, default=2)
    parser.add_argument("--output", default="eval/results/profile.json")
    args = parser.parse_args()
    from records import write_record

    from transencoder.training.pairs import pool_from_data_dir

    pairs = pool_from_data_dir(args.data_dir).limit(4000, 0).pairs
    variants = ["fp32", "bf16", "bf16+foreach", "bf16+forloop"] + (
        ["bf16+compile"] if args.compile else []
    )
    record: dict = {
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg(),
        "steps": {},
        "inference": None,
    }
    for name, (kind, batch, length) in STEPS.items():
        tokens = batch * length * (2 if kind == "bi" else 1)
        rates = gemm_rates(tokens)
        flops = step_flops(kind, pairs, batch, length)
        row = {"batch_size": batch, "max_length": length, "gemm_gflops": rates,
               "step_gflop": round(flops / 1e9, 2), "variants": {}}  # fmt: skip
        for variant in variants:
            times, _ = run_steps(kind, pairs, batch, length, args.steps + 2, variant)
            seconds = statistics.median(times[1:])
            row["variants"][variant] = {
                "s_per_step": round(seconds, 3),
                "useful_gflops": round(flops / seconds / 1e9, 1),
                "share_of_bf16_gemm": round(flops / seconds / 1e9 / max(rates["bf16"].values()), 3),
            }
            print(f"{name} {variant}: {seconds:.3f} s/step", flush=True)
        row["profile"] = {p: profile_split(kind, pairs, batch, length, p) for p in ("fp32", "bf16")}
        record["steps"][name] = row
    record["inference"] = inference(args.stsb_dir, 128, args.inference_repeats)
    record["load_average_at_end"] = os.getloadavg()
    print_tables(record)
    write_record(args.output, record)
    print(f"wrote {args.output}")


def print_tables(record: dict) -> None:
    for name, row in record["steps"].items():
        best = max(row["gemm_gflops"]["bf16"].values())
        print(f"\n{name} step (batch {row['batch_size']}, {row['max_length']} tokens): "
              f"{row['step_gflop']} GFLOP; GEMM fp32 {max(row['gemm_gflops']['fp32'].values()):.0f}, "
              f"bf16 {best:.0f} GFLOP/s")  # fmt: skip
        print(f"{'variant':14} {'s/step':>7} {'GFLOP/s':>8} {'of bf16 GEMM':>13}")
        for variant, v in row["variants"].items():
            print(f"{variant:14} {v['s_per_step']:7.3f} {v['useful_gflops']:8.1f} "
                  f"{v['share_of_bf16_gemm']:12.1%}")  # fmt: skip
        labels = list(row["profile"]["bf16"]["share"])
        print(f"{'time split':30} {'fp32':>6} {'bf16':>6}")
        for label in labels:
            shares = [row["profile"][p]["share"].get(label, 0.0) for p in ("fp32", "bf16")]
            print(f"{label:30} {shares[0]:6.1%} {shares[1]:6.1%}")
    print(f"\n{'STS-B test, encode':24} {'s':>7} {'Spearman':>9}")
    for row in record["inference"]:
        print(f"{row['variant']:24} {row['seconds']:7.2f} {row['spearman']:9.3f}")


if __name__ == "__main__":
    main()
