"""Unlabelled sentence pairs for Trans-Encoder training.

Pairs come from any STS data directory that :mod:`transencoder.eval` reads (the gold scores are
dropped), from a ``sentence1<TAB>sentence2`` file, or from a ``datasets`` object. They are
de-duplicated without regard to order: ``(a, b)`` and ``(b, a)`` are one pair, since the
bi-encoder's cosine is symmetric and the cross-encoder is trained on both orders anyway.

The default pool of a data directory is the paper's transductive one: every pair of every task
found, all splits (STS12-16 test, STS-B train/dev/test, SICK train/trial/test). Reports say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..eval.data import DataFormatError, require_file
from ..eval.find import locate_pair_tasks, locate_tasks
from ..eval.readers import (
    normalize_sentence,
    parse_sentence,
    read_lines,
    split_columns,
)
from ..eval.task_names import canonical_task_name, task_matches

SPLITS = ("train", "dev", "test")


@dataclass
class PairPool:
    """De-duplicated unlabelled pairs and where they came from."""

    pairs: list[tuple[str, str]]
    sources: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    transductive: bool = False
    drawn_from: int | None = None  # the pool's size before ``limit`` drew a subset
    augmented: int = 0  # pairs added by data.augment_to (after the given ones)

    def __len__(self) -> int:
        return len(self.pairs)

    def limit(self, max_pairs: int | None, seed: int) -> PairPool:
        """A seeded random subset of at most ``max_pairs`` pairs (for quick runs)."""
        if max_pairs is None or max_pairs >= len(self.pairs):
            return self
        import random
        from bisect import bisect_left

        chosen = sorted(random.Random(seed).sample(range(len(self.pairs)), max_pairs))
        # Pairs are stored source after source, so each source is a contiguous range.
        sources, start = {}, 0
        for name, count in self.sources.items():
            sources[name] = bisect_left(chosen, start + count) - bisect_left(chosen, start)
            start += count
        return PairPool(
            [self.pairs[i] for i in chosen],
            sources,
            self.duplicates,
            self.transductive,
            len(self.pairs),
        )

    def summary(self) -> dict:
        """What a report says about the pool (recorded in the run's ledger)."""
        return {
            "count": len(self.pairs),
            "sources": dict(self.sources),
            "duplicates_dropped": self.duplicates,
            "transductive": self.transductive,
            "description": self.describe(),
            **({"augmented": self.augmented} if self.augmented else {}),
        }

    def describe(self) -> str:
        parts = ", ".join(f"{name} {count}" for name, count in self.sources.items())
        note = (
            " (transductive: includes evaluation pairs, labels dropped)"
            if self.transductive
            else ""
        )
        size = f"{len(self.pairs)} unique pairs"
        if self.drawn_from is not None:
            size = f"{len(self.pairs)} of {self.drawn_from} unique pairs (a seeded draw)"
        grown = (
            f"; {self.augmented} pairs of its own sentences added (nearest neighbours and random "
            f"pairs, data.augment_to): {len(self.pairs) + self.augmented} in all"
            if self.augmented
            else ""
        )
        return (
            f"{size} [{parts}], {self.duplicates} duplicates dropped from the source{note}{grown}"
        )


def _add(pool: PairPool, seen: set, source: str, pairs: Iterable[tuple[str, str]]) -> None:
    count = 0
    for first, second in pairs:
        key = (first, second) if first <= second else (second, first)
        if key in seen:
            pool.duplicates += 1
            continue
        seen.add(key)
        pool.pairs.append((first, second))
        count += 1
    pool.sources[source] = pool.sources.get(source, 0) + count


def pool_from_data_dir(
    root: str | Path, tasks: Sequence[str] | None = None, splits: Sequence[str] = SPLITS
) -> PairPool:
    """All pairs of the tasks found under ``root``: STS tasks (every split of STS-B and SICK)
    and pair-classification tasks (the labelled split each benchmark folder is evaluated on),
    labels dropped: the paper's transductive pool."""
    wanted = {canonical_task_name(name) for name in tasks} if tasks else None
    pool, seen = PairPool([], transductive=True), set()
    locations = [loc for loc in locate_tasks(root) if wanted is None or loc.task.upper() in wanted]
    pair_tasks = [loc.read() for loc in locate_pair_tasks(root)[0]]
    if wanted:
        pair_tasks = [t for t in pair_tasks if any(task_matches(t, name) for name in wanted)]
        missing = {
            w
            for w in wanted
            if w not in {loc.task.upper() for loc in locations}
            and not any(task_matches(t, w) for t in pair_tasks)
        }
        if missing:
            raise DataFormatError(
                str(root), None, f"task(s) {sorted(missing)} not found", "the pool tasks"
            )
    for location in locations:
        if location.format.splits:  # STS-B, SICK: every split
            for split in splits:
                if location.split_file(split) is not None:
                    _add(pool, seen, f"{location.task}-{split}", location.read_split(split).pairs)
        else:
            _add(pool, seen, location.task, location.read().pairs)
    for task in pair_tasks:
        _add(pool, seen, task.name, task.pairs)
    if not pool.pairs:
        raise DataFormatError(
            str(root), None, "no sentence pairs found", "STS or pair-classification data"
        )
    return pool


def pool_family(root: str | Path, tasks: Sequence[str] | None = None) -> str:
    """``"pair"`` (the family name :func:`transencoder.results.task_family` gives) when the
    pool of a data folder (of its ``tasks``, when given) holds pair-classification tasks and no
    STS task, else ``"sts"``: the family that decides which recipe ``transencoder train``
    defaults to."""
    wanted = {canonical_task_name(name) for name in tasks} if tasks else None
    sts = [loc for loc in locate_tasks(root) if wanted is None or loc.task.upper() in wanted]
    return "pair" if not sts and locate_pair_tasks(root)[0] else "sts"


_HEADER = ("sentence1", "sentence2")


def pool_from_pairs_file(path: str | Path) -> PairPool:
    """A ``sentence1<TAB>sentence2`` file (a third column, e.g. a score, is ignored; a first row
    naming the columns ``sentence1``, ``sentence2`` is a header, as ``eval`` reads it)."""
    path = require_file(path, "--pairs (data.pairs)", "a sentence1<TAB>sentence2 file")
    pairs = []
    lines = read_lines(path)
    first = 1
    if lines and tuple(c.strip().lower() for c in lines[0].split("\t")[:2]) == _HEADER:
        first = 2
    for number, line in enumerate(lines[first - 1 :], start=first):
        fields = split_columns(line, str(path), number, (2, 3), "sentence1, sentence2[, ignored]")
        pairs.append(
            (
                parse_sentence(fields[0], str(path), number, 1),
                parse_sentence(fields[1], str(path), number, 2),
            )
        )
    pool, seen = PairPool([]), set()
    _add(pool, seen, path.name, pairs)
    if not pool.pairs:
        raise DataFormatError(str(path), None, "no pairs", "sentence1<TAB>sentence2 lines")
    return pool


# In the per-domain benchmark (eval/results/domains.json, sections budget_runs and auto_runs: the
# recommended recipe with its 600-step cross budget and auto target scale) runs on pools of
# 1,186-2,000 pairs ended from -0.46 to +1.68 around their start model, PAWS at -1.59; the pooled
# STS pool (13,825 pairs) gained +1.04. Between the two nothing was measured here.
SMALL_POOL = 5000


def load_pool(data, seed: int, log=print) -> PairPool:
    """The pool a run's ``data`` settings describe (after ``max_pairs``), with warnings for a
    pool that shrank to a fraction by de-duplication and a ``max_pairs`` above its size."""
    pool = (
        pool_from_data_dir(data.data_dir, data.pool_tasks)
        if data.data_dir
        else pool_from_pairs_file(data.pairs)
    )
    if not pool.transductive and pool.duplicates:
        log(
            f"warning: {pool.duplicates} of {pool.duplicates + len(pool)} pairs in {data.pairs} repeat an "
            f"earlier pair (in either order) and are dropped: the pool has {len(pool)} pairs"
        )
    if data.max_pairs is not None and data.max_pairs > len(pool):
        log(
            f"warning: max_pairs {data.max_pairs} is above the pool's {len(pool)} pairs; all are used"
        )
    pool = pool.limit(data.max_pairs, seed)
    log(f"pairs: {pool.describe()}")
    if len(pool) < SMALL_POOL:
        log(
            f"warning: {len(pool)} pairs is a small pool: in the per-domain benchmark runs on pools "
            f"under {SMALL_POOL} pairs ended from -0.46 to +5.66 around their start model (README, "
            "'When it helps'); give --dev-data (a small labelled sample) so the run can fall back "
            "to the start"
        )
    return pool


def pool_from_dataset(
    dataset, columns: tuple[str, str] = ("sentence1", "sentence2"), name: str = "dataset"
) -> PairPool:
    """Pairs from a ``datasets.Dataset`` (every split of a ``DatasetDict``)."""
    parts = [dataset[split] for split in dataset] if isinstance(dataset, dict) else [dataset]
    pool, seen = PairPool([]), set()
    for part in parts:
        missing = [c for c in columns if c not in part.column_names]
        if missing:
            raise DataFormatError(
                name,
                None,
                f"columns {missing} missing (has {part.column_names})",
                f"columns {list(columns)}",
            )
        pairs = []
        for row, (a, b) in enumerate(zip(part[columns[0]], part[columns[1]]), start=1):
            pairs.append(
                (parse_sentence(str(a), name, row, 1), parse_sentence(str(b), name, row, 2))
            )
        _add(pool, seen, name, pairs)
    return pool


def both_orders(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``[(a, b), ..., (b, a), ...]``: the cross-encoder's training pairs."""
    return list(pairs) + [(b, a) for a, b in pairs]


__all__ = [
    "SMALL_POOL",
    "PairPool",
    "both_orders",
    "load_pool",
    "normalize_sentence",
    "pool_from_data_dir",
    "pool_from_dataset",
    "pool_from_pairs_file",
]
