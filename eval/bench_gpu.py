"""The GPU checks, ready to run on a CUDA machine: bf16 speed against sentence-transformers, the
recommended recipe end to end, and every distributed strategy the GPUs present allow (NCCL).

    python eval/bench_gpu.py --out gpu-results          # or: bash scripts/gpu_check.sh ...
    python eval/bench_gpu.py --out gpu-results --parts strategies --steps 20

Parts (``--parts``, default all), each writing ``<out>/<part>.json`` and a line in
``<out>/gpu_check.json``:

* ``inference``: pair scoring of every STS pair (``--data-dir``) under bf16 autocast, ours
  (``BiEncoder.pair_similarity``) against ``SentenceTransformer.encode`` of both sides + cosine, same
  model and batch size; median of ``--repeats`` timed runs after a warm-up; and how far the two
  sides' scores differ;
* ``training``: the cross->bi step in bf16, ours (``train_bi_encoder``, ``precision="bf16"``)
  against ``SentenceTransformerTrainer`` with ``CosineSimilarityLoss`` and ``bf16=True``: same
  model, pairs, labels, batch size, max length and steps, each run in its own process (its peak
  ``torch.cuda.max_memory_allocated`` is its own);
* ``recipe``: ``python -m transencoder train --model default --data-dir DATA --output-dir
  <out>/recipe``, its wall time and its report's evaluation;
* ``strategies``: ``accelerate launch --config_file distributed/<s>.yaml --num_processes <GPUs>``
  of this file's strategy worker for ddp, zero3, mics, gtc, bmuf and gtc-bmuf (groups of half
  the GPUs where a strategy has groups; with one GPU every strategy runs on its one-rank group,
  which still exercises the CUDA paths: device binding, FSDP2 on CUDA, the GTC exchange thread's
  stream): the cross->bi step through ``train_bi_encoder`` and ``PhaseStrategy``, bytes per rank
  per step, seconds per step, memory per rank (allocator peak) and STS-B after training.

Without CUDA it says so and exits 0 (nothing is run or written). The existing
``eval/bench_inference.py`` and ``eval/bench_train_speed.py`` run on a GPU as they are but take
no precision flag: their sentence-transformers side stays fp32 while ours uses bf16 autocast in
training, hence the bf16 A/B here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("inference", "training", "recipe", "strategies")
STRATEGIES = ("ddp", "zero3", "mics", "gtc", "bmuf", "gtc-bmuf")


def plan_strategies(gpus: int) -> list[tuple[str, int | None]]:
    """``(strategy, group_size)`` for ``gpus`` processes: groups of half the GPUs (so that MiCS
    has replicas and GTC-BMUF several groups) where the strategy has groups; one rank each for
    BMUF's learners; ``None`` where the strategy uses the whole world."""
    half = gpus // 2 if gpus >= 2 and gpus % 2 == 0 else gpus
    groups = {"mics": half, "gtc-bmuf": half, "bmuf": 1}
    return [(name, groups.get(name)) for name in STRATEGIES]


def _environment() -> dict:
    props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    return {
        "gpus": [f"{p.name} ({p.total_memory / 2**30:.0f} GiB)" for p in props],
        "bf16": torch.cuda.is_bf16_supported(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
    }


def _write(out: Path, name: str, record: dict) -> None:
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------- inference
def part_inference(args) -> dict:
    from sentence_transformers import SentenceTransformer

    from transencoder import BiEncoder
    from transencoder.eval import find_tasks
    from transencoder.models.loading import resolve_model_path

    pairs = [pair for task in find_tasks(args.data_dir) for pair in task.pairs]
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    ours = BiEncoder.from_pretrained(args.model, device="cuda")
    theirs = SentenceTransformer(resolve_model_path(args.model), device="cuda")

    def run_ours():
        return np.asarray(ours.pair_similarity(pairs, batch_size=args.batch_size))

    def run_theirs():
        u = theirs.encode(firsts, batch_size=args.batch_size, convert_to_tensor=True)
        v = theirs.encode(seconds, batch_size=args.batch_size, convert_to_tensor=True)
        return torch.nn.functional.cosine_similarity(u, v).float().cpu().numpy()

    times: dict[str, list[float]] = {"ours": [], "sentence-transformers": []}
    scores = {}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        run_ours(), run_theirs()  # warm-up: kernels, allocator
        for _ in range(args.repeats):  # alternate the sides
            for side, fn in (("ours", run_ours), ("sentence-transformers", run_theirs)):
                torch.cuda.synchronize()
                started = time.perf_counter()
                scores[side] = fn()
                torch.cuda.synchronize()
                times[side].append(time.perf_counter() - started)
    median = {side: statistics.median(t) for side, t in times.items()}
    return {
        "pairs": len(pairs),
        "precision": "bf16 autocast (both sides)",
        "seconds_median": median,
        "pairs_per_second": {side: len(pairs) / t for side, t in median.items()},
        "speedup_ours": median["sentence-transformers"] / median["ours"],
        "max_abs_score_difference": float(
            np.abs(scores["ours"] - scores["sentence-transformers"]).max()
        ),
    }


# ---------------------------------------------------------------------------- training
def _training_data(args, n: int) -> tuple[list[tuple[str, str]], np.ndarray]:
    from transencoder.eval import find_tasks

    pairs, labels = [], []
    for task in find_tasks(args.data_dir):
        for pair, score in zip(task.pairs, task.scores, strict=True):
            pairs.append(pair)
            labels.append(score / 5.0)
    return pairs[:n], np.asarray(labels[:n], dtype=np.float32)


def train_worker(args) -> dict:
    """One timed cross->bi run in bf16 (this process alone): ours or sentence-transformers'."""
    pairs, labels = _training_data(args, args.train_pairs)
    steps, batch, length = args.steps, args.batch_size, args.max_length
    torch.cuda.reset_peak_memory_stats()
    if args.worker == "train-ours":
        from transencoder import BiEncoder
        from transencoder.training.config import StepConfig
        from transencoder.training.steps import train_bi_encoder

        model = BiEncoder.from_pretrained(args.model, device="cuda", max_seq_length=length)
        config = StepConfig(
            epochs=steps, batch_size=batch, lr=2e-5, max_length=length, max_steps=steps
        )
        torch.cuda.synchronize()
        started = time.perf_counter()
        stats = train_bi_encoder(
            model, pairs, labels, config, seed=0, precision="bf16", show_progress_bar=False
        )
        torch.cuda.synchronize()
        seconds, examples = time.perf_counter() - started, stats.examples
    else:
        import tempfile

        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.losses import CosineSimilarityLoss

        from transencoder.models.loading import resolve_model_path

        model = SentenceTransformer(resolve_model_path(args.model), device="cuda")
        model.max_seq_length = length
        data = Dataset.from_dict(
            {
                "sentence1": [a for a, _ in pairs],
                "sentence2": [b for _, b in pairs],
                "label": labels.tolist(),
            }
        )
        with tempfile.TemporaryDirectory() as folder:
            trainer = SentenceTransformerTrainer(
                model=model,
                args=SentenceTransformerTrainingArguments(
                    output_dir=folder, per_device_train_batch_size=batch, max_steps=steps,
                    learning_rate=2e-5, weight_decay=0.01, bf16=True, save_strategy="no", report_to=[],
                    seed=0,
                    disable_tqdm=True, logging_steps=10_000,
                ),
                train_dataset=data,
                loss=CosineSimilarityLoss(model),
            )  # fmt: skip
            torch.cuda.synchronize()
            started = time.perf_counter()
            trainer.train()
            torch.cuda.synchronize()
            seconds, examples = time.perf_counter() - started, steps * batch
    return {
        "seconds": seconds,
        "examples_per_second": examples / seconds,
        "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20,
    }


def part_training(args) -> dict:
    runs: dict[str, list[dict]] = {"ours": [], "sentence-transformers": []}
    for _ in range(args.repeats):
        for side, worker in (("ours", "train-ours"), ("sentence-transformers", "train-theirs")):
            out = args.out / f".{worker}.json"
            command = [sys.executable, __file__, "--worker", worker, "--result", str(out)]
            command += _shared_flags(args)
            subprocess.run(command, check=True, cwd=ROOT, env=_env())
            runs[side].append(json.loads(out.read_text()))
            out.unlink()
    rate = {s: statistics.median(r["examples_per_second"] for r in v) for s, v in runs.items()}
    return {
        "step": "cross->bi (MSE of cosine), bf16",
        "settings": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "pairs": args.train_pairs,
        },  # fmt: skip
        "runs": runs,
        "examples_per_second_median": rate,
        "speedup_ours": rate["ours"] / rate["sentence-transformers"],
    }


# ---------------------------------------------------------------------------- recipe
def part_recipe(args) -> dict:
    folder = args.out / "recipe"
    command = [sys.executable, "-m", "transencoder", "train", "--model", "default"]
    command += ["--data-dir", str(args.data_dir), "--output-dir", str(folder), "--no-progress"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    (args.out / "recipe.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    report = folder / "report.json"
    evaluation = json.loads(report.read_text())["evaluation"] if report.is_file() else None
    if done.returncode != 0:
        raise RuntimeError(f"the recipe run failed (exit {done.returncode}), see recipe.log")
    return {"command": " ".join(command), "wall_seconds": wall, "evaluation": evaluation}


# ---------------------------------------------------------------------------- strategies
def strategy_worker(args) -> None:
    """One strategy under ``accelerate launch`` (NCCL): the cross->bi step of the product."""
    from accelerate import Accelerator

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_comm import TimedPhaseStrategy, evaluate_stsb, load_pairs, step_config
    from transencoder.training.parallel import PhaseStrategy

    from transencoder.distributed import StrategyConfig, build_strategy
    from transencoder.models import BiEncoder
    from transencoder.training.steps import train_bi_encoder

    accelerator = Accelerator()
    comm_args = argparse.Namespace(
        data=str(args.data_dir), teacher=None, batch_size=args.batch_size, steps=args.steps,
        lr=5e-5, max_length=args.max_length, model=args.model,
    )  # fmt: skip
    pairs, labels, source, stsb = load_pairs(comm_args)
    config = StrategyConfig(
        name=args.strategy, group_size=args.group_size, threshold=5e-4, block_steps=25,
        block_momentum=0.0, timeout_s=300,
    )  # fmt: skip
    strategy = build_strategy(config, accelerator)
    bi = BiEncoder.from_pretrained(args.model, device=str(strategy.device))
    phase = TimedPhaseStrategy(PhaseStrategy(strategy), strategy.rank, args.strategy, args.steps)
    stats = train_bi_encoder(
        bi, pairs, labels, step_config(comm_args, len(pairs)), seed=0, strategy=phase,
        precision="bf16", show_progress_bar=False,
    )  # fmt: skip
    state = strategy.full_state_dict(stats.model, rank0_only=True)
    summary = strategy.stats()
    from transencoder.distributed import all_gather_object

    everyone = all_gather_object({"stats": summary, "times": phase.times})
    strategy.close()
    if strategy.rank == 0:
        times = everyone[0]["times"][2:] or everyone[0]["times"]
        record = {
            "strategy": args.strategy,
            "world_size": strategy.world_size,
            "group_size": summary["group_size"],
            "label_source": source,
            "steps": stats.steps,
            "seconds_per_step_median": statistics.median(times),
            "bytes_per_rank_per_step": [e["stats"]["bytes_per_step_mean"] for e in everyone],
            "memory": [e["stats"]["memory"] for e in everyone],
            "collectives": summary["collectives"],
            "stsb_spearman": evaluate_stsb(comm_args, state, stsb),
        }
        Path(args.result).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def part_strategies(args) -> dict:
    gpus = torch.cuda.device_count()
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    launcher = [accelerate] if accelerate else [sys.executable, "-m", "accelerate.commands.launch"]
    results = {}
    for name, group in plan_strategies(gpus):
        out = args.out / f"strategy-{name}.json"
        command = [*launcher, "launch", "--config_file", str(ROOT / "distributed" / f"{name}.yaml")]
        command += ["--num_processes", str(gpus), "--main_process_port", "0", __file__]
        command += ["--worker", "strategy", "--strategy", name, "--result", str(out)]
        command += _shared_flags(args) + (["--group-size", str(group)] if group else [])
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True)
        (args.out / f"strategy-{name}.log").write_text(done.stdout + done.stderr)
        results[name] = {
            "ok": done.returncode == 0 and out.is_file(),
            "wall_seconds": time.perf_counter() - started,
            **(json.loads(out.read_text()) if out.is_file() else {"log": f"strategy-{name}.log"}),
        }
    return {"gpus": gpus, "results": results}


# ---------------------------------------------------------------------------- main
def _env() -> dict:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}


def _shared_flags(args) -> list[str]:
    return [
        "--data-dir", str(args.data_dir), "--model", args.model, "--steps", str(args.steps),
        "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
        "--train-pairs", str(args.train_pairs), "--out", str(args.out),
    ]  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "gpu")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/sts/senteval")
    ap.add_argument("--model", default="default")
    ap.add_argument("--steps", type=int, default=100, help="training steps (training, strategies)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--train-pairs", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", choices=("train-ours", "train-theirs", "strategy"))
    ap.add_argument("--strategy", choices=STRATEGIES)
    ap.add_argument("--group-size", type=int)
    ap.add_argument("--result")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device on this machine: the GPU checks need one; nothing was run.")
        return 0
    if args.worker == "strategy":
        strategy_worker(args)
        return 0
    if args.worker:
        result = train_worker(args)
        Path(args.result).write_text(json.dumps(result) + "\n", encoding="utf-8")
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts: unknown {unknown}; choose from {PARTS}")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"environment": _environment(), "command": " ".join(sys.argv), "parts": {}}
    failed = False
    for part in parts:
        started = time.perf_counter()
        try:
            record = globals()[f"part_{part}"](args)
            _write(args.out, part, record)
            status = "ok"
        except Exception as error:  # noqa: BLE001 - one part failing must not stop the others
            status, failed = f"failed: {type(error).__name__}: {error}", True
        summary["parts"][part] = {"status": status, "seconds": time.perf_counter() - started}
        print(f"[{part}] {status} ({summary['parts'][part]['seconds']:.0f}s)", flush=True)
        _write(args.out, "gpu_check", summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
