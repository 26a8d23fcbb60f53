"""Pair-mining speed and memory: transencoder's mining vs sentence-transformers, and the
neighbour search alone at one million vectors.

(a) ``corpus``: every distinct sentence of the shared data (STS12-16 + STS-B all splits through
    the project's readers; MRPC, PAWS-Wiki and QNLI through its pair reader):
    encode + exact top-k with the default model, ours (``encode_corpus`` + ``exact_neighbours``)
    against ``sentence_transformers.util.paraphrase_mining`` (its default batch size, and ours),
    same model, sentences and k. Each run is its own subprocess, the sides alternate, and the
    peak memory is the subprocess's peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``, model and
    interpreter included); the timed part starts after the model is loaded. The outputs are
    compared as the set of (unordered) neighbour pairs incident to each sentence.
(b) ``search``: 1,000,000 random unit vectors of dimension 384 (float32, seeded); 10,000 of them
    as queries (each excluding itself): exact chunked search against faiss IVF (an nprobe sweep)
    and HNSW: build and search time, peak RSS (one subprocess per method), recall@10 against
    the exact answer. ``--real`` adds the same comparison on the corpus of (a)'s embeddings.
(a') ``roofline`` (also after every (a)): the forward pass's floating-point work on (a)'s
    sentences and the rate of torch's fp32 matrix product on this CPU at the encoder's shapes:
    each side's achieved GFLOP/s and the largest speedup over paraphrase_mining that an encoder
    running every product at that rate could have.

    python eval/bench_mining.py --part corpus --output eval/results/mining.json
    python eval/bench_mining.py --part search --append --output eval/results/mining.json
    python eval/bench_mining.py --part roofline --append --output eval/results/mining.json
    python eval/bench_mining.py --part search --real-only --real-vectors CACHE/<key> --queries 10000 \
        --output eval/results/mining_real.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
METHODS = ("exact", "ivf", "hnsw")  # (b)'s methods, in the order the tables list them
#: The pair files under the data root (each read through the project's pair reader).
PAIR_FILES = (
    "pairs/mrpc/msr_paraphrase_train.txt",
    "pairs/paws-wiki/dev.tsv",
    "pairs/qnli/dev.tsv",
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def corpus_sentences(root: Path) -> tuple[list[str], dict[str, int]]:
    """Distinct sentences of the STS folders and the three pair files, first-seen order."""
    from transencoder.eval import read_pair_file
    from transencoder.mining import build_corpus
    from transencoder.training import pool_from_data_dir

    pool = pool_from_data_dir(root / "sts" / "senteval")
    rows = [sentence for pair in pool.pairs for sentence in pair]
    sources = {"sts (STS12-16, STS-B all splits)": len(build_corpus(rows))}
    for relative in PAIR_FILES:
        task = read_pair_file(root / relative)  # the layout told by the header row
        part = [*task.sentences1, *task.sentences2]
        sources[relative] = len(build_corpus(part))
        rows += part
    corpus = build_corpus(rows)
    return corpus.sentences, sources


# ----------------------------------------------------------------------------- subprocess workers
def worker_corpus(args: argparse.Namespace) -> None:
    import torch

    sentences = Path(args.sentences).read_text(encoding="utf-8").split("\n")
    result: dict = {"side": args.side, "batch_size": args.batch_size}
    if args.side == "ours":
        from transencoder import BiEncoder
        from transencoder.mining import encode_corpus, exact_neighbours

        model = BiEncoder.from_pretrained("default", device="cpu")
        result["rss_after_load_mb"] = peak_rss_mb()
        started = time.perf_counter()
        embeddings, _ = encode_corpus(
            model, sentences, batch_size=args.batch_size, batch_tokens=args.batch_tokens or None
        )
        result["batch_tokens"] = args.batch_tokens or None
        encoded = time.perf_counter()
        found = exact_neighbours(embeddings, args.k, chunk_size=args.chunk_size)
        result["search_s"] = time.perf_counter() - encoded
        np.save(args.out + "-embeddings.npy", embeddings)  # after the clock: for the comparison
        pairs = np.stack(
            [np.repeat(np.arange(len(sentences)), args.k), found.indices.reshape(-1)], 1
        )
    else:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.util import paraphrase_mining

        from transencoder.models.loading import resolve_model_path

        model = SentenceTransformer(resolve_model_path("default"), device="cpu")
        result["rss_after_load_mb"] = peak_rss_mb()
        started = time.perf_counter()
        # "st-bf16": a sentence-transformers user's one line of bf16 autocast around the call
        bf16 = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.side == "st-bf16")
        with bf16:
            mined = paraphrase_mining(
                model,
                sentences,
                batch_size=args.batch_size,
                top_k=args.k,
                max_pairs=len(sentences) * args.k + 1,
            )
        pairs = np.array([[i, j] for _, i, j in mined], dtype=np.int64)
    result["total_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = peak_rss_mb()
    result["torch_threads"] = torch.get_num_threads()
    np.save(args.out + ".npy", pairs)
    Path(args.out + ".json").write_text(json.dumps(result))


def random_unit(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65536):
        block = rng.standard_normal((min(65536, n - start), dim), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def worker_search(args: argparse.Namespace) -> None:
    from transencoder.mining.ann import build_index, search_index
    from transencoder.mining.topk import search_exact

    data = (
        np.load(args.vectors, mmap_mode="r") if args.vectors else random_unit(args.n, args.dim, 0)
    )
    data = np.ascontiguousarray(data[: args.subset or len(data)], dtype=np.float32)
    queries, ids = data[: args.queries], np.arange(args.queries)
    rows = []
    started = time.perf_counter()
    if args.method == "exact":
        found = search_exact(data, queries, 10, chunk_size=args.chunk_size, query_ids=ids)
        rows.append({"method": "exact", "build_s": 0.0, "search_s": time.perf_counter() - started})
        np.save(args.out + ".npy", found.indices)
    else:
        knobs = [int(v) for v in args.sweep.split(",")]
        first = knobs[0]
        extra = (
            {"nlist": args.nlist, "nprobe": first} if args.method == "ivf" else {"ef_search": first}
        )
        if args.method == "hnsw":
            extra.update(
                hnsw_m=args.hnsw_m,
                ef_construction=args.ef_construction,
                deterministic=not args.threads,
            )
        index = build_index(data, args.method, seed=0, **extra)
        build_s = time.perf_counter() - started
        for knob in knobs:
            if args.method == "ivf":
                index.nprobe = knob
            else:
                index.hnsw.efSearch = knob
            began = time.perf_counter()
            found = search_index(index, queries, 10, query_ids=ids)
            name = "nprobe" if args.method == "ivf" else "ef_search"
            rows.append(
                {
                    "method": args.method,
                    name: knob,
                    "build_s": build_s,
                    "search_s": time.perf_counter() - began,
                    "indices": found.indices.tolist(),
                }
            )
            if args.method == "ivf":
                rows[-1]["nlist"] = int(index.nlist)
            else:
                rows[-1].update(M=args.hnsw_m, ef_construction=args.ef_construction)
    for row in rows:
        row["peak_rss_mb"] = peak_rss_mb()
    Path(args.out + ".json").write_text(json.dumps(rows))


def merge_search(kept: dict, fresh: dict, args: argparse.Namespace) -> None:
    """Put ``fresh`` search results into ``kept``; with ``--append``, the rows of methods this
    run did not measure stay (a quiet re-measure of one method keeps the others' rows)."""
    measured = set(args.methods.split(","))
    for name, part in fresh.items():
        earlier = kept.get(name, {})
        same = all(earlier.get(key) == part[key] for key in ("n", "dim", "queries"))
        if args.append and same:
            rows = [row for row in earlier.get("rows", []) if row["method"] not in measured]
            part["rows"] = sorted(rows + part["rows"], key=lambda row: METHODS.index(row["method"]))
        kept[name] = part


# The encoder's matrix products at (a)'s batch shape (8,192 tokens, MiniLM's 384 / 1,536 widths),
# and one large square product: the rate torch's own GEMM reaches on this CPU.
GEMM_SHAPES = {
    "qkv/out 8192x384x384": (8192, 384, 384),
    "ffn up 8192x384x1536": (8192, 384, 1536),
    "ffn down 8192x1536x384": (8192, 1536, 384),
    "square 2048": (2048, 2048, 2048),
}


def worker_gemm(args: argparse.Namespace) -> None:
    import torch

    rates = {}
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    with torch.inference_mode():
        for (name, (m, k, n)), (label, dtype) in itertools.product(
            GEMM_SHAPES.items(), dtypes.items()
        ):
            name = f"{label} {name}"
            a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
            for _ in range(3):
                a @ b  # warm-up
            reps, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < 3.0:
                a @ b
                reps += 1
            rates[name] = round(2 * m * k * n * reps / elapsed / 1e9, 1)
    Path(args.out + ".json").write_text(
        json.dumps({"gflops": rates, "torch_threads": torch.get_num_threads()})
    )


def encoder_flops(model, sentences: list[str]) -> dict:
    """Floating-point work of a BERT-style bi-encoder's forward pass over ``sentences``, each
    unpadded, as our mining tokenises them: 2 x the multiply-adds of the layers' matrix products,
    attention's two products and BERT's pooler. Embedding lookups, layer norms, softmax and
    activations are left out, so it is a lower bound of the work."""
    lengths = np.array([len(ids) for ids in model.tokenize(sentences)], dtype=np.float64)
    config = model.encoder.config
    h, f, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    linear = 2 * lengths.sum() * (4 * h * h + 2 * h * f) * layers
    attention = 2 * 2 * (lengths**2).sum() * h * layers
    # BERT's pooler (a dense layer on [CLS]) runs once per sentence, used or not
    pooler = 2 * len(lengths) * h * h if getattr(model.encoder, "pooler", None) else 0
    flop = linear + attention + pooler
    return {
        "tokens": int(lengths.sum()),
        "flop": int(flop),
        "gflop": round(flop / 1e9, 1),
        "model": {"hidden": h, "intermediate": f, "layers": layers},
    }


def run_roofline(args: argparse.Namespace, work: Path, corpus: dict) -> dict:
    """How far (a)'s encode is from the CPU's matrix-product rate, and so what speedup over
    paraphrase_mining any fp32 encoder of the same model could reach on this machine."""
    sentences, _ = corpus_sentences(Path(args.data_root))
    if len(sentences) != corpus["sentences"]:
        raise SystemExit(f"corpus has {len(sentences)} sentences, the record {corpus['sentences']}")
    from transencoder import BiEncoder

    work_part = encoder_flops(BiEncoder.from_pretrained("default", device="cpu"), sentences)
    spawn(["--worker", "gemm", "--out", str(work / "gemm")], timeout=600)
    gemm = json.loads((work / "gemm.json").read_text())
    best = max(gemm["gflops"].values())
    ours = next(r for r in corpus["runs"] if r["side"] == "ours")
    floor_s = work_part["gflop"] / best + ours["search_s"]
    sides = {
        "ours": ours["total_s"] - ours["search_s"],
        **{
            _name(r["side"], r["batch_size"]): r["total_s"]
            for r in corpus["runs"]
            if r["side"] != "ours" and r["repeat"] == 0
        },
    }
    return {
        **work_part,
        "gemm_gflops": gemm["gflops"],
        "torch_threads": gemm["torch_threads"],
        "achieved_gflops": {
            name: round(work_part["gflop"] / seconds, 1) for name, seconds in sides.items()
        },
        "floor_s": round(floor_s, 1),
        "speedup_ceiling": {
            name: round(seconds / floor_s, 2) for name, seconds in sides.items() if name != "ours"
        },
        "note": "ours: encode only (total - search); st: paraphrase_mining's total (its search "
        "included, so its rate is understated). floor_s = gflop at the best GEMM rate + our "
        "measured search: the time of an encoder that ran every product at that rate.",
    }


# ----------------------------------------------------------------------------- driver
def spawn(argv: list[str], timeout: float) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    completed = subprocess.run(
        [sys.executable, __file__, *argv], env=env, timeout=timeout, capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise SystemExit(f"worker {argv[:4]} failed:\n{completed.stderr[-3000:]}")


def neighbour_sets(pairs: np.ndarray, n: int) -> list[set[int]]:
    sets: list[set[int]] = [set() for _ in range(n)]
    for i, j in pairs.tolist():
        if i != j:
            sets[i].add(j)
            sets[j].add(i)
    return sets


def explain(ours: list[set[int]], theirs: list[set[int]], embeddings: np.ndarray, k: int) -> dict:
    """Sentences whose pair sets differ, and whether each difference is a float tie: the pair's
    float64 cosine within 1e-6 of the k-th neighbour's cosine of one of its sentences."""
    unit = embeddings.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    differ = [i for i in range(len(ours)) if ours[i] != theirs[i]]
    kth: dict[int, float] = {}

    def kth_cosine(i: int) -> float:
        if i not in kth:
            sims = unit @ unit[i]
            sims[i] = -np.inf
            kth[i] = float(np.sort(sims)[-k])
        return kth[i]

    ties = other = 0
    for i in differ:
        for j in ours[i] ^ theirs[i]:
            cosine = float(unit[i] @ unit[j])
            if min(abs(cosine - kth_cosine(i)), abs(cosine - kth_cosine(j))) <= 1e-6:
                ties += 1
            else:
                other += 1
    return {
        "sentences_differing": len(differ),
        "differing_pairs_at_a_float_tie": ties // 2,
        "differing_pairs_otherwise": other // 2,
    }


def run_corpus(args: argparse.Namespace, work: Path) -> dict:
    sentences, sources = corpus_sentences(Path(args.data_root))
    (work / "sentences.txt").write_text("\n".join(sentences), encoding="utf-8")
    print(f"{len(sentences)} distinct sentences: {sources}", flush=True)
    sides = [("ours", args.batch_size), ("st", 32), ("st", args.batch_size)]
    sides += [("st-bf16", args.batch_size)]
    sides = [side for side in sides if f"{side[0]}:{side[1]}" not in args.skip_sides.split(",")]
    runs: list[dict] = []
    for repeat in range(args.repeats):
        # odd repeats run the sides in reverse, so no side always meets the same machine state
        for side, batch in sides if repeat % 2 == 0 else sides[::-1]:
            out = str(work / f"{side}-{batch}-{repeat}")
            spawn(
                [
                    "--worker",
                    "corpus",
                    "--side",
                    side,
                    "--batch-size",
                    str(batch),
                    "--batch-tokens",
                    str(args.batch_tokens),
                    "--k",
                    str(args.k),
                    "--chunk-size",
                    str(args.chunk_size),
                    "--sentences",
                    str(work / "sentences.txt"),
                    "--out",
                    out,
                ],
                timeout=7200,
            )
            row = json.loads(Path(out + ".json").read_text())
            row["repeat"] = repeat
            runs.append(row)
            print(
                f"  {side} batch {batch} repeat {repeat}: {row['total_s']:.1f}s, "
                f"peak RSS {row['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    embeddings = np.load(work / f"ours-{args.batch_size}-0-embeddings.npy")
    ours = neighbour_sets(np.load(work / f"ours-{args.batch_size}-0.npy"), len(sentences))
    comparison = {}
    for side, batch in sides[1:]:
        theirs = neighbour_sets(np.load(work / f"{side}-{batch}-0.npy"), len(sentences))
        comparison[_name(side, batch)] = explain(ours, theirs, embeddings, args.k)
    return {
        "sentences": len(sentences),
        "sources": sources,
        "k": args.k,
        "runs": runs,
        "comparison": comparison,
    }


def _name(side: str, batch: int) -> str:
    return f"{side.replace('-', '_')}_batch_{batch}"


def run_search(args: argparse.Namespace, work: Path) -> dict:
    vectors = []
    if args.real_vectors:  # a mining cache folder (its embedding chunks) or an .npy file
        source = Path(args.real_vectors)
        chunks = sorted(source.glob("embeddings-*.npy")) if source.is_dir() else [source]
        embeddings = np.concatenate([np.load(chunk) for chunk in chunks])
        cache = work / "real.npy"
        np.save(cache, embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True))
        vectors.append(("real", str(cache), len(embeddings)))
    elif args.real:
        from transencoder import BiEncoder
        from transencoder.mining import encode_corpus

        sentences, _ = corpus_sentences(Path(args.data_root))
        cache = work / "real.npy"
        embeddings, _ = encode_corpus(
            BiEncoder.from_pretrained("default", device="cpu"),
            sentences,
            batch_size=args.batch_size,
        )
        np.save(cache, embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True))
        vectors.append(("real", str(cache), len(sentences)))
    if not args.real_only:
        vectors.append(("random", "", args.n))
    results = {}
    for name, path, n in vectors:
        common = [
            "--n",
            str(n),
            "--dim",
            str(args.dim),
            "--queries",
            str(args.queries),
            "--chunk-size",
            str(args.search_chunk),
        ] + (["--vectors", path] if path else [])
        rows = []
        plan = [
            ("exact", "", []),
            ("ivf", args.nprobe_sweep, ["--nlist", str(args.nlist or 0)]),
            (
                "hnsw",
                args.ef_sweep,
                ["--hnsw-m", str(args.hnsw_m), "--ef-construction", str(args.ef_construction)],
            ),
        ]
        if args.hnsw_subset:  # HNSW built on the first rows only; its truth: exact on them
            hnsw = ["--hnsw-m", str(args.hnsw_m), "--ef-construction", str(args.ef_construction)]
            subset = ["--subset", str(args.hnsw_subset)]
            plan = [step for step in plan if step[0] != "hnsw"]
            plan += [("exact", "", subset), ("hnsw", args.ef_sweep, subset + hnsw)]
        for method, sweep, extra in plan:
            if method not in args.methods.split(","):
                continue
            size = int(extra[extra.index("--subset") + 1]) if "--subset" in extra else n
            out = str(work / f"{name}-{method}-{size}")
            load = [round(v, 2) for v in os.getloadavg()]  # each row's own conditions
            spawn(
                [
                    "--worker",
                    "search",
                    "--method",
                    method,
                    "--sweep",
                    sweep or "0",
                    "--out",
                    out,
                    *common,
                    *extra,
                ],
                timeout=7200,
            )
            part = json.loads(Path(out + ".json").read_text())
            if method == "exact":
                truth = np.load(out + ".npy")
            for row in part:
                row.update(n=size, load_average_at_start=load)
            rows += part
            print(
                f"  {name} {method} n={size}: {[round(r['search_s'], 1) for r in part]}", flush=True
            )
            for row in part:
                found = np.asarray(row.pop("indices")) if "indices" in row else truth
                row["recall_at_10"] = float(
                    np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
                )
        results[name] = {"n": n, "dim": args.dim, "queries": args.queries, "rows": rows}
    return results


def print_tables(record: dict) -> None:
    if "corpus" in record:
        part = record["corpus"]
        print(f"\n(a) encode + exact top-{part['k']} on {part['sentences']} distinct sentences")
        print(
            f"{'side':24} {'batches':>13} {'run':>3} {'total s':>8} {'search s':>8} "
            f"{'peak RSS MB':>11}"
        )
        for row in part["runs"]:
            label = {"ours": "transencoder mining", "st": "st paraphrase_mining"}.get(
                row["side"], "st paraphrase_mining bf16"
            )
            batches = f"{row['batch_size']} rows"
            if row.get("batch_tokens"):
                batches = f"{row['batch_tokens']} tokens"
            search = f"{row['search_s']:8.1f}" if "search_s" in row else f"{'-':>8}"
            print(
                f"{label:24} {batches:>13} {row['repeat']:3d} {row['total_s']:8.1f} {search} "
                f"{row['peak_rss_mb']:11.0f}"
            )
        for name, row in part["ratios"].items():
            print(
                f"ratio vs {name}: {row['speedup']:.2f}x faster, peak RSS {row['memory_ratio']:.2f}x of theirs"
            )
        for name, row in part["comparison"].items():
            print(f"output vs {name}: {row}")
        if "roofline" in part:
            roof = part["roofline"]
            print(
                f"forward pass: {roof['tokens']} tokens, {roof['gflop']:.0f} GFLOP; torch GEMM on "
                f"this CPU ({roof['torch_threads']} threads): "
                + ", ".join(f"{k} {v:.0f}" for k, v in roof["gemm_gflops"].items())
                + " GFLOP/s"
            )
            print(
                "achieved: "
                + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in roof["achieved_gflops"].items())
                + f"; floor at the best GEMM rate {roof['floor_s']:.0f} s -> largest speedup "
                + ", ".join(f"vs {k} {v:.2f}x" for k, v in roof["speedup_ceiling"].items())
            )
    for name, part in record.get("search", {}).items():
        print(
            f"\n(b) search, {name} vectors: n={part['n']} dim={part['dim']}, {part['queries']} queries, k=10"
        )
        print(
            f"{'method':8} {'n':>8} {'params':26} {'build s':>8} {'search s':>9} {'total s':>8} {'recall@10':>9} {'peak RSS MB':>11} {'load':>5}"
        )
        for row in part["rows"]:
            params = ", ".join(
                f"{k}={row[k]}"
                for k in ("nlist", "nprobe", "M", "ef_construction", "ef_search")
                if k in row
            )
            print(
                f"{row['method']:8} {row['n']:8d} {params:26} {row['build_s']:8.1f} {row['search_s']:9.1f} "
                f"{row['build_s'] + row['search_s']:8.1f} {row['recall_at_10']:9.4f} {row['peak_rss_mb']:11.0f} "
                f"{row.get('load_average_at_start', [float('nan')])[0]:5.1f}"
            )


def summarise_corpus(part: dict) -> None:
    import statistics

    def median(side, batch, key):
        return statistics.median(
            r[key] for r in part["runs"] if r["side"] == side and r["batch_size"] == batch
        )

    theirs = sorted({(r["side"], r["batch_size"]) for r in part["runs"] if r["side"] != "ours"})
    ours_batch = next(r["batch_size"] for r in part["runs"] if r["side"] == "ours")
    part["ratios"] = {
        _name(side, b): {
            "speedup": round(median(side, b, "total_s") / median("ours", ours_batch, "total_s"), 3),
            "memory_ratio": round(
                median("ours", ours_batch, "peak_rss_mb") / median(side, b, "peak_rss_mb"), 3
            ),
        }
        for side, b in theirs
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part",
        choices=("corpus", "search", "both", "roofline"),
        default="both",
        help="roofline: add the FLOP count and GEMM rate to the recorded (a) (needs --append)",
    )
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--skip-sides",
        default="",
        help="corpus: sides to leave out, e.g. st:32 (side:batch; sides: ours, st, st-bf16)",
    )
    parser.add_argument(
        "--batch-tokens", type=int, default=8192, help="ours: token budget per batch (0: off)"
    )
    parser.add_argument("--chunk-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--search-chunk", type=int, default=4096)
    parser.add_argument("--methods", default="exact,ivf,hnsw")
    parser.add_argument("--nlist", type=int)
    parser.add_argument("--nprobe-sweep", default="16,64,256")
    parser.add_argument("--ef-sweep", default="64,256")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument(
        "--hnsw-subset", type=int, help="(b) build HNSW on the first N vectors only"
    )
    parser.add_argument("--subset", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--real", action="store_true", help="(b) also on the corpus's embeddings")
    parser.add_argument(
        "--real-only", action="store_true", help="(b) only on the corpus's embeddings"
    )
    parser.add_argument(
        "--real-vectors", help="(b) embeddings to search: a mining cache folder or an .npy file"
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the other part of --output (and, in (b), the rows of methods not re-run)",
    )
    parser.add_argument("--output", default="eval/results/mining.json")
    # worker mode (internal)
    parser.add_argument("--worker", choices=("corpus", "search", "gemm"))
    parser.add_argument("--side")
    parser.add_argument("--sentences")
    parser.add_argument("--method")
    parser.add_argument("--sweep")
    parser.add_argument("--vectors")
    parser.add_argument("--threads", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker == "corpus":
        return worker_corpus(args)
    if args.worker == "gemm":
        return worker_gemm(args)
    if args.worker == "search":
        if args.nlist == 0:
            args.nlist = None
        return worker_search(args)

    import torch

    output = Path(args.output)
    record = json.loads(output.read_text()) if args.append and output.is_file() else {}
    record["commands"] = [*record.get("commands", []), " ".join(sys.argv)]
    meta = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "load_average_at_start": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    if args.part != "roofline":  # a roofline alone keeps the timed runs' meta; it has its own
        record["meta"] = meta
    with tempfile.TemporaryDirectory(prefix="bench-mining-") as folder:
        if args.part in ("corpus", "both"):
            record["corpus"] = run_corpus(args, Path(folder))
            summarise_corpus(record["corpus"])
        if args.part in ("corpus", "both", "roofline"):
            if "corpus" not in record:
                raise SystemExit(f"--part roofline needs (a) in {output} (and --append)")
            roofline = run_roofline(args, Path(folder), record["corpus"])
            record["corpus"]["roofline"] = {**roofline, "meta": meta}
        if args.part in ("search", "both"):
            merge_search(record.setdefault("search", {}), run_search(args, Path(folder)), args)
    meta["load_average_at_end"] = os.getloadavg()
    print_tables(record)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
