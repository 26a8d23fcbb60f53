"""``transencoder mine``: candidate sentence pairs from a corpus (neighbours + random pairs)."""

from __future__ import annotations

import argparse
import time

from ._common import add_precision

NAME = "mine"
HELP = "mine candidate sentence pairs from a corpus for 'transencoder train --pairs'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..mining import MiningConfig
    from ..mining.config import DEDUPE_MODES, INDEXES

    defaults = MiningConfig()
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", help="sentences: a text file (one per line) or a .jsonl/.csv/.tsv with --column"
    )
    source.add_argument(
        "--data-dir", help="an STS data folder: every distinct sentence of its pairs (all splits)"
    )
    parser.add_argument("--column", help="the column (.csv/.tsv header, .jsonl key) of sentences")
    parser.add_argument(
        "--output", required=True, help="pairs file to write (sentence1<TAB>sentence2)"
    )
    parser.add_argument(
        "--summary", help="summary JSON to write (default: OUTPUT's stem + .summary.json)"
    )
    parser.add_argument(
        "--with-scores", action="store_true", help="add the mining cosine as a third column"
    )
    parser.add_argument(
        "--model",
        default="default",
        metavar="PATH|default",
        help="bi-encoder that embeds the corpus, or 'default' (packaged all-MiniLM-L6-v2)",
    )
    parser.add_argument("--k", type=int, default=defaults.k, help="neighbours per sentence")
    parser.add_argument(
        "--min-similarity",
        type=float,
        default=defaults.min_similarity,
        help="neighbours below this cosine are not kept",
    )
    parser.add_argument(
        "--max-similarity",
        type=float,
        default=defaults.max_similarity,
        help="pairs above this cosine are near-duplicates and dropped",
    )
    parser.add_argument(
        "--random-share",
        type=float,
        default=defaults.random_share,
        help="fraction of the pool that is random pairs",
    )
    parser.add_argument(
        "--dedupe",
        choices=DEDUPE_MODES,
        default=defaults.dedupe,
        help="merge input sentences that are equal after collapsing whitespace (exact) or also "
        "case folding (normalized)",
    )
    parser.add_argument(
        "--index",
        choices=INDEXES,
        default=defaults.index,
        help=f"neighbour search (auto: exact up to {defaults.exact_max} sentences, ivf above)",
    )
    parser.add_argument("--nlist", type=int, help="ivf: cells (default 4 * sqrt(N))")
    parser.add_argument("--nprobe", type=int, default=defaults.nprobe, help="ivf: cells per query")
    parser.add_argument("--hnsw-m", type=int, default=defaults.hnsw_m, help="hnsw: graph degree")
    parser.add_argument(
        "--ef-search", type=int, default=defaults.ef_search, help="hnsw: beam width of a search"
    )
    parser.add_argument(
        "--chunk-size", type=int, default=defaults.chunk_size, help="exact: rows per block"
    )
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=defaults.batch_tokens,
        help="cut encoder batches at this many padded tokens (0: --batch-size sentences each)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help="sentences per encoder batch when --batch-tokens is 0",
    )
    parser.add_argument(
        "--encode-chunk",
        type=int,
        default=defaults.encode_chunk,
        help="sentences encoded (and cached) at a time; keep it fixed to reproduce a file",
    )
    parser.add_argument("--seed", type=int, default=0, help="the random pairs' draw")
    parser.add_argument(
        "--cache-dir", help="keep embeddings and neighbours here; a rerun resumes from them"
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_precision(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _corpus(args: argparse.Namespace, dedupe: str):
    from ..errors import UsageError
    from ..mining import build_corpus, read_corpus

    if args.input is not None:
        return read_corpus(args.input, args.column, dedupe=dedupe)
    if args.column is not None:
        raise UsageError("--column applies to --input files, not to --data-dir")
    from ..training import pool_from_data_dir

    pool = pool_from_data_dir(args.data_dir)
    sentences = (sentence for pair in pool.pairs for sentence in pair)
    return build_corpus(sentences, dedupe=dedupe, source=str(args.data_dir))


def _distributed_device(device: str | None) -> str | None:
    """Under ``accelerate launch`` / torchrun (``WORLD_SIZE`` > 1): join the process group; the
    ranks then share the encoding and the search (see :mod:`transencoder.mining.ranks`)."""
    import os

    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) < 2 or dist.is_initialized():
        return device
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    return device or str(accelerator.device)


def run(args: argparse.Namespace) -> int:
    from ..mining import MiningConfig, default_summary_path, mine_pairs
    from ..mining.mine import check_corpus
    from ..mining.ranks import world
    from ..models import BiEncoder

    config = MiningConfig(
        k=args.k,
        min_similarity=args.min_similarity,
        max_similarity=args.max_similarity,
        random_share=args.random_share,
        dedupe=args.dedupe,
        index=args.index,
        nlist=args.nlist,
        nprobe=args.nprobe,
        hnsw_m=args.hnsw_m,
        ef_search=args.ef_search,
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens or None,
        encode_chunk=args.encode_chunk,
    ).validate()
    started = time.perf_counter()
    corpus = _corpus(args, config.dedupe)
    check_corpus(len(corpus), config.k, corpus.source)  # before the model loads: fail fast
    device = _distributed_device(args.device)
    model = BiEncoder.from_pretrained(args.model, device=device, precision=args.precision)
    result = mine_pairs(
        corpus,
        model,
        config,
        seed=args.seed,
        cache_dir=args.cache_dir,
        show_progress_bar=False if args.no_progress else None,
    )
    if world()[1] != 0:  # every rank holds the same result; rank 0 writes it
        return 0
    result.write(args.output, with_scores=args.with_scores)
    result.summary["timing"]["total_s"] = round(time.perf_counter() - started, 3)
    result.summary["world_size"] = world()[0]
    summary = args.summary or default_summary_path(args.output)
    result.write_summary(summary)
    print(result.describe())
    print(
        f"wrote {len(result)} pairs to {args.output} (summary: {summary}) "
        f"in {result.summary['timing']['total_s']:.1f}s"
    )
    return 0
