"""Communication and memory benchmark: the cross->bi step of Trans-Encoder under every strategy.

For each strategy (ddp, zero3, mics, gtc, bmuf, gtc-bmuf) it spawns ``--nprocs`` gloo ranks on
this machine and trains the default bi-encoder (packaged all-MiniLM-L6-v2) for ``--steps``
optimizer steps with the product's own code: ``transencoder.training.steps.train_bi_encoder``
with ``runtime=DistributedRuntime(config)``, exactly as a distributed Trans-Encoder
run calls it (the training loop, its batching, schedule and ``finish``). It reports per
strategy:

* bytes each rank sends per step (mean over steps, then over ranks; ring convention of
  :mod:`transencoder.distributed.accounting`) and the ratio to DDP's;
* participants of each collective kind;
* wall time per step (rank 0, first 2 steps excluded: they include lazy initialisation);
* STS-B test Spearman x100 of the trained model (``strategy.full_state_dict`` after the loop's
  ``finish``: for BMUF strategies the groups' models after the end-of-phase average);
* memory per rank (``stats()["memory"]``): bytes of parameters, gradients and optimizer state
  this rank holds (local shards under ZeRO-3 and MiCS), their ratio to DDP's with the expected
  ``1``, ``1/N``, ``1/G`` and the check, and the increase of the process's memory high-water
  mark during a step.

The step (cross->bi, ``train_bi_encoder``; docs/methods.md): ``loss = MSE(cos(u, v),
label)`` with ``label`` in 0..1; global batch 128 (the loop gives each rank
``batch[rank::world]``), batches grouped by length, AdamW lr 5e-5 (no decay on biases and
LayerNorm, weight decay 0.01) with linear decay to 0 over ``--steps`` and no warm-up, no
clipping, max length 32.

Records: one JSON (``--out``) with one *section* per kind of run (``--section``, default
``headline``): the README cites ``headline`` (DDP vs GTC-BMUF, 100 steps, STS-B) and
``memory`` (DDP, ZeRO-3, MiCS, a few steps, no evaluation).

Labels: ``--teacher PATH`` (a CrossEncoder directory) scores every pair of the STS tasks in
``--data`` (``CrossEncoder.predict``), the Trans-Encoder setting (transductive: it includes the
STS-B test pairs). Without a teacher the fallback is the gold similarity / 5 of the STS12-16
pairs that share no sentence with STS-B test (STS-B test was compiled from STS12-16: 1017 of its
1379 pairs occur there verbatim, so they are held out): a supervised stand-in that gives every
strategy the same real learning signal to preserve, with no test sentence seen; it is not a
Trans-Encoder result. The label source is recorded in the JSON.

    nice -n 5 python eval/bench_comm.py --strategies ddp,gtc-bmuf --steps 100 \
        --block-steps 25 --threshold 5e-4 --block-momentum 0            # section "headline"
    python eval/bench_comm.py --strategies ddp,zero3,mics --steps 4 --no-eval --section memory
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # eval/records.py
import records  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bench_comm.json"
STRATEGY_ORDER = ("ddp", "zero3", "mics", "gtc", "bmuf", "gtc-bmuf")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strategies", default=",".join(STRATEGY_ORDER))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--nprocs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128, help="global batch (pairs per step)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="../shared/data/sts/senteval")
    ap.add_argument("--teacher", default=None, help="CrossEncoder directory that labels the pairs")
    ap.add_argument(
        "--group-size", type=int, default=2, help="G for mics, gtc-bmuf (bmuf: --bmuf-group-size)"
    )
    ap.add_argument("--bmuf-group-size", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=None, help="GTC tau (default: the config's)")
    ap.add_argument("--block-steps", type=int, default=50)
    ap.add_argument("--block-momentum", type=float, default=None)
    ap.add_argument("--block-lr", type=float, default=1.0)
    ap.add_argument(
        "--classical", action="store_true", help="classical block momentum (not Nesterov)"
    )
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per rank")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--section", default="headline", help="the part of --out this run writes")
    ap.add_argument("--no-eval", action="store_true", help="skip the STS-B evaluation")
    ap.add_argument(
        "--reprint", action="store_true", help="print (and refresh) the tables of --out; no run"
    )
    ap.add_argument(
        "--append",
        action="store_true",
        help="keep the other strategies' rows of the section (same settings) and add these",
    )
    return ap.parse_args(argv)


# ---------------------------------------------------------------------------- data
def load_pairs(args) -> tuple[list[tuple[str, str]], np.ndarray, str, list]:
    """Training pairs, their labels in 0..1, the label source, and the STS-B test task."""
    from transencoder.eval import find_tasks

    tasks = find_tasks(args.data)
    stsb = [t for t in tasks if t.name == "STSB"]
    if not stsb:
        raise SystemExit(f"{args.data}: no STS-B test set found (needed for the evaluation)")
    if args.teacher:
        from transencoder.models import CrossEncoder

        pairs = list(dict.fromkeys(p for t in tasks for p in t.pairs))
        teacher = CrossEncoder.from_pretrained(args.teacher, device="cpu")
        labels = np.asarray(teacher.predict(pairs, batch_size=64), dtype=np.float32)
        source = f"teacher:{args.teacher} (all STS pairs, transductive)"
    else:
        # STS-B's test set was compiled from the STS12-16 sets: 1017 of its 1379 pairs occur
        # verbatim there. Hold out every pair that shares a sentence with STS-B test.
        held_out = {s for pair in stsb[0].pairs for s in pair}
        pairs, labels = [], []
        for task in tasks:
            if task.name == "STSB":
                continue
            for pair, score in zip(task.pairs, task.scores, strict=True):
                if pair[0] not in held_out and pair[1] not in held_out:
                    pairs.append(pair)
                    labels.append(score / 5.0)
        labels = np.asarray(labels, dtype=np.float32)
        source = (
            "gold/5 of STS12-16 pairs sharing no sentence with STS-B test (fallback without "
            "--teacher; supervised stand-in, STS-B test held out)"
        )
    return pairs, labels, source, stsb


# ---------------------------------------------------------------------------- one rank
def step_config(args, n_pairs: int):
    """The cross->bi StepConfig: ``--steps`` optimizer steps of ``--batch-size`` pairs."""
    from transencoder.training.config import StepConfig

    full_batches = n_pairs // args.batch_size  # the loop drops a last batch smaller than the world
    return StepConfig(
        epochs=math.ceil(args.steps / max(1, full_batches)) + 1,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        weight_decay=0.01,
        warmup_ratio=0.0,
        grad_accum=1,
        max_grad_norm=None,
        max_steps=args.steps,
    )


def rank_main(
    rank: int, world: int, port: int, name: str, args, payload_path: str, out_dir: str
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
    )
    torch.set_num_threads(args.threads)
    import datetime

    import torch.distributed as dist

    from transencoder.distributed import StrategyConfig
    from transencoder.models import BiEncoder
    from transencoder.training.runtime import DistributedRuntime
    from transencoder.training.steps import train_bi_encoder

    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=datetime.timedelta(minutes=10)
    )
    payload = torch.load(payload_path, weights_only=False)
    pairs, labels = payload["pairs"], np.asarray(payload["labels"], dtype=np.float32)
    bi = BiEncoder.from_pretrained(args.model, device="cpu", max_seq_length=args.max_length)
    config = StrategyConfig(
        name=name,
        group_size=args.bmuf_group_size if name == "bmuf" else args.group_size,
        block_steps=args.block_steps,
        block_momentum=args.block_momentum,
        block_lr=args.block_lr,
        nesterov=not args.classical,
        warmup_steps=args.warmup_steps,
        timeout_s=600,
        **({"threshold": args.threshold} if args.threshold is not None else {}),
    )
    runtime = TimedRuntime(DistributedRuntime(config), rank, name, args.steps)
    stats = train_bi_encoder(
        bi,
        pairs,
        labels,
        step_config(args, len(pairs)),
        seed=args.seed,
        runtime=runtime,
        show_progress_bar=False,
    )
    strategy = runtime.strategy  # the phase's, as the runtime prepared it
    state = strategy.full_state_dict(stats.model, rank0_only=True)
    summary = strategy.stats()
    everyone: list = [None] * world
    dist.all_gather_object(
        everyone,
        {"stats": summary, "times": runtime.times, "losses": stats.losses, "steps": stats.steps},
    )
    strategy.close()
    if rank == 0:
        torch.save({"state": state, "ranks": everyone}, Path(out_dir) / "result.pt")
    dist.barrier()
    dist.destroy_process_group()


class TimedRuntime:
    """The runtime the loop gets, plus the wall time between optimizer steps (a step's
    forward, backward, communication and update) and a progress line on rank 0."""

    def __init__(self, inner, rank: int, name: str, steps: int) -> None:
        self._inner, self._rank, self._name, self._steps = inner, rank, name, steps
        self.times: list[float] = []
        self._last: float | None = None

    def __getattr__(self, attribute):
        return getattr(self._inner, attribute)

    def accumulate(self, model, is_last_microbatch: bool):
        if self._last is None:
            self._last = time.perf_counter()
        return self._inner.accumulate(model, is_last_microbatch)

    def step(self, optimizer) -> None:
        self._inner.step(optimizer)
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now
        done = len(self.times)
        if self._rank == 0 and (done % 20 == 1 or done == self._steps):
            print(f"[{self._name}] step {done}/{self._steps} {self.times[-1]:.2f}s", flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_strategy(name: str, args, payload_path: str) -> dict:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as out_dir:
        mp.start_processes(
            rank_main,
            args=(args.nprocs, _free_port(), name, args, payload_path, out_dir),
            nprocs=args.nprocs,
            start_method="spawn",
        )
        return torch.load(Path(out_dir) / "result.pt", weights_only=False)


def evaluate_stsb(args, state: dict, stsb_tasks) -> float:
    from transencoder.eval import StsEvaluator
    from transencoder.models import BiEncoder

    model = BiEncoder.from_pretrained(args.model, device="cpu", max_seq_length=args.max_length)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "pooler" not in k]:
        raise RuntimeError(
            f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return (
        StsEvaluator(stsb_tasks, show_progress_bar=False)(model).tasks["STSB"].spearman
    )  # x100 already


def summarise(name: str, result: dict, stsb: float | None, world: int) -> dict:
    ranks = [r["stats"] for r in result["ranks"]]
    per_rank = [s["bytes_per_step_mean"] for s in ranks]
    collectives: dict = {}
    for s in ranks:
        for kind, entry in s["collectives"].items():
            c = collectives.setdefault(kind, {"participants": set(), "bytes_per_step_per_rank": []})
            c["participants"].update(entry["participants"])
            c["bytes_per_step_per_rank"].append(entry["bytes_per_step"])
    times = result["ranks"][0]["times"]
    timed = times[2:] if len(times) > 4 else times
    memory_keys = ("parameters", "gradients", "optimizer", "model_state", "total_held")
    memory = {key: [int(s["memory"][key]) for s in ranks] for key in memory_keys} | {
        "peak_step_increase": [s["memory"]["peak_step_increase"] for s in ranks],
        "peak_source": ranks[0]["memory"]["peak_source"],
        "algorithm_state": ranks[0]["memory"]["algorithm_state"],
    }
    shards = {"ddp": 1, "zero3": world, "mics": ranks[0]["group_size"]}.get(name)
    summary = {
        "strategy": name,
        "steps": result["ranks"][0]["steps"],
        "bytes_per_rank_per_step": float(np.mean(per_rank)),
        "bytes_per_rank_per_step_max_rank": float(np.max(per_rank)),
        "bytes_per_rank_total": float(np.mean([s["bytes_total"] for s in ranks])),
        "collectives": {
            kind: {
                "participants": sorted(c["participants"]),
                "bytes_per_step_per_rank": float(np.mean(c["bytes_per_step_per_rank"])),
            }
            for kind, c in sorted(collectives.items())
        },
        "seconds_per_step_mean": float(np.mean(timed)),
        "seconds_per_step_median": float(np.median(timed)),
        "loss_windows": result["ranks"][0]["losses"],
        "stsb_spearman": stsb,
        "counters": ranks[0]["counters"],
        "group_size": ranks[0]["group_size"],
        "num_groups": ranks[0]["num_groups"],
        "memory": memory,
        "model_state_expected_fraction": (1.0 / shards) if shards else None,
        "config": ranks[0]["config"],
    }
    if "gtc_sent_fraction" in ranks[0]:
        summary["gtc_sent_fraction"] = float(np.mean([s["gtc_sent_fraction"] for s in ranks]))
    return summary


def _columns(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = [head, *rows]
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return text


def table(rows: list[dict], baseline: float | None) -> str:
    """Bytes, participants, time and STS-B per strategy."""
    ddp = next((r for r in rows if r["strategy"] == "ddp"), None)
    out = []
    for r in rows:
        parts = ", ".join(
            f"{k}:{'/'.join(map(str, v['participants']))}" for k, v in r["collectives"].items()
        )
        ratio = "-"
        if ddp and r["bytes_per_rank_per_step"]:
            times = r["bytes_per_rank_per_step"] / ddp["bytes_per_rank_per_step"]
            ratio = f"1/{1 / times:.1f}" if times < 1 else f"{times:.2f}x"
        stsb = r["stsb_spearman"]
        delta = (
            f"{stsb - ddp['stsb_spearman']:+.2f}"
            if ddp and stsb is not None and ddp["stsb_spearman"] is not None
            else "-"
        )
        out.append(
            (
                r["strategy"],
                str(r["group_size"]),
                f"{r['bytes_per_rank_per_step'] / 1e6:.3f}",
                ratio,
                parts,
                f"{r['seconds_per_step_median']:.2f}",
                "-" if stsb is None else f"{stsb:.2f}",
                delta,
            )
        )
    head = ("strategy", "G", "MB/rank/step", "vs DDP", "participants", "s/step", "STS-B", "d STS-B")
    text = _columns(head, out)
    if baseline is not None:
        text.append(f"(STS-B of the untrained model: {baseline:.2f})")
    return "\n".join(text)


def memory_check(rows: list[dict], tolerance: float = 0.02) -> dict[str, bool]:
    """Per strategy: does every rank hold ``expected`` x DDP's model-state bytes (within
    ``tolerance`` relative: the rounding of uneven dim-0 shards)?"""
    ddp = next((r for r in rows if r["strategy"] == "ddp"), None)
    checks = {}
    for r in rows:
        expected = r["model_state_expected_fraction"]
        if ddp is None or expected is None:
            continue
        full = float(np.mean(ddp["memory"]["model_state"]))
        checks[r["strategy"]] = all(
            abs(v / full - expected) <= tolerance * expected for v in r["memory"]["model_state"]
        )
    return checks


def memory_table(rows: list[dict]) -> str:
    """Bytes each rank holds (MB; the largest rank), the ratio to DDP and the expected one."""
    ddp = next((r for r in rows if r["strategy"] == "ddp"), None)
    checks = memory_check(rows)
    out = []
    for r in rows:
        m = r["memory"]
        state = max(m["model_state"])
        expected = r["model_state_expected_fraction"]
        full = float(np.mean(ddp["memory"]["model_state"])) if ddp else None
        peaks = [v for v in m["peak_step_increase"] if v is not None]
        algorithm = sum(m["algorithm_state"].values())
        out.append(
            (
                r["strategy"],
                str(r["group_size"]),
                f"{max(m['parameters']) / 1e6:.1f}",
                f"{max(m['gradients']) / 1e6:.1f}",
                f"{max(m['optimizer']) / 1e6:.1f}",
                f"{state / 1e6:.1f}",
                f"{state / full:.3f}" if full else "-",
                f"{expected:.3f}" if expected else "-",
                {True: "ok", False: "FAIL"}.get(checks.get(r["strategy"]), "-"),
                f"{algorithm / 1e6:.1f}",
                f"{max(peaks) / 1e6:.0f}" if peaks else "-",
            )
        )
    head = (
        "strategy", "G", "params MB", "grads MB", "optim MB", "model state MB", "vs DDP",
        "expected", "check", "algorithm state MB", "step peak +MB",
    )  # fmt: skip
    return "\n".join(_columns(head, out))


def reprint(path: Path) -> None:
    """Print every section's tables from the record (and store them refreshed)."""
    record = json.loads(path.read_text(encoding="utf-8"))
    for name, section in record["sections"].items():
        section["table"] = table(section["results"], section["stsb_before"])
        section["memory_table"] = memory_table(section["results"])
        print(f"== {name}: {'; '.join(section['commands'])}\n{section['table']}\n")
        print(section["memory_table"] + "\n")
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.reprint:
        reprint(args.out)
        return
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    unknown = [n for n in names if n not in STRATEGY_ORDER]
    if unknown:
        raise SystemExit(f"unknown strategies {unknown}; choose from {STRATEGY_ORDER}")
    if args.batch_size % args.nprocs:
        raise SystemExit(
            f"--batch-size {args.batch_size} is not divisible by --nprocs {args.nprocs}"
        )
    torch.set_num_threads(max(1, args.threads))
    pairs, labels, source, stsb_tasks = load_pairs(args)
    print(f"{len(pairs)} training pairs; labels: {source}", flush=True)
    from transencoder.eval import StsEvaluator
    from transencoder.models import BiEncoder

    baseline = None
    if not args.no_eval:
        untrained = BiEncoder.from_pretrained(
            args.model, device="cpu", max_seq_length=args.max_length
        )
        baseline = StsEvaluator(stsb_tasks, show_progress_bar=False)(untrained).tasks["STSB"]
        baseline = baseline.spearman
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-comm-") as tmp:
        payload = Path(tmp) / "pairs.pt"
        torch.save({"pairs": pairs, "labels": labels}, payload)
        for name in names:
            started = time.time()
            result = run_strategy(name, args, str(payload))
            wall = time.time() - started
            stsb = None if args.no_eval else evaluate_stsb(args, result["state"], stsb_tasks)
            rows.append(summarise(name, result, stsb, args.nprocs))
            rows[-1]["wall_seconds"] = wall
            print(
                f"[{name}] {rows[-1]['steps']} steps in {wall:.0f}s: STS-B {stsb}, "
                f"{rows[-1]['bytes_per_rank_per_step'] / 1e6:.3f} MB/rank/step",
                flush=True,
            )
            # an interrupted run keeps what it measured
            rows = write_record(args, rows, source, len(pairs), baseline)
    print(table(rows, baseline))
    print()
    print(memory_table(rows))
    print(f"wrote section {args.section!r} of {args.out}")


def comparable_settings(args_record: dict) -> dict:
    ignore = ("strategies", "out", "append", "section")
    return {k: v for k, v in args_record.items() if k not in ignore}


def write_record(
    args, rows: list[dict], source: str, n_pairs: int, baseline: float | None
) -> list[dict]:
    """Write ``rows`` into section ``--section`` of ``--out``; returns the section's rows."""
    from transencoder.distributed import CONVENTION
    from transencoder.distributed.memory import CONVENTION as MEMORY_CONVENTION

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    command = " ".join(["python", *sys.argv])
    record = records.read_record(args.out)
    if "sections" not in record:  # a record of the old single-run format is replaced
        record = {"sections": {}}
    previous = record["sections"].get(args.section)
    commands = [command]
    if args.append and previous is not None:
        if comparable_settings(previous["args"]) != comparable_settings(settings):
            raise SystemExit(f"--append: section {args.section!r} has other settings")
        mine = {r["strategy"] for r in rows}
        rows = [r for r in previous["results"] if r["strategy"] not in mine] + rows
        rows.sort(key=lambda r: STRATEGY_ORDER.index(r["strategy"]))
        commands = [c for c in previous["commands"] if c != command] + commands
    ddp = next((r for r in rows if r["strategy"] == "ddp"), None)
    for r in rows:
        if ddp and r["bytes_per_rank_per_step"]:
            r["bytes_ratio_vs_ddp"] = r["bytes_per_rank_per_step"] / ddp["bytes_per_rank_per_step"]
    record["sections"][args.section] = {
        "commands": commands,
        "args": settings,
        "path": "transencoder.training.steps.train_bi_encoder(..., runtime=DistributedRuntime(config))",
        "label_source": source,
        "training_pairs": n_pairs,
        "stsb_before": baseline,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
        },
        "results": rows,
        "memory_check": memory_check(rows),
        "table": table(rows, baseline),
        "memory_table": memory_table(rows),
    }
    record["convention"] = CONVENTION
    record["memory_convention"] = MEMORY_CONVENTION
    records.write_record(args.out, {k: v for k, v in record.items() if k != "meta"})
    return rows


if __name__ == "__main__":
    main()
