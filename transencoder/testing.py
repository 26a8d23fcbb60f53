"""Tiny random models for tests and examples: no network, seconds to build.

>>> path = tiny_bert_dir(tmp_path / "tiny")        # a transformers BERT directory
>>> BiEncoder.from_pretrained(path); CrossEncoder.from_pretrained(path)
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

_WORDS = (
    "a an the man woman child dog cat bird horse car bike guitar piano ball phone book house tree "
    "road water food is are was plays play playing rides riding eats eating runs running sits sitting "
    "on in at with near under over and or not big small red blue green old young two three many "
    "some people someone something street park field kitchen table chair music game slowly quickly "
    "today yesterday . , ' s"
).split()
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def tiny_bert_dir(
    path: str | os.PathLike[str],
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    seed: int = 0,
    dropout: float = 0.1,
) -> Path:
    """Write a randomly initialised BERT (config, safetensors weights, word-level vocab)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    vocab.write_text(
        "\n".join(SPECIAL_TOKENS + tuple(dict.fromkeys(_WORDS))) + "\n", encoding="utf-8"
    )
    tokenizer = BertTokenizerFast(str(vocab), do_lower_case=True, model_max_length=128)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = BertModel(config)
    torch.random.set_rng_state(generator_state)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def tiny_sentences() -> list[str]:
    """A few dozen short sentences over the tiny vocabulary."""
    subjects = ["a man", "a woman", "the child", "a dog", "the cat", "two people", "someone"]
    actions = [
        "plays a guitar",
        "rides a bike",
        "eats food",
        "runs in the park",
        "sits on a chair",
        "plays the piano",
        "is playing with a ball",
    ]
    return [
        f"{s} {a} ."
        for i, s in enumerate(subjects)
        for j, a in enumerate(actions)
        if (i + j) % 2 == 0
    ]


# A SICK release file as the test set ships it (header, tab separated, CRLF): five pairs.
SICK_HEADER = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"
SICK_ROWS = [
    (
        "1",
        "A group of kids is playing in a yard",
        "A group of boys in a yard is playing",
        "4.5",
        "NEUTRAL",
    ),
    ("2", "A man is playing a guitar", "A woman is slicing an onion", "1.2", "NEUTRAL"),
    ("3", "Two dogs are fighting", "Two dogs are wrestling and hugging", "4.0", "NEUTRAL"),
    ("4", "A person is riding a horse", "A horse is being ridden by a person", "4.9", "ENTAILMENT"),
    ("5", "The cat is sleeping", "Nobody is cooking food", "1.0", "NEUTRAL"),
]


def write_sick(path: Path, rows=SICK_ROWS, newline: str = "\r\n") -> Path:
    """A SICK release file as the test set ships it: header row, tab separated, CRLF."""
    lines = [SICK_HEADER] + ["\t".join(row) for row in rows]
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return path
