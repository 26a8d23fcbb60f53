"""Task names: the aliases of each benchmark, and choosing the tasks a user asked for (the one
place a task that is not there is reported, for STS and pair tasks alike)."""

from __future__ import annotations

from collections.abc import Sequence

from .data import DataFormatError

_ALIASES = {
    "STSBENCHMARK": "STSB",
    "STS-B": "STSB",
    "STSB": "STSB",
    "SICK": "SICKR",
    "SICK-R": "SICKR",
    "SICKRELATEDNESS": "SICKR",
    "SICKR": "SICKR",
}
_PAIR_ALIASES = {"MSRP": "MRPC", "QUORA": "QQP", "PAWS-WIKI": "PAWS", "PAWSWIKI": "PAWS"}


def canonical_task_name(name: str) -> str:
    upper = name.strip().upper()
    return _ALIASES.get(upper, upper)


def canonical_pair_name(name: str) -> str:
    upper = name.strip().upper()
    return _PAIR_ALIASES.get(upper, upper)


def task_matches(task, wanted: str) -> bool:
    """``wanted`` names this task: its full name, or (pair tasks) its benchmark (``MRPC``)."""
    family = getattr(task, "family", None)
    return task.name.upper() == wanted.upper() or (
        family is not None and family == canonical_pair_name(wanted)
    )


def select_tasks(found: list, tasks: Sequence[str] | None, where: str, canonical=None) -> list:
    """The requested tasks, in the order asked; a name that matches nothing is an error."""
    if not tasks:
        return found
    chosen: list = []
    missing = []
    for name in tasks:
        wanted = canonical(name) if canonical else name
        matches = [t for t in found if task_matches(t, wanted) or task_matches(t, name)]
        if not matches:
            missing.append(name)
        chosen.extend(t for t in matches if all(t is not c for c in chosen))
    if missing:
        raise DataFormatError(
            where,
            None,
            f"task(s) {', '.join(missing)} not found "
            f"(found: {', '.join(t.name for t in found) or 'none'})",
            "the requested tasks",
        )
    return chosen


def check_unique(tasks: Sequence, where: str) -> None:
    """Two tasks of one name (e.g. two PAWS dev files) cannot both be reported."""
    seen: dict[str, object] = {}
    for task in tasks:
        key = task.name.upper()
        if key in seen:
            raise DataFormatError(
                where,
                None,
                f"{task.name} found twice: {seen[key].source} and {task.source}",
                "each task once; point --data-dir at one of them",
            )
        seen[key] = task
