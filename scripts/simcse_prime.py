"""SimCSE / Mirror-BERT priming of a language model on unlabelled sentences (step 1 of the paper).

    python scripts/simcse_prime.py --model bert-base-uncased --data-dir DATA --output primed/
    python scripts/simcse_prime.py --method mirror ...   # Mirror-BERT: span masking, mean pooling, tau 0.04

Official hyper-parameters: temperature 0.05, CLS pooling with an MLP during training only,
max length 32, batch 64, lr 3e-5, 1 epoch.
"""

from __future__ import annotations

import argparse

from transencoder import BiEncoder
from transencoder.training import PrimingConfig, prime_bi_encoder
from transencoder.training.pairs import pool_from_data_dir, pool_from_pairs_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data-dir")
    source.add_argument("--pairs")
    parser.add_argument("--output", required=True)
    parser.add_argument("--method", choices=("simcse", "mirror"), default="simcse")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--max-steps", type=int)
    args = parser.parse_args()
    pool = pool_from_data_dir(args.data_dir) if args.data_dir else pool_from_pairs_file(args.pairs)
    sentences = [sentence for pair in pool.pairs for sentence in pair]
    mirror = args.method == "mirror"
    bi = BiEncoder.from_pretrained(args.model, pooling="mean" if mirror else "cls")
    config = PrimingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        temperature=0.04 if mirror else 0.05,
        max_steps=args.max_steps,
    )
    stats = prime_bi_encoder(
        bi, sentences, config, method=args.method, seed=args.seed, show_progress_bar=True
    )
    bi.save(args.output)
    print(f"primed on {len(set(sentences))} sentences: {stats.to_dict()}; saved to {args.output}")


if __name__ == "__main__":
    main()
