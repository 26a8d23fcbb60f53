"""Encode a corpus in chunks, keeping each finished chunk in a cache so a killed run resumes.

The cache lives in ``cache_dir/<key>/``, where the key is a hash of everything the embeddings
depend on: the sentences in order, the model's weights and settings (pooling, normalisation,
maximum length), the batch size and the chunk size. Another corpus or model never reads a stale
entry; the same inputs always find theirs. Each chunk is a ``.npy`` file written atomically, so
a chunk on disk is always complete; at most the chunk in progress is lost to a kill.

Chunks are encoded by :meth:`BiEncoder.embed_token_ids` (the engine of :meth:`BiEncoder.encode`)
in length-sorted batches cut by a token budget, so the embeddings of a resumed run equal those
of an unbroken one bit for bit: a chunk is the same batches either way.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..files import save_npy, write_json
from ..models.batching import length_sorted_batches
from ..precision import resolve

CACHE_VERSION = 1


def model_fingerprint(model) -> str:
    """A hash of a BiEncoder's weights and of the settings that change its embeddings."""
    digest = hashlib.sha256()
    settings = {
        "pooling": model.pooling,
        "normalize": bool(model.normalize),
        "max_seq_length": int(model.max_seq_length),
        "class": type(model).__name__,
        # bf16 and fp32 embeddings differ in their last bits: a cache is one precision's
        "precision": resolve(getattr(model, "precision", "fp32"), model.device),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def sentences_fingerprint(sentences: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(sentence.encode("utf-8") + b"\n")
    return digest.hexdigest()


class EmbeddingCache:
    """Chunk files of one corpus x model x settings under ``root/<key>/``."""

    def __init__(self, root: str | os.PathLike[str], key: str, info: dict) -> None:
        self.folder = Path(root) / key[:24]
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / "manifest.json"
        if not manifest.is_file():
            write_json(manifest, {**info, "key": key, "version": CACHE_VERSION}, ascii_only=False)

    def chunk_path(self, number: int) -> Path:
        return self.folder / f"embeddings-{number:06d}.npy"

    def load(self, number: int, rows: int) -> np.ndarray | None:
        """A finished chunk, or None (absent, or not the expected number of rows)."""
        path = self.chunk_path(number)
        if not path.is_file():
            return None
        array = np.load(path, allow_pickle=False)
        return array if array.shape[0] == rows and array.dtype == np.float32 else None

    def save(self, number: int, array: np.ndarray) -> None:
        save_npy(self.chunk_path(number), array.astype(np.float32, copy=False))

    def path(self, name: str) -> Path:
        """A file for a later phase (e.g. the neighbours), in this corpus's folder."""
        return self.folder / name


def open_cache(
    cache_dir: str | os.PathLike[str] | None,
    sentences: Sequence[str],
    model,
    *,
    batch_size: int,
    batch_tokens: int | None,
    chunk: int,
) -> EmbeddingCache | None:
    if cache_dir is None:
        return None
    info = {
        "sentences": len(sentences),
        "sentences_sha256": sentences_fingerprint(sentences),
        "model": getattr(model, "name_or_path", type(model).__name__),
        "model_sha256": model_fingerprint(model),
        "batch_size": batch_size,
        "batch_tokens": batch_tokens,
        "encode_chunk": chunk,
    }
    key = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()
    return EmbeddingCache(cache_dir, key, info)


def chunk_spans(n: int, chunk: int) -> list[range]:
    return [range(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def encode_batches(
    lengths: Sequence[int], *, batch_size: int, batch_tokens: int | None
) -> list[list[int]]:
    """The batches of one chunk, longest sentences first.

    With ``batch_tokens``, a batch takes as many sentences as fit that many padded tokens (rows
    x its longest member): short sentences go in large batches (faster matrix products on a
    CPU), long ones in small batches (bounded activation memory). Without it, ``batch_size``
    rows each, exactly the batches :meth:`BiEncoder.encode` forms.
    """
    if batch_tokens is None:
        return length_sorted_batches(lengths, batch_size)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, start = [], 0
    while start < len(order):
        rows = max(1, batch_tokens // max(1, lengths[order[start]]))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def embed_batches(
    model, token_ids: Sequence[Sequence[int]], batches: Sequence[Sequence[int]], bar=None
) -> np.ndarray:
    """``(sum of batch sizes, dim)`` embeddings of the given batches, rows in batch order.

    Each batch is one call of :meth:`BiEncoder.embed_token_ids` (the engine of
    :meth:`BiEncoder.encode`) with the batch as its only batch, so the padding, and therefore
    every bit of the embeddings, depends on the batch alone.
    """
    rows = [i for batch in batches for i in batch]
    out = np.empty((len(rows), int(model.encoder.config.hidden_size)), dtype=np.float32)
    start = 0
    for batch in batches:
        vectors = model.embed_token_ids(
            [token_ids[i] for i in batch], batch_size=len(batch), show_progress_bar=False
        )
        out[start : start + len(batch)] = vectors.numpy()
        start += len(batch)
        if bar is not None:
            bar.update(len(batch))
    return out


def encode_corpus(
    model,
    sentences: Sequence[str],
    *,
    batch_size: int = 128,
    batch_tokens: int | None = 8192,
    chunk: int = 16384,
    cache: EmbeddingCache | None = None,
    show_progress_bar: bool | None = None,
) -> tuple[np.ndarray, int]:
    """``(n, dim)`` float32 embeddings of distinct ``sentences``, and how many were encoded now
    (the rest came from the cache). With ``batch_tokens=None`` they equal
    ``model.encode(sentences, batch_size=batch_size)`` bit for bit, chunk by chunk."""
    from ..progress import progress_default

    out = np.empty((len(sentences), int(model.encoder.config.hidden_size)), dtype=np.float32)
    encoded = 0
    show = progress_default(show_progress_bar)
    with tqdm(total=len(sentences), desc="encode", unit="sentence", disable=not show) as bar:
        for number, span in enumerate(chunk_spans(len(sentences), chunk)):
            array = cache.load(number, len(span)) if cache is not None else None
            if array is None:
                token_ids = model.tokenize([sentences[i] for i in span])
                lengths = [len(ids) for ids in token_ids]
                batches = encode_batches(lengths, batch_size=batch_size, batch_tokens=batch_tokens)
                array = np.empty((len(span), out.shape[1]), dtype=np.float32)
                rows = [i for batch in batches for i in batch]
                array[rows] = embed_batches(model, token_ids, batches, bar)
                encoded += len(span)
                if cache is not None:
                    cache.save(number, array)
            else:
                bar.update(len(span))
            out[span.start : span.stop] = array
    return out, encoded
