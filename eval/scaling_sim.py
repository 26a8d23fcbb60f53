"""Modelled speedups of DDP, GTC, BMUF, GTC-BMUF and MiCS from 8 to 512 workers.

Inputs are the bytes measured by ``eval/bench_comm.py`` (its JSON): the model size ``S``
(recovered from DDP's all-reduce bytes), the length of a GTC message per worker per step (the
padded code all-gather of the ``gtc`` run, and of the ``gtc-bmuf`` run), and the BMUF block
length ``K``. Everything else is a network and compute model, stated here and in the JSON:

Cluster. Nodes of ``k`` workers (``--per-node``, default 8). Inside a node every pair of workers
has a link of ``B_intra`` bytes/s and latency ``a_intra``; each node has one network interface
of ``B_inter`` bytes/s shared by its ``k`` workers, with latency ``a_inter`` per hop.

Collectives (alpha-beta model of the ring algorithms, the same convention as the accounting):

* ring over ``p`` workers: ``p - 1`` (all-gather, reduce-scatter) or ``2 (p - 1)`` (all-reduce)
  sequential hops, each costing the latency of the slowest hop (``a_inter`` once the ring spans
  nodes), and a bandwidth term of the bytes one worker sends divided by the bottleneck
  bandwidth: ``B_intra`` inside a node, ``B_inter / r`` when ``r`` rings cross the same network
  interface at once (a flat ring over all workers crosses each interface once; MiCS/GTC-BMUF's
  ``k`` parallel same-index rings cross each interface ``k`` times, each carrying ``1/k`` of the
  model);
* GTC decoding: every worker decodes all received words at ``--decode-rate`` words/s.

Per step (``T_c`` = compute time of one step of one worker, ``--compute-s``):

* DDP: all-reduce of ``S`` over the ``N`` workers.
* GTC: all-gather of the counts and of the ``N`` messages (each ``m`` bytes) over all workers +
  decoding ``(N - 1) m / 4`` words. The volume grows with ``N``: this is why GTC falls off.
* BMUF (one learner per worker): an all-reduce of ``S`` over ``N`` every ``K`` steps.
* GTC-BMUF (groups = nodes, ``G = k``): GTC inside the node every step; every ``K`` steps the
  ``k`` same-index rings across nodes all-reduce ``S / k`` each, then an all-gather of ``S`` in
  the node.
* MiCS (partition group = node): all-gather of the parameters in forward and backward and a
  reduce-scatter of the gradients inside the node, then the ``k`` parallel all-reduces of
  ``S / k`` across nodes (``M`` micro-batches per step amortise the cross-node all-reduce,
  ``--micro-batches``).

Speedup over one worker (weak scaling, no overlap of computation and communication)::

    speedup(N) = N * T_c / (T_c + T_comm(N))

The model ignores everything else (stragglers, contention beyond the shared interface, overlap,
NCCL's tree algorithms, the accuracy cost of compression or of longer blocks).

    python eval/scaling_sim.py                               # reads eval/results/bench_comm.json
    python eval/scaling_sim.py --inter-gbps 100 --compute-s 0.05
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
WORKERS = (8, 16, 32, 64, 128, 256, 512)
STRATEGIES = ("ddp", "gtc", "bmuf", "gtc-bmuf", "mics")


@dataclass(frozen=True)
class Network:
    per_node: int = 8
    intra_bytes_s: float = 25e9  # NVLink-class pair bandwidth (bytes/s)
    inter_bytes_s: float = 25e9 / 8  # 25 Gbit/s per node (the seed's cloud era)
    intra_latency_s: float = 5e-6
    inter_latency_s: float = 30e-6
    decode_words_s: float = 2e9


@dataclass(frozen=True)
class Measured:
    model_bytes: float  # S
    gtc_message_bytes: float  # m of the world-wide GTC run
    gtc_bmuf_message_bytes: float  # m of the in-group GTC of GTC-BMUF
    bmuf_block_steps: int
    gtc_bmuf_block_steps: int
    source: str


def _ring(
    p: int, nodes: int, net: Network, sends_bytes: float, hops: int, rings_per_nic: int = 1
) -> float:
    """Time of a ring collective: ``hops`` sequential steps + the bytes one worker sends over
    the bottleneck link."""
    if p <= 1:
        return 0.0
    latency = net.inter_latency_s if nodes > 1 else net.intra_latency_s
    bandwidth = (
        min(net.intra_bytes_s, net.inter_bytes_s / rings_per_nic)
        if nodes > 1
        else net.intra_bytes_s
    )
    return hops * latency + sends_bytes / bandwidth


def all_reduce(p, nodes, net, nbytes, rings_per_nic=1):
    return _ring(p, nodes, net, 2 * (p - 1) / p * nbytes, 2 * (p - 1), rings_per_nic)


def all_gather(p, nodes, net, own_bytes, rings_per_nic=1):
    return _ring(p, nodes, net, (p - 1) * own_bytes, p - 1, rings_per_nic)


def reduce_scatter(p, nodes, net, nbytes):
    return _ring(p, nodes, net, (p - 1) / p * nbytes, p - 1)


def comm_time(strategy: str, n: int, net: Network, m: Measured, micro_batches: int = 1) -> float:
    """Seconds of communication per optimizer step for ``n`` workers."""
    k = min(net.per_node, n)
    nodes = math.ceil(n / k)
    S = m.model_bytes
    if strategy == "ddp":
        return all_reduce(n, nodes, net, S)
    if strategy == "gtc":
        msg = m.gtc_message_bytes
        return (
            all_gather(n, nodes, net, 4)
            + all_gather(n, nodes, net, msg)
            + (n - 1) * msg / 4 / net.decode_words_s
        )
    if strategy == "bmuf":
        return all_reduce(n, nodes, net, S) / m.bmuf_block_steps
    if strategy == "gtc-bmuf":
        msg = m.gtc_bmuf_message_bytes
        per_step = (
            all_gather(k, 1, net, 4)
            + all_gather(k, 1, net, msg)
            + (k - 1) * msg / 4 / net.decode_words_s
        )
        sync = all_reduce(nodes, nodes, net, S / k, rings_per_nic=k) + all_gather(k, 1, net, S / k)
        return per_step + sync / m.gtc_bmuf_block_steps
    if strategy == "mics":
        in_node = micro_batches * (2 * all_gather(k, 1, net, S / k) + reduce_scatter(k, 1, net, S))
        return in_node + all_reduce(nodes, nodes, net, S / k, rings_per_nic=k)
    raise ValueError(f"unknown strategy {strategy!r}")


def speedup(
    strategy: str, n: int, net: Network, m: Measured, compute_s: float, micro_batches: int = 1
) -> float:
    compute = compute_s * micro_batches
    return n * compute / (compute + comm_time(strategy, n, net, m, micro_batches))


def measured_from(path: Path) -> Measured:
    record = json.loads(path.read_text())
    rows = {r["strategy"]: r for r in record["results"]}
    missing = [s for s in ("ddp", "gtc", "gtc-bmuf") if s not in rows]
    if missing:
        raise SystemExit(f"{path}: needs the ddp, gtc and gtc-bmuf results (missing {missing})")
    world = record["args"]["nprocs"]
    ddp = rows["ddp"]["collectives"]["all_reduce"]["bytes_per_step_per_rank"]
    model_bytes = ddp / (2 * (world - 1) / world)

    def message(row: dict) -> float:
        codes = row["collectives"].get("all_gather(gtc codes)", {"bytes_per_step_per_rank": 0.0})
        participants = (codes.get("participants") or [2])[0]
        return codes["bytes_per_step_per_rank"] / max(1, participants - 1)

    bmuf_k = rows.get("bmuf", rows["gtc-bmuf"])["config"]["block_steps"]
    return Measured(
        model_bytes=model_bytes,
        gtc_message_bytes=message(rows["gtc"]),
        gtc_bmuf_message_bytes=message(rows["gtc-bmuf"]),
        bmuf_block_steps=int(bmuf_k),
        gtc_bmuf_block_steps=int(rows["gtc-bmuf"]["config"]["block_steps"]),
        source=str(path),
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="modelled speedups from measured bytes")
    ap.add_argument("--measured", type=Path, default=RESULTS / "bench_comm.json")
    ap.add_argument("--per-node", type=int, default=8)
    ap.add_argument(
        "--intra-gbps", type=float, default=200.0, help="intra-node pair bandwidth, Gbit/s"
    )
    ap.add_argument(
        "--inter-gbps", type=float, default=25.0, help="per-node network bandwidth, Gbit/s"
    )
    ap.add_argument("--intra-latency-us", type=float, default=5.0)
    ap.add_argument("--inter-latency-us", type=float, default=30.0)
    ap.add_argument("--decode-rate", type=float, default=2e9, help="GTC words decoded per second")
    ap.add_argument(
        "--compute-s", type=float, default=0.1, help="one worker's compute time per step"
    )
    ap.add_argument("--micro-batches", type=int, default=1, help="MiCS micro-batches per step")
    ap.add_argument("--out", type=Path, default=RESULTS / "scaling_sim.json")
    args = ap.parse_args(argv)
    net = Network(
        per_node=args.per_node,
        intra_bytes_s=args.intra_gbps * 1e9 / 8,
        inter_bytes_s=args.inter_gbps * 1e9 / 8,
        intra_latency_s=args.intra_latency_us * 1e-6,
        inter_latency_s=args.inter_latency_us * 1e-6,
        decode_words_s=args.decode_rate,
    )
    measured = measured_from(args.measured)
    table = {
        s: {
            n: speedup(
                s, n, net, measured, args.compute_s, args.micro_batches if s == "mics" else 1
            )
            for n in WORKERS
        }
        for s in STRATEGIES
    }
    head = ["workers", *STRATEGIES]
    lines = ["  ".join(f"{h:>9}" for h in head)]
    for n in WORKERS:
        lines.append("  ".join([f"{n:>9}"] + [f"{table[s][n]:>8.1f}x" for s in STRATEGIES]))
    print(
        f"S = {measured.model_bytes / 1e6:.1f} MB, GTC message = {measured.gtc_message_bytes / 1e6:.3f} MB, "
        f"GTC-BMUF in-group message = {measured.gtc_bmuf_message_bytes / 1e6:.3f} MB, "
        f"K = {measured.bmuf_block_steps} (bmuf) / {measured.gtc_bmuf_block_steps} (gtc-bmuf), "
        f"T_c = {args.compute_s * 1e3:.0f} ms, {net.per_node} workers/node, "
        f"{args.inter_gbps:g} Gbit/s per node, {args.intra_gbps:g} Gbit/s intra-node"
    )
    print("\n".join(lines))
    best = {n: max(STRATEGIES, key=lambda s: table[s][n]) for n in WORKERS}
    print("fastest: " + ", ".join(f"{n}: {best[n]}" for n in WORKERS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "model": __doc__.split("Speedup over one worker")[0].strip(),
                "network": asdict(net),
                "compute_s": args.compute_s,
                "micro_batches": args.micro_batches,
                "measured": asdict(measured),
                "speedup": {s: {str(n): v for n, v in row.items()} for s, row in table.items()},
                "fastest": {str(n): s for n, s in best.items()},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
