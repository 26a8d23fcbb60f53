"""Communication benchmark: the cross->bi step of Trans-Encoder under every strategy.

For each strategy (ddp, mics, gtc, bmuf, gtc-bmuf) it spawns ``--nprocs`` gloo ranks on this
machine, trains the default bi-encoder (packaged all-MiniLM-L6-v2) for ``--steps`` optimizer
steps of the cross->bi objective, and reports per strategy:

* bytes each rank sends per step (mean over steps, then over ranks; ring convention of
  :mod:`transencoder.distributed.accounting`) and the ratio to DDP's;
* participants of each collective kind;
* wall time per step (rank 0, first 2 steps excluded: they include lazy initialisation);
* STS-B test Spearman x100 of the trained model (for BMUF strategies: the mean of the groups'
  models, i.e. ``strategy.full_state_dict``).

The step (DESIGN.md section 3, cross->bi): ``loss = MSE(cos(u, v), label)`` with ``label`` in
0..1; global batch 128 (``128 / nprocs`` per rank), AdamW lr 5e-5 with linear decay to 0 and no
warm-up, max length 32. Both sentences of a pair go through the encoder in one forward pass.

Labels: ``--teacher PATH`` (a CrossEncoder directory) scores every pair of the STS tasks in
``--data`` (``CrossEncoder.predict``), the Trans-Encoder setting (transductive: it includes the
STS-B test pairs). Without a teacher the fallback is the gold similarity / 5 of the STS12-16
pairs that share no sentence with STS-B test (STS-B test was compiled from STS12-16: 1017 of its
1379 pairs occur there verbatim, so they are held out): a supervised stand-in that gives every
strategy the same real learning signal to preserve, with no test sentence seen; it is not a
Trans-Encoder result. The label source is recorded in the JSON.

    nice -n 5 python eval/bench_comm.py --steps 200            # ~all strategies, JSON + table
    python eval/bench_comm.py --strategies ddp,gtc-bmuf --steps 20 --out /tmp/b.json
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

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bench_comm.json"
STRATEGY_ORDER = ("ddp", "mics", "gtc", "bmuf", "gtc-bmuf")


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
    ap.add_argument(
        "--append",
        action="store_true",
        help="keep the other strategies' rows of --out (run with the same settings) and add these",
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
    import torch.nn.functional as F

    from transencoder.distributed import StrategyConfig, build_strategy, shard_indices
    from transencoder.models import BiEncoder
    from transencoder.models.batching import pad_batch

    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=datetime.timedelta(minutes=10)
    )
    payload = torch.load(payload_path, weights_only=False)
    pairs, labels = payload["pairs"], torch.as_tensor(payload["labels"])

    torch.manual_seed(args.seed)
    model = BiEncoder.from_pretrained(args.model, device="cpu", max_seq_length=args.max_length)
    if getattr(model.encoder, "pooler", None) is not None:
        model.encoder.pooler.requires_grad_(False)  # mean pooling never uses it
    sentences = sorted({s for pair in pairs for s in pair})
    index = {s: i for i, s in enumerate(sentences)}
    token_ids = model.tokenize(sentences)
    pad_id = model.tokenizer.pad_token_id or 0

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
    strategy = build_strategy(config)
    model, optimizer = strategy.prepare(
        model, lambda ps: torch.optim.AdamW(ps, lr=args.lr, weight_decay=0.01)
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: max(0.0, 1.0 - s / args.steps)
    )

    gen = torch.Generator().manual_seed(args.seed)
    order = torch.cat(
        [
            torch.randperm(len(pairs), generator=gen)
            for _ in range(math.ceil(args.steps * args.batch_size / len(pairs)) + 1)
        ]
    )
    mine = shard_indices(args.batch_size, rank, world)
    times, losses = [], []
    for step in range(args.steps):
        chosen = order[step * args.batch_size : (step + 1) * args.batch_size][
            mine.start : mine.stop
        ].tolist()
        left = [token_ids[index[pairs[i][0]]] for i in chosen]
        right = [token_ids[index[pairs[i][1]]] for i in chosen]
        batch = pad_batch(left + right, pad_id)
        target = labels[chosen]
        start = time.perf_counter()
        with strategy.accumulate(model, True):
            embeddings = model(**batch)
            u, v = embeddings[: len(chosen)], embeddings[len(chosen) :]
            loss = F.mse_loss(F.cosine_similarity(u, v), target)
            loss.backward()
        strategy.step(optimizer)
        scheduler.step()
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
        if rank == 0 and (step % 20 == 0 or step == args.steps - 1):
            print(
                f"[{name}] step {step + 1}/{args.steps} loss {loss.item():.4f} "
                f"{times[-1]:.2f}s/step",
                flush=True,
            )

    state = strategy.full_state_dict(model, rank0_only=True)
    stats = strategy.stats()
    everyone: list = [None] * world
    dist.all_gather_object(everyone, {"stats": stats, "times": times, "losses": losses})
    strategy.close()
    if rank == 0:
        torch.save({"state": state, "ranks": everyone}, Path(out_dir) / "result.pt")
    dist.barrier()
    dist.destroy_process_group()


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


def summarise(name: str, result: dict, stsb: float) -> dict:
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
    summary = {
        "strategy": name,
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
        "final_loss_mean_last10": float(np.mean(result["ranks"][0]["losses"][-10:])),
        "stsb_spearman": stsb,
        "counters": ranks[0]["counters"],
        "group_size": ranks[0]["group_size"],
        "num_groups": ranks[0]["num_groups"],
        "config": ranks[0]["config"],
    }
    if "gtc_sent_fraction" in ranks[0]:
        summary["gtc_sent_fraction"] = float(np.mean([s["gtc_sent_fraction"] for s in ranks]))
    return summary


def table(rows: list[dict], baseline: float | None, ddp_bytes: float | None) -> str:
    head = ("strategy", "G", "MB/rank/step", "vs DDP", "participants", "s/step", "STS-B", "d STS-B")
    lines = [head]
    ddp_stsb = next((r["stsb_spearman"] for r in rows if r["strategy"] == "ddp"), None)
    for r in rows:
        parts = ", ".join(
            f"{k.split('(')[0] if '(' not in k else k}:{'/'.join(map(str, v['participants']))}"
            for k, v in r["collectives"].items()
        )
        ratio = (
            f"1/{ddp_bytes / r['bytes_per_rank_per_step']:.1f}"
            if ddp_bytes and r["bytes_per_rank_per_step"]
            else "-"
        )
        delta = f"{r['stsb_spearman'] - ddp_stsb:+.2f}" if ddp_stsb is not None else "-"
        lines.append(
            (
                r["strategy"],
                str(r["group_size"]),
                f"{r['bytes_per_rank_per_step'] / 1e6:.3f}",
                ratio,
                parts,
                f"{r['seconds_per_step_median']:.2f}",
                f"{r['stsb_spearman']:.2f}",
                delta,
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    if baseline is not None:
        text.append(f"(STS-B of the untrained model: {baseline:.2f})")
    return "\n".join(text)


def main(argv=None) -> None:
    args = parse_args(argv)
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

    baseline = (
        StsEvaluator(stsb_tasks, show_progress_bar=False)(
            BiEncoder.from_pretrained(args.model, device="cpu", max_seq_length=args.max_length)
        )
        .tasks["STSB"]
        .spearman
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-comm-") as tmp:
        payload = Path(tmp) / "pairs.pt"
        torch.save({"pairs": pairs, "labels": labels}, payload)
        for name in names:
            started = time.time()
            result = run_strategy(name, args, str(payload))
            stsb = evaluate_stsb(args, result["state"], stsb_tasks)
            rows.append(summarise(name, result, stsb))
            print(
                f"[{name}] done in {time.time() - started:.0f}s: STS-B {stsb:.2f}, "
                f"{rows[-1]['bytes_per_rank_per_step'] / 1e6:.3f} MB/rank/step",
                flush=True,
            )
            write_record(
                args, rows, source, len(pairs), baseline
            )  # an interrupted run keeps what it measured
    ddp_bytes = next((r["bytes_per_rank_per_step"] for r in rows if r["strategy"] == "ddp"), None)
    print(table(rows, baseline, ddp_bytes))
    print(f"wrote {args.out}")


def comparable_settings(args_record: dict) -> dict:
    return {k: v for k, v in args_record.items() if k not in ("strategies", "out", "append")}


def write_record(args, rows: list[dict], source: str, n_pairs: int, baseline: float) -> None:
    from transencoder.distributed import CONVENTION

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    commands = [" ".join([sys.executable, *sys.argv])]
    if args.append and args.out.is_file():
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        if comparable_settings(previous["args"]) != comparable_settings(settings):
            raise SystemExit(f"--append: {args.out} was measured with other settings")
        mine = {r["strategy"] for r in rows}
        rows = [r for r in previous["results"] if r["strategy"] not in mine] + rows
        rows.sort(key=lambda r: STRATEGY_ORDER.index(r["strategy"]))
        earlier = previous["commands"] if "commands" in previous else [previous["command"]]
        commands = [c for c in earlier if c != commands[0]] + commands
    ddp_bytes = next((r["bytes_per_rank_per_step"] for r in rows if r["strategy"] == "ddp"), None)
    record = {
        "commands": commands,
        "args": settings,
        "label_source": source,
        "training_pairs": n_pairs,
        "stsb_before": baseline,
        "convention": CONVENTION,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
        },
        "results": rows,
    }
    if ddp_bytes:
        for r in rows:
            r["bytes_ratio_vs_ddp"] = r["bytes_per_rank_per_step"] / ddp_bytes
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
