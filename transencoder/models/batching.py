"""Tokenise once, batch by length, pad per batch.

Inference and training share these helpers: every text is tokenised a single time (one call of a
fast tokenizer over the whole list), batches are cut from the texts sorted by token count so
that a batch pads only to its own longest member, and padding happens when a batch is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def wants_token_type_ids(tokenizer) -> bool:
    """BERT-style models take segment ids; RoBERTa/DistilBERT-style ones do not."""
    return "token_type_ids" in getattr(tokenizer, "model_input_names", ())


def tokenize_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text (special tokens included, truncated to ``max_length``)."""
    if not texts:
        return []
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return encoded["input_ids"]


def tokenize_pairs(
    tokenizer, firsts: Sequence[str], seconds: Sequence[str], max_length: int
) -> tuple[list[list[int]], list[list[int]] | None]:
    """Token ids (and segment ids where the model uses them) of ``[CLS] a [SEP] b [SEP]``."""
    if not firsts:
        return [], ([] if wants_token_type_ids(tokenizer) else None)
    use_types = wants_token_type_ids(tokenizer)
    encoded = tokenizer(
        list(firsts),
        list(seconds),
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=use_types,
    )
    return encoded["input_ids"], (encoded["token_type_ids"] if use_types else None)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices cut into batches of similar length, longest batch first.

    Longest first makes an out-of-memory error show up on the first batch, not the last.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def pad_batch(
    input_ids: Sequence[Sequence[int]],
    pad_id: int,
    token_type_ids: Sequence[Sequence[int]] | None = None,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Right-pad a batch of id lists to its longest member; returns model keyword arguments."""
    width = max(len(ids) for ids in input_ids)
    rows = len(input_ids)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    types = torch.zeros((rows, width), dtype=torch.long) if token_type_ids is not None else None
    for row, seq in enumerate(input_ids):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
        if types is not None:
            types[row, : len(seq)] = torch.as_tensor(token_type_ids[row], dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = types
    if device is not None:
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
    return batch


def unique_in_order(items: Sequence) -> tuple[list, list[int]]:
    """Distinct items (first-seen order) and, for each input item, its index among them."""
    position: dict = {}
    index = [position.setdefault(item, len(position)) for item in items]
    return list(position), index


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that the attention mask keeps."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def split_pairs(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The first and second sentences of ``(sentence1, sentence2)`` pairs."""
    firsts, seconds = [], []
    for number, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(
                f"pair {number} has {len(pair)} items; expected (sentence1, sentence2)"
            )
        firsts.append(pair[0])
        seconds.append(pair[1])
    return firsts, seconds


def position_limit(config, tokenizer) -> int:
    """The most tokens a model takes: 512, its position embeddings, its tokenizer's limit."""
    limits = [512]
    if getattr(config, "max_position_embeddings", None):
        # RoBERTa-style models reserve two positions for the padding offset.
        offset = 2 if getattr(config, "model_type", "") in {"roberta", "xlm-roberta"} else 0
        limits.append(config.max_position_embeddings - offset)
    model_max = getattr(tokenizer, "model_max_length", None)
    if model_max and model_max < 100_000:
        limits.append(model_max)
    return min(limits)
