"""Experiment tracking through Accelerate's trackers: TensorBoard, Trackio, W&B, MLflow.

    >>> tracker = Tracker(["tensorboard"], out / "logs", config.to_dict())
    >>> tracker.log_train("cross", cycle=1, step=20, loss=0.61, lr=2e-5)
    >>> tracker.log_eval("cycle 1", {"bi": bi_result, "cross": cross_result})
    >>> tracker.close()

Logging goes through ``accelerate.Accelerator(log_with=..., project_dir=...)``,
``init_trackers`` and ``accelerator.log``; Accelerate runs all three on the main process only.
Accelerate's state is one object per process shared by every ``Accelerator``: the tracker's
``Accelerator`` joins the process group a distributed launch already set up (or that a later
``Accelerator`` sets up, created with the same ``cpu`` choice as ``training.runtime``) and never
creates a second one. :meth:`Tracker.close` finishes the trackers without
``Accelerator.end_training``, which would also destroy that process group.

Steps: every training phase's steps continue the previous phase's on one global axis, so the
curves of a run read left to right. The axis is kept in ``<logging_dir>/tracker_steps.json``
(each phase's first global step, and the last step logged): a resumed run puts a phase's steps
where the unbroken run put them, and TensorBoard drops the points a restarted phase logs again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError

REPORT_TO = ("tensorboard", "trackio", "wandb", "mlflow")
PROJECT = "transencoder"
STEPS_FILE = "tracker_steps.json"
_PRIMARY = {"sts": "spearman", "pair": "auc"}


def parse_report_to(report_to: str | Sequence[str] | None) -> list[str]:
    """The trackers ``--report-to`` names: a list or a comma-separated string; ``none`` or an
    empty value means no tracking.

    Raises:
        UsageError: an unknown name, or ``none`` together with a tracker.
    """
    if report_to is None:
        return []
    items = report_to.split(",") if isinstance(report_to, str) else list(report_to)
    names = list(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    unknown = [name for name in names if name not in (*REPORT_TO, "none")]
    if unknown:
        raise UsageError(
            f"--report-to {','.join(unknown)}: unknown tracker; choose from "
            f"{', '.join(REPORT_TO)} or none (several: --report-to tensorboard,wandb)"
        )
    if "none" in names and len(names) > 1:
        raise UsageError(f"--report-to {','.join(names)}: 'none' cannot be combined with a tracker")
    return [name for name in names if name != "none"]


def check_installed(names: Sequence[str]) -> None:
    """Raise a :class:`UsageError` naming the package to install for each missing tracker."""
    from accelerate.utils import (
        is_mlflow_available,
        is_tensorboard_available,
        is_trackio_available,
        is_wandb_available,
    )

    available = {
        "tensorboard": is_tensorboard_available,
        "trackio": is_trackio_available,
        "wandb": is_wandb_available,
        "mlflow": is_mlflow_available,
    }
    missing = [name for name in names if not available[name]()]
    if missing:
        raise UsageError(
            "; ".join(f"--report-to {name} needs `pip install {name}`" for name in missing)
        )


def flatten_settings(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as flat hyper-parameters (``{"bi": {"lr": 1}}`` -> ``{"bi.lr": 1}``)
    of the types every tracker accepts: lists joined by commas, None as ``"none"``."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_settings(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = ",".join(str(item) for item in value)
        elif value is None:
            flat[name] = "none"
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def eval_values(row: str, results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The scalars :meth:`Tracker.log_eval` logs for one report row.

    Per model tag, each task's primary metric (Spearman x100 for a similarity task, ROC-AUC
    x100 for pair classification) as ``eval/<tag>/<task>/<metric>`` and the average as
    ``eval/<tag>/average/<metric>``. The start, primed and cycle rows share tags (one curve per
    task across the run); any other row (``"average"``: the averaged bi-encoder) is logged
    under its own tag, ``eval/<row>-<tag>/...``, so its points stay apart from the cycles'.
    """
    from ..results import task_family

    curve = row in ("start", "primed") or row.startswith("cycle ")
    values: dict[str, float] = {}
    for tag, result in results.items():
        if tag.startswith("_"):  # e.g. "_dev": the selection split, not a reported row
            continue
        name = tag if curve else f"{row.replace(' ', '-')}-{tag}"
        for task, scores in (result.get("tasks") or {}).items():
            metric = _PRIMARY[task_family(scores)]
            values[f"eval/{name}/{task}/{metric}"] = float(scores[metric])
        for metric in _PRIMARY.values():
            if metric in (result.get("average") or {}):
                values[f"eval/{name}/average/{metric}"] = float(result["average"][metric])
    return values


class Tracker:
    """Logs a run's training curves, evaluations and settings to Accelerate's trackers.

    Args:
        report_to: tracker names (``tensorboard``, ``trackio``, ``wandb``, ``mlflow``), a
            comma-separated string, or ``none``/None/empty for no tracking (then every method
            does nothing).
        logging_dir: where local trackers write (TensorBoard: ``<logging_dir>/<project>``).
        settings: the run's settings (e.g. ``TrainConfig.to_dict()``), logged flattened as
            hyper-parameters.
        project: the project (W&B, Trackio, MLflow experiment) and TensorBoard run folder name.

    Raises:
        UsageError: an unknown tracker, or a tracker whose package is not installed; raised on
            every process before anything is logged.
    """

    def __init__(
        self,
        report_to: str | Sequence[str] | None,
        logging_dir: str | Path,
        settings: Mapping[str, Any] | None = None,
        *,
        project: str = PROJECT,
    ) -> None:
        self.names = parse_report_to(report_to)
        check_installed(self.names)
        self.logging_dir = Path(logging_dir)
        self.accelerator = None
        self._bases: dict[str, int] = {}  # phase key -> global step before its first step
        self._last = 0  # the highest global step logged so far
        self._phase: str | None = None
        if not self.names:
            return
        import torch
        from accelerate import Accelerator

        # cpu= as training.runtime.DistributedRuntime creates its Accelerator: whichever comes
        # first sets up the shared state, the other joins it unchanged.
        self.accelerator = Accelerator(
            cpu=not torch.cuda.is_available(),
            log_with=self.names,
            project_dir=str(self.logging_dir),
        )
        self._load_steps()
        self.accelerator.init_trackers(project, config=flatten_settings(settings or {}))

    @property
    def enabled(self) -> bool:
        return self.accelerator is not None

    @property
    def is_main_process(self) -> bool:
        return self.accelerator is None or self.accelerator.is_main_process

    def global_step(self, phase: str, cycle: int, step: int) -> int:
        """The run-wide step of ``step`` (1 = a phase's first optimizer step) of a phase."""
        key = f"cycle {cycle}/{phase}"
        if key not in self._bases:
            self._bases[key] = self._last
        return self._bases[key] + step

    def log_train(self, phase: str, cycle: int, step: int, loss: float, lr: float) -> None:
        """One optimizer step of a training phase.

        Args:
            phase: the phase's model, as tags show it (``prime``, ``cross``, ``bi``, ``cross-2``).
            cycle: its cycle (0 for priming).
            step: the optimizer step within the phase, from 1 (a resumed phase goes on counting).
            loss: the step's training loss; lr: the learning rate it used.
        """
        if not self.enabled:
            return
        at = self.global_step(phase, cycle, step)
        self._last = max(self._last, at)
        values = {f"train/{phase}/loss": float(loss), f"train/{phase}/lr": float(lr)}
        self.accelerator.log({**values, "train/cycle": cycle}, step=at)
        self._save_steps()

    def log_eval(self, row: str, results: Mapping[str, Mapping[str, Any]]) -> None:
        """One evaluation row of the report (``"start"``, ``"cycle 2"``, ``"average"``), with
        ``results`` = ``{model tag: StsResult.to_dict()}``, at the current global step."""
        if not self.enabled:
            return
        self.accelerator.log(eval_values(row, results), step=self._last)

    def close(self) -> None:
        """Finish every tracker (flush and close its files or run); the process group stays."""
        if not self.enabled:
            return
        for tracker in self.accelerator.trackers:
            tracker.finish()
        self.accelerator.trackers = []
        self.accelerator = None

    # ------------------------------------------------------------------ the step axis
    def _load_steps(self) -> None:
        path = self.logging_dir / STEPS_FILE
        if path.is_file():
            state = json.loads(path.read_text(encoding="utf-8"))
            self._bases = {str(k): int(v) for k, v in state.get("phases", {}).items()}
            self._last = int(state.get("last", 0))

    def _save_steps(self) -> None:
        """Rewrite the step axis (main process; a temporary file, then a rename: a crash leaves
        the previous version, never a torn one). No fsync: it runs on every logged step, and
        losing the last steps' record only moves a later phase's curve, never a model."""
        if not self.is_main_process:
            return
        from ..files import atomic_write_text

        text = json.dumps({"phases": self._bases, "last": self._last})
        atomic_write_text(self.logging_dir / STEPS_FILE, text, sync=False)
