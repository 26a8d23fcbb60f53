"""Tracking through Accelerate's TensorBoard tracker: what is logged reads back from the event
files exactly, on one run-wide step axis that a resumed run keeps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from transencoder.errors import UsageError
from transencoder.training import tracking
from transencoder.training.tracking import PROJECT, Tracker, flatten_settings, parse_report_to

pytest.importorskip("tensorboard")

ROOT = Path(__file__).resolve().parents[2]


def _result(spearman: float, **tasks) -> dict:
    """A report-shaped result: STS tasks given as spearman, pair tasks as {"auc": ...} dicts."""
    rows = {
        name: value
        if isinstance(value, dict)
        else {"spearman": value, "pearson": value - 1, "n": 9}
        for name, value in tasks.items()
    }
    return {"tasks": rows, "average": {"spearman": spearman, "pearson": spearman - 1}, "n": 9}


def _scalars(logging_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logging_dir / PROJECT), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))  # TensorBoard stores float32


def test_train_steps_read_back_on_one_axis_across_phases(tmp_path):
    tracker = Tracker(["tensorboard"], tmp_path, {"cycles": 2})
    logged = []  # (phase, cycle, step, loss, lr) in call order
    for phase, cycle, steps in (("cross", 1, 3), ("bi", 1, 2), ("cross", 2, 2)):
        for step in range(1, steps + 1):
            loss, lr = 1.0 / (step + cycle) + len(phase), 2e-5 * step / steps
            tracker.log_train(phase, cycle, step, loss, lr)
            logged.append((phase, cycle, step, loss, lr))
    tracker.close()
    scalars = _scalars(tmp_path)
    global_steps = list(range(1, len(logged) + 1))  # phases follow each other on the axis
    for phase in ("cross", "bi"):
        mine = [(at, entry) for at, entry in zip(global_steps, logged) if entry[0] == phase]
        losses = scalars[f"train/{phase}/loss"]
        lrs = scalars[f"train/{phase}/lr"]
        assert [step for step, _ in losses] == [at for at, _ in mine]
        assert all(_close(v, e[3]) for (_, v), (_, e) in zip(losses, mine))
        assert all(_close(v, e[4]) for (_, v), (_, e) in zip(lrs, mine))
    assert [value for _, value in scalars["train/cycle"]] == [e[1] for e in logged]


def test_eval_rows_read_back_with_the_report_figures(tmp_path):
    tracker = Tracker("tensorboard", tmp_path)
    qqp = {"auc": 84.5, "ap": 70.0, "accuracy": 75.0, "f1": 70.0, "n": 40, "positives": 10}
    rows = [
        ("start", {"bi": _result(76.25, STS12=70.5, STSB=82.0)}),
        (
            "cycle 1",
            {
                "bi": _result(78.5, STS12=72.25, STSB=84.75, QQP=qqp),
                "cross": _result(77.0, STS12=71.0, STSB=83.0),
                "_dev": {"bi": _result(90.0, STSB=90.0)},
            },
        ),
        ("average", {"bi": _result(79.0, STS12=73.5, STSB=84.5)}),
    ]
    tracker.log_eval(*rows[0])
    for step in (1, 2):
        tracker.log_train("bi", 1, step, 0.5, 1e-5)
    for row in rows[1:]:
        tracker.log_eval(*row)
    tracker.close()
    scalars = _scalars(tmp_path)
    assert scalars["eval/bi/STS12/spearman"] == [(0, 70.5), (2, 72.25)]  # start, then cycle 1
    assert scalars["eval/bi/average/spearman"] == [(0, 76.25), (2, 78.5)]
    assert scalars["eval/bi/QQP/auc"] == [(2, 84.5)]  # a pair task's primary metric
    assert scalars["eval/cross/STSB/spearman"] == [(2, 83.0)]
    assert scalars["eval/average-bi/STS12/spearman"] == [(2, 73.5)]  # apart from the cycles
    assert scalars["eval/average-bi/average/spearman"] == [(2, 79.0)]
    assert not any("_dev" in tag or "90" in tag for tag in scalars)
    expected = {
        f"eval/{name}/{task}/{'auc' if task == 'QQP' else 'spearman'}"
        for label, result in rows
        for tag, r in result.items()
        if not tag.startswith("_")
        for name in [tag if label != "average" else f"average-{tag}"]
        for task in [*r["tasks"], "average"]
    }
    assert {tag for tag in scalars if tag.startswith("eval/")} == expected


def test_a_resumed_run_keeps_each_phase_on_its_steps(tmp_path):
    first = Tracker(["tensorboard"], tmp_path)
    for step in range(1, 6):
        first.log_train("cross", 1, step, 0.1 * step, 1e-5)
    first.close()  # the run stops here, or is killed: the axis is on disk after every step
    second = Tracker(["tensorboard"], tmp_path)
    assert second.global_step("cross", 1, 4) == 4  # the interrupted phase resumes in place
    second.log_train("bi", 1, 1, 0.5, 1e-5)
    assert second.global_step("bi", 1, 1) == 6  # a new phase starts after the last step logged
    second.close()


def test_settings_are_logged_flattened(tmp_path):
    import yaml

    settings = {
        "recipe": "official",
        "cycles": 3,
        "models": ["a", "b"],
        "device": None,
        "bi": {"lr": 5e-5, "max_steps": None},
        "average_bi": True,
    }
    flat = flatten_settings(settings)
    assert flat == {
        "recipe": "official",
        "cycles": 3,
        "models": "a,b",
        "device": "none",
        "bi.lr": 5e-5,
        "bi.max_steps": "none",
        "average_bi": True,
    }
    Tracker(["tensorboard"], tmp_path, settings).close()
    (stored,) = (tmp_path / PROJECT).glob("*/hparams.yml")  # what Accelerate's tracker wrote
    assert yaml.safe_load(stored.read_text()) == flat


def test_report_to_names():
    assert parse_report_to(None) == parse_report_to("none") == parse_report_to("") == []
    assert parse_report_to("TensorBoard, wandb,tensorboard") == ["tensorboard", "wandb"]
    assert parse_report_to(["mlflow", "trackio"]) == ["mlflow", "trackio"]
    with pytest.raises(UsageError, match="comet.*unknown tracker"):
        parse_report_to("tensorboard,comet")
    with pytest.raises(UsageError, match="'none' cannot be combined"):
        parse_report_to("none,tensorboard")


def test_a_missing_tracker_package_is_a_usage_error_before_anything_starts(tmp_path, monkeypatch):
    import accelerate
    import accelerate.utils

    monkeypatch.setattr(accelerate.utils, "is_wandb_available", lambda: False)

    def no_accelerator(*args, **kwargs):
        raise AssertionError("an Accelerator was created before the check")

    monkeypatch.setattr(accelerate, "Accelerator", no_accelerator)
    with pytest.raises(UsageError, match=r"--report-to wandb needs `pip install wandb`") as info:
        Tracker(["tensorboard", "wandb"], tmp_path)
    assert info.value.exit_code == 2
    assert not any(tmp_path.iterdir())


def test_no_tracking_does_nothing(tmp_path):
    tracker = Tracker("none", tmp_path / "logs")
    tracker.log_train("bi", 1, 1, 0.5, 1e-5)
    tracker.log_eval("cycle 1", {"bi": _result(70.0, STSB=70.0)})
    tracker.close()
    assert not tracker.enabled and not (tmp_path / "logs").exists()


LAUNCHED = """
import sys
from pathlib import Path

import torch.distributed as dist

from transencoder.training.tracking import Tracker

logging_dir = Path(sys.argv[1])
tracker = Tracker(["tensorboard"], logging_dir, {"seed": 1})  # before the run's Accelerator
from accelerate import Accelerator

accelerator = Accelerator(cpu=True)  # as training.runtime.DistributedRuntime creates it
world = dist.group.WORLD
rank = accelerator.process_index
assert accelerator.num_processes == 2 and tracker.accelerator.process_index == rank
tracker.log_train("cross", 1, 1, loss=0.5 + rank, lr=1e-5)
tracker.log_eval("cycle 1", {"bi": {"tasks": {"STSB": {"spearman": 80.0 + rank}},
                                    "average": {"spearman": 80.0 + rank}}})
tracker.close()
dist.barrier()  # close() left the process group usable
assert dist.group.WORLD is world
print(f"TRACKED rank {rank}", flush=True)
"""


@pytest.mark.multiprocess
def test_under_a_distributed_launch_only_the_main_process_logs(tmp_path):
    script = tmp_path / "launched.py"
    script.write_text(textwrap.dedent(LAUNCHED))
    env = dict(
        os.environ,
        ACCELERATE_USE_CPU="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "distributed" / "ddp.yaml"),
        "--num_processes",
        "2",
        "--main_process_port",
        "0",
        str(script),
        str(tmp_path / "logs"),
    ]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "TRACKED rank 0" in output and "TRACKED rank 1" in output, (
        output[-4000:]
    )
    scalars = _scalars(tmp_path / "logs")
    assert scalars["train/cross/loss"] == [(1, 0.5)]  # rank 0's value, once
    assert scalars["eval/bi/STSB/spearman"] == [(1, 80.0)]
    assert len(list((tmp_path / "logs" / PROJECT).glob("events.out.tfevents.*"))) == 1
    assert tracking.STEPS_FILE in os.listdir(tmp_path / "logs")
