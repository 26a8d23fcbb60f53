"""Modelled weak scaling of DDP, ZeRO-3, MiCS, GTC, BMUF and GTC-BMUF on a two-level network.

Two scenarios, one model of compute, memory and collectives.

1. *Sharded* (the MiCS seed's setting): BERT-class transformers of 1.5B to 20B parameters
   pre-trained (sequence 512, MLM head) on p3dn.24xlarge-like nodes: 8 V100-32GB per node,
   NVLink inside, 100 Gbit/s per node across. DDP (where it fits), ZeRO-3, MiCS with its
   hierarchical all-gather and MiCS with a flat one, 8 to 512 GPUs. Prints per-GPU TFLOP/s,
   memory per rank and the weak-scaling efficiency from 128 to 512 GPUs.
2. *Compressed* (the GTC-BMUF seed's shape): the model of ``eval/bench_comm.py`` (its measured
   bytes: model size, GTC message lengths, K) on the same network, 8 to 512 workers: DDP, GTC,
   BMUF, GTC-BMUF. Prints speedup over one worker.

Assumptions (every one is a flag; none was tuned to reproduce a seed figure):

* Compute. FLOPs of one micro-step from the transformer's shape (Narayanan et al., SC 2021):
  model FLOPs ``72 b s L h^2 (1 + s/(6h) + V/(12 L h))`` (forward + backward; the ``V`` term
  only with an LM head); with activation recomputation the GPU executes ``96 b s L h^2 (1 +
  s/(6h) + V/(16 L h))``. Time = executed FLOPs / (peak x efficiency). V100 peak 125 TFLOP/s
  (fp16 tensor cores); efficiency 0.30, the single-V100 baseline of Megatron-LM (Shoeybi et al.
  2019: 39 TFLOP/s, 30% of peak). The optimizer step's time is ignored.
* Memory per rank. Mixed-precision Adam: 16 bytes per parameter (fp16 parameter and gradient,
  fp32 master copy, two moments; ZeRO's accounting) divided by the sharding degree (DDP 1,
  ZeRO-3 ``N``, MiCS ``G``); activations with layer-wise checkpointing (``2 b s h`` per layer
  kept, one layer's ``34 b s h + 5 a b s^2`` live, Korthikanti et al. 2022); for sharded
  strategies two gathered layers in fp16 (current + prefetch). MiCS's ``G`` is the smallest of
  1, 2, 4, 8, 16, ... whose per-rank memory fits the GPU.
* Network. Inside a node ``B_intra`` per GPU (V100 NVLink2: 6 links x 25 GB/s per direction) and
  ``a_intra`` per ring hop; each node one NIC of ``B_inter`` (100 Gbit/s) shared by every ring
  that crosses it at the same time, ``a_inter`` per hop. Nominal rates (no protocol
  efficiency): a best case for every strategy.
* Collectives: rings (NCCL's choice for large messages). A ring over ``p`` ranks takes ``p - 1``
  hops (all-gather, reduce-scatter) or ``2 (p - 1)`` (all-reduce); each hop costs the slowest
  link's latency plus one chunk over the bottleneck bandwidth (``B_intra`` inside a node,
  ``B_inter / r`` across when ``r`` rings share the NIC). fp16 on the wire for parameters and
  gradients (2 bytes per element). One collective per layer (FSDP's unit; DeepSpeed's ZeRO-3
  issues several per layer, so this favours ZeRO-3).
* Per micro-step, ZeRO-3: all-gather of each layer's parameters over all ``N`` (forward and
  again in backward) and reduce-scatter of its gradients over ``N``. MiCS: the same inside the
  partition group of ``G`` (intra-node when ``G <= 8``; when ``G`` spans ``n`` nodes the
  hierarchical gather runs ``n``-rank rings across nodes, 8 of them sharing each NIC, then an
  intra-node gather; "mics-flat" runs a flat ring over the ``G``); per *step* (after ``M``
  micro-steps, two-hop sync) an all-reduce of each gradient shard across the ``N / G``
  replicas, with 8 such rings sharing each NIC. DDP: one all-reduce of the gradients over ``N``
  per step.
* No overlap of communication with computation (``--overlap`` hides that fraction of every
  collective's time behind compute, for every strategy alike).
* GTC-BMUF scenario: as above, with the byte counts measured by ``bench_comm.py`` (fp32
  gradients as sent there); GTC's decode at ``--decode-rate`` words/s; compute from the FLOPs of
  the benchmark's bi-encoder (all-MiniLM-L6-v2 shape, no LM head, 64 sequences of 32 tokens per
  worker and step).

Weak scaling: the work per GPU is fixed, so throughput(N) = N x work / step_time(N) and the
efficiency from ``N1`` to ``N2`` GPUs is ``step_time(N1) / step_time(N2)``.

    python eval/scaling_sim.py                      # both scenarios, JSON in eval/results/
    python eval/scaling_sim.py --micro-steps 1 --overlap 0.5
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GPUS = (8, 16, 32, 64, 128, 256, 512)
SHARDED = ("ddp", "zero3", "mics", "mics-flat")
#: A BERT layer's sub-modules with parameters (query, key, value, attention output and its
#: LayerNorm, intermediate, output and its LayerNorm): DeepSpeed v0.5.6's ZeRO-3 fetches each
#: with its own all-gather.
DEEPSPEED_GATHERS_PER_LAYER = 8
COMPRESSED = ("ddp", "gtc", "bmuf", "gtc-bmuf")
FP16 = 2


@dataclass(frozen=True)
class Cluster:
    per_node: int = 8
    peak_flops: float = 125e12  # V100 fp16 tensor cores
    efficiency: float = 0.30  # Megatron-LM's single-V100 baseline
    memory_bytes: float = 32e9
    intra_bytes_s: float = 150e9  # NVLink2, per GPU per direction
    inter_bytes_s: float = 100e9 / 8  # 100 Gbit/s per node
    intra_latency_s: float = 5e-6
    inter_latency_s: float = 30e-6
    decode_words_s: float = 2e9
    overlap: float = 0.0
    gathers_per_layer: int = 1


@dataclass(frozen=True)
class Transformer:
    name: str
    layers: int
    hidden: int
    heads: int
    vocab: int = 30522
    seq: int = 512
    micro_batch: int = 8
    lm_head: bool = True
    recompute: bool = True

    @property
    def params(self) -> float:
        return 12 * self.layers * self.hidden**2 + self.vocab * self.hidden

    @property
    def layer_params(self) -> float:
        return 12 * self.hidden**2

    def _flops(self, coefficient: float, vocab_divisor: float) -> float:
        b, s, L, h = self.micro_batch, self.seq, self.layers, self.hidden
        head = self.vocab / (vocab_divisor * L * h) if self.lm_head else 0.0
        return coefficient * b * s * L * h**2 * (1 + s / (6 * h) + head)

    @property
    def model_flops(self) -> float:
        """FLOPs of one micro-step's forward and backward (what TFLOP/s figures count)."""
        return self._flops(72, 12)

    @property
    def executed_flops(self) -> float:
        """What the GPU runs: plus a second forward with activation recomputation."""
        return self._flops(96, 16) if self.recompute else self.model_flops

    @property
    def activation_bytes(self) -> float:
        b, s, h, a = self.micro_batch, self.seq, self.hidden, self.heads
        layer = 34 * b * s * h + 5 * a * b * s * s
        return (2 * b * s * h * self.layers + layer) if self.recompute else layer * self.layers


MODELS = {
    "1.5B": Transformer("1.5B", layers=48, hidden=1600, heads=25),
    "10B": Transformer("10B", layers=50, hidden=4096, heads=32),
    "20B": Transformer("20B", layers=100, hidden=4096, heads=32),
}


# ---------------------------------------------------------------------------- collectives
def ring(c: Cluster, hops: int, chunk: float, spans_nodes: bool, rings_per_nic: int = 1) -> float:
    """``hops`` sequential ring steps, each moving ``chunk`` bytes over the bottleneck link."""
    if hops <= 0:
        return 0.0
    if spans_nodes:
        bandwidth = min(c.intra_bytes_s, c.inter_bytes_s / rings_per_nic)
        return hops * (c.inter_latency_s + chunk / bandwidth)
    return hops * (c.intra_latency_s + chunk / c.intra_bytes_s)


def all_gather(c: Cluster, p: int, own: float, nodes: int, rings_per_nic: int = 1) -> float:
    return ring(c, p - 1, own, nodes > 1, rings_per_nic)


def reduce_scatter(c: Cluster, p: int, total: float, nodes: int) -> float:
    return ring(c, p - 1, total / p, nodes > 1)


def all_reduce(c: Cluster, p: int, total: float, nodes: int, rings_per_nic: int = 1) -> float:
    return ring(c, 2 * (p - 1), total / p, nodes > 1, rings_per_nic)


def hierarchical_all_gather(c: Cluster, g: int, own: float) -> float:
    """MiCS: ``n`` = g / k nodes; k parallel inter-node rings share each NIC, then intra-node."""
    k = c.per_node
    n = g // k
    return ring(c, n - 1, own, True, rings_per_nic=k) + ring(c, k - 1, n * own, False)


# ---------------------------------------------------------------------------- sharded scenario
def memory_per_rank(m: Transformer, shards: int, sharded: bool) -> float:
    gathered = 2 * FP16 * m.layer_params if sharded else 0.0
    return 16 * m.params / shards + m.activation_bytes + gathered


def mics_group_size(c: Cluster, m: Transformer, n: int) -> int | None:
    g = 1
    while g <= n:
        if memory_per_rank(m, g, sharded=g > 1) <= c.memory_bytes:
            return g
        g *= 2
    return None


def sharded_step(c: Cluster, m: Transformer, strategy: str, n: int, micro_steps: int) -> dict:
    """Step time, TFLOP/s per GPU and memory per rank of ``strategy`` on ``n`` GPUs."""
    k = c.per_node
    nodes = max(1, n // k)
    units = [m.layer_params] * m.layers + [m.vocab * m.hidden]
    split = c.gathers_per_layer  # all-gathers per layer (its sub-modules', one each)
    parts = [(u / split, split) for u in units[:-1]] + [(units[-1], 1)]
    compute = m.executed_flops / (c.peak_flops * c.efficiency)
    per_micro = per_step = 0.0
    if strategy == "ddp":
        shards, group = 1, 1
        per_step = sum(all_reduce(c, n, FP16 * u, nodes) for u in units)
    elif strategy == "zero3":
        shards, group = n, n
        per_micro = sum(2 * k_ * all_gather(c, n, FP16 * part / n, nodes) for part, k_ in parts)
        per_micro += sum(reduce_scatter(c, n, FP16 * u, nodes) for u in units)
    else:  # mics, mics-flat
        group = mics_group_size(c, m, n)
        if group is None:
            return {"fits": False}
        shards, g_nodes = group, max(1, group // k)
        for part, k_ in parts:
            own = FP16 * part / group
            if g_nodes > 1 and strategy == "mics":
                per_micro += 2 * k_ * hierarchical_all_gather(c, group, own)
            else:
                per_micro += 2 * k_ * all_gather(c, group, own, g_nodes)
        for u in units:
            per_micro += reduce_scatter(c, group, FP16 * u, g_nodes)
            own = FP16 * u / group
            per_step += all_reduce(c, n // group, own, nodes, rings_per_nic=min(group, k))
    memory = memory_per_rank(m, shards, sharded=shards > 1)
    if memory > c.memory_bytes:
        return {"fits": False, "memory_gb": memory / 1e9}
    hidden = 1.0 - c.overlap
    step = micro_steps * (compute + hidden * per_micro) + hidden * per_step
    return {
        "fits": True,
        "group_size": group,
        "step_s": step,
        "compute_share": micro_steps * compute / step,
        "tflops_per_gpu": micro_steps * m.model_flops / step / 1e12,
        "memory_gb": memory / 1e9,
    }


def sharded_table(c: Cluster, micro_steps: int) -> dict:
    return {
        name: {s: {str(n): sharded_step(c, m, s, n, micro_steps) for n in GPUS} for s in SHARDED}
        for name, m in MODELS.items()
    }


def efficiency(row: dict, low: int = 128, high: int = 512) -> float | None:
    a, b = row[str(low)], row[str(high)]
    return a["step_s"] / b["step_s"] if a.get("fits") and b.get("fits") else None


# ---------------------------------------------------------------------------- compressed scenario
@dataclass(frozen=True)
class Measured:
    model_bytes: float  # S, fp32 gradients as sent in the benchmark
    gtc_message_bytes: float
    gtc_bmuf_message_bytes: float
    bmuf_block_steps: int
    gtc_bmuf_block_steps: int
    source: str


BENCH_MODEL = Transformer(
    "all-MiniLM-L6-v2", layers=6, hidden=384, heads=12, seq=32, micro_batch=64, lm_head=False,
    recompute=False,
)  # fmt: skip


def compressed_comm(c: Cluster, strategy: str, n: int, m: Measured) -> float:
    k = min(c.per_node, n)
    nodes = math.ceil(n / k)
    S = m.model_bytes
    if strategy == "ddp":
        return all_reduce(c, n, S, nodes)
    if strategy == "gtc":
        msg = m.gtc_message_bytes
        exchange = all_gather(c, n, 4, nodes) + all_gather(c, n, msg, nodes)
        return exchange + (n - 1) * msg / 4 / c.decode_words_s
    if strategy == "bmuf":  # one learner per worker
        return all_reduce(c, n, S, nodes) / m.bmuf_block_steps
    if strategy == "gtc-bmuf":  # GTC inside the node, BMUF across nodes
        msg = m.gtc_bmuf_message_bytes
        per_step = all_gather(c, k, 4, 1) + all_gather(c, k, msg, 1)
        per_step += (k - 1) * msg / 4 / c.decode_words_s
        sync = all_reduce(c, nodes, S / k, nodes, rings_per_nic=k) + all_gather(c, k, S / k, 1)
        return per_step + sync / m.gtc_bmuf_block_steps
    raise ValueError(f"unknown strategy {strategy!r}")


def compressed_table(c: Cluster, m: Measured) -> dict:
    compute = BENCH_MODEL.executed_flops / (c.peak_flops * c.efficiency)
    out = {}
    for s in COMPRESSED:
        out[s] = {}
        for n in GPUS:
            step = compute + (1 - c.overlap) * compressed_comm(c, s, n, m)
            out[s][str(n)] = {"speedup": n * compute / step, "step_s": step}
    return {"compute_s": compute, "speedup": out}


def measured_from(path: Path) -> Measured:
    record = json.loads(path.read_text())
    sections = record.get("sections", {"": record})
    rows = {r["strategy"]: r for sec in sections.values() for r in sec["results"]}
    missing = [s for s in ("ddp", "gtc-bmuf") if s not in rows]
    if missing:
        raise SystemExit(f"{path}: needs the ddp and gtc-bmuf results (missing {missing})")
    ddp = rows["ddp"]["collectives"]["all_reduce"]
    world = 4
    model_bytes = ddp["bytes_per_step_per_rank"] / (2 * (world - 1) / world)

    def message(row: dict) -> float:
        codes = row["collectives"].get("all_gather(gtc codes)", {"bytes_per_step_per_rank": 0.0})
        participants = (codes.get("participants") or [2])[0]
        return codes["bytes_per_step_per_rank"] / max(1, participants - 1)

    gtc_bmuf = rows["gtc-bmuf"]
    gtc = rows.get("gtc", gtc_bmuf)  # GTC's per-worker message; the in-group one if absent
    return Measured(
        model_bytes=model_bytes,
        gtc_message_bytes=message(gtc),
        gtc_bmuf_message_bytes=message(gtc_bmuf),
        bmuf_block_steps=int(rows.get("bmuf", gtc_bmuf)["config"]["block_steps"]),
        gtc_bmuf_block_steps=int(gtc_bmuf["config"]["block_steps"]),
        source=str(path) + ("" if "gtc" in rows else " (gtc message: the gtc-bmuf run's)"),
    )


# ---------------------------------------------------------------------------- printing
def summarise(c: Cluster, micro_steps: int, gathers: tuple[int, ...]) -> dict:
    """Per model and all-gather granularity: weak-scaling efficiency 128 -> 512 per strategy,
    MiCS's G, and MiCS's throughput over ZeRO-3's at 512 GPUs."""
    out = {}
    for per_layer in gathers:
        table = sharded_table(replace(c, gathers_per_layer=per_layer), micro_steps)
        for name, rows in table.items():
            mics, zero3 = rows["mics"]["512"], rows["zero3"]["512"]
            out[f"{name}, {per_layer} gather(s)/layer"] = {
                "model": name,
                "gathers_per_layer": per_layer,
                "mics_group_size": mics.get("group_size"),
                "weak_scaling_128_512": {s: efficiency(rows[s]) for s in SHARDED},
                "mics_over_zero3_at_512": (
                    mics["tflops_per_gpu"] / zero3["tflops_per_gpu"] if mics["fits"] else None
                ),
            }
    return out


def _cell(value: float | None, fmt: str) -> str:
    return format(value, fmt) if value is not None else "-"


def print_sharded(table: dict, summary: dict, micro_steps: int, gathers: int) -> list[str]:
    lines = [
        f"Sharded: TFLOP/s per GPU (model FLOPs), steps of {micro_steps} micro-steps of 8 x 512 "
        f"tokens per GPU, {gathers} all-gather(s) per layer; '-' = does not fit in 32 GB"
    ]
    for name, rows in table.items():
        lines.append(f"\n{name} ({MODELS[name].params / 1e9:.2f}B parameters)")
        lines.append(f"{'GPUs':>7}" + "".join(f"{s:>11}" for s in SHARDED))
        for n in GPUS:
            cells = [rows[s][str(n)] for s in SHARDED]
            lines.append(
                f"{n:>7}" + "".join(f"{_cell(x.get('tflops_per_gpu'), '.1f'):>11}" for x in cells)
            )
        memory = [rows[s]["512"].get("memory_gb") for s in SHARDED]
        lines.append(f"{'GB/rank':>7}" + "".join(f"{_cell(x, '.1f'):>11}" for x in memory))
    lines.append("\nWeak-scaling efficiency from 128 to 512 GPUs, and MiCS over ZeRO-3 at 512 GPUs")
    head = f"{'model, parameter all-gathers per layer':<40}{'G':>4}"
    head += "".join(f"{s:>11}" for s in SHARDED) + f"{'MiCS/ZeRO-3':>13}"
    lines.append(head)
    for label, row in summary.items():
        eff = row["weak_scaling_128_512"]
        lines.append(
            f"{label:<40}{_cell(row['mics_group_size'], 'd'):>4}"
            + "".join(f"{_cell(eff[s], '.1%'):>11}" for s in SHARDED)
            + f"{_cell(row['mics_over_zero3_at_512'], '.2f'):>12}x"
        )
    return lines


def print_compressed(result: dict, m: Measured) -> list[str]:
    lines = [
        f"\nCompressed: speedup over one worker (bench_comm bytes: S = {m.model_bytes / 1e6:.1f} "
        f"MB, GTC message {m.gtc_message_bytes / 1e6:.3f} MB, in-group "
        f"{m.gtc_bmuf_message_bytes / 1e6:.3f} MB, K = {m.gtc_bmuf_block_steps}; compute "
        f"{result['compute_s'] * 1e3:.1f} ms per step)",
        f"{'workers':>8}" + "".join(f"{s:>10}" for s in COMPRESSED),
    ]
    for n in GPUS:
        lines.append(
            f"{n:>8}"
            + "".join(f"{result['speedup'][s][str(n)]['speedup']:>9.1f}x" for s in COMPRESSED)
        )
    eff = {s: result["speedup"][s]["512"]["speedup"] / result["speedup"][s]["128"]["speedup"] / 4
           for s in COMPRESSED}  # fmt: skip
    lines.append(
        "weak-scaling efficiency 128->512: " + ", ".join(f"{s} {e:.1%}" for s, e in eff.items())
    )
    return lines


def main(argv=None) -> None:
    defaults = Cluster()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--measured", type=Path, default=RESULTS / "bench_comm.json")
    ap.add_argument("--per-node", type=int, default=defaults.per_node)
    ap.add_argument("--peak-tflops", type=float, default=defaults.peak_flops / 1e12)
    ap.add_argument("--efficiency", type=float, default=defaults.efficiency)
    ap.add_argument("--gpu-memory-gb", type=float, default=defaults.memory_bytes / 1e9)
    ap.add_argument("--intra-gbps", type=float, default=defaults.intra_bytes_s * 8 / 1e9)
    ap.add_argument("--inter-gbps", type=float, default=defaults.inter_bytes_s * 8 / 1e9)
    ap.add_argument("--intra-latency-us", type=float, default=defaults.intra_latency_s * 1e6)
    ap.add_argument("--inter-latency-us", type=float, default=defaults.inter_latency_s * 1e6)
    ap.add_argument("--decode-rate", type=float, default=defaults.decode_words_s)
    ap.add_argument("--overlap", type=float, default=0.0, help="share of comm hidden by compute")
    ap.add_argument("--micro-steps", type=int, default=4, help="micro-steps per optimizer step")
    ap.add_argument(
        "--gathers-per-layer",
        type=int,
        default=1,
        help="parameter all-gathers per layer: 1 = FSDP's unit (ours); 8 = DeepSpeed v0.5.6's "
        "ZeRO-3, one per BERT sub-module with parameters (the seed's baseline)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "scaling_sim.json")
    args = ap.parse_args(argv)
    cluster = replace(
        defaults,
        per_node=args.per_node,
        peak_flops=args.peak_tflops * 1e12,
        efficiency=args.efficiency,
        memory_bytes=args.gpu_memory_gb * 1e9,
        intra_bytes_s=args.intra_gbps * 1e9 / 8,
        inter_bytes_s=args.inter_gbps * 1e9 / 8,
        intra_latency_s=args.intra_latency_us * 1e-6,
        inter_latency_s=args.inter_latency_us * 1e-6,
        decode_words_s=args.decode_rate,
        overlap=args.overlap,
        gathers_per_layer=args.gathers_per_layer,
    )
    sharded = sharded_table(cluster, args.micro_steps)
    # FSDP's granularity (ours) and DeepSpeed v0.5.6's, the seed's ZeRO-3 baseline
    gathers = tuple(dict.fromkeys((args.gathers_per_layer, 1, DEEPSPEED_GATHERS_PER_LAYER)))
    summary = summarise(cluster, args.micro_steps, gathers)
    measured = measured_from(args.measured)
    compressed = compressed_table(cluster, measured)
    lines = print_sharded(sharded, summary, args.micro_steps, args.gathers_per_layer)
    lines += print_compressed(compressed, measured)
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "command": "python eval/scaling_sim.py "
        + " ".join(a for a in (argv if argv is not None else __import__("sys").argv[1:])),
        "assumptions": __doc__.split("Assumptions")[1].split("Weak scaling:")[0].strip(),
        "cluster": asdict(cluster),
        "micro_steps": args.micro_steps,
        "models": {k: {**asdict(v), "params": v.params} for k, v in MODELS.items()},
        "sharded": sharded,
        "summary": summary,
        "compressed": {**compressed, "measured": asdict(measured)},
        "printed": lines,
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
