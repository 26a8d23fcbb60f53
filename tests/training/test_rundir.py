"""A run directory owned by one run: reproducible priming, the lock, foreign folders, resume by
content, damaged outputs, runs written by an earlier version, and checks before any work."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from transencoder.cli import main
from transencoder.testing import tiny_sentences
from transencoder.training import build_config, load_pool, run_trans_encoder
from transencoder.training.rundir import RunDir, RunDirError


def _pairs_file(folder: Path, count: int = 24, seed: int = 0, name: str = "pairs.tsv") -> Path:
    sentences, rng = tiny_sentences(), random.Random(seed)
    lines = [
        f"{rng.choice(sentences)}\t{rng.choice(sentences)}\t{rng.uniform(0, 5):.2f}"
        for _ in range(count)
    ]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _config(model: Path, pairs: Path, out: Path, cycles: int = 1, **extra):
    values = {
        "models": [str(model)],
        "cycles": cycles,
        "recipe": "official",
        "data": {"pairs": str(pairs), "eval_data_dir": str(pairs)},
        "priming": {"method": "none"},
        "run": {"seed": 5, "output_dir": str(out), "show_progress_bar": False},
        "cross": {"batch_size": 8, "epochs": 1, "min_steps": None},
        "bi": {"batch_size": 8, "epochs": 1},
        **extra,
    }
    return build_config(values)


def _run(config, **kwargs) -> tuple[dict, list[str]]:
    logged: list[str] = []
    return run_trans_encoder(config, log=logged.append, **kwargs), logged


def _ran(logged: list[str]) -> list[str]:
    return [line[3:] for line in logged if line.startswith("== ")]


def test_priming_is_reproducible_whatever_the_global_seed(tiny_model):
    # The SimCSE head is drawn from the phase's seed, not from torch's global state (which
    # differs from process to process).
    from transencoder import BiEncoder
    from transencoder.training import PrimingConfig, prime_bi_encoder

    weights = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        bi = BiEncoder.from_pretrained(tiny_model, pooling="cls", device="cpu")
        stats = prime_bi_encoder(
            bi,
            tiny_sentences(),
            PrimingConfig(batch_size=8, epochs=1),
            seed=3,
            show_progress_bar=False,
        )
        weights.append({k: v.clone() for k, v in stats.model.state_dict().items()})
    assert weights[0].keys() == weights[1].keys() and any(k.startswith("mlp.") for k in weights[0])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_second_run_is_refused_while_the_first_holds_the_folder(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from transencoder.training.rundir import RunDir; "
            f"held = RunDir({str(out)!r}); held.claim(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=rf"in use by .*\"pid\": {holder.pid}"):
            RunDir(out).claim()
    finally:
        holder.send_signal(signal.SIGKILL)  # the kernel drops the lock with the process
        holder.wait()
    second = RunDir(out)
    second.claim()
    second.release()


def test_a_foreign_folder_is_refused_unless_overwrite(tiny_model, tmp_path):
    out = tmp_path / "mine"
    (out / "cycle-1" / "bi").mkdir(parents=True)
    (out / "report.md").write_text("someone's notes", encoding="utf-8")
    (out / "cycle-1" / "bi" / "keep.txt").write_text("theirs", encoding="utf-8")
    config = _config(tiny_model, _pairs_file(tmp_path), out)
    with pytest.raises(RunDirError, match="not empty and holds no transencoder run .*--overwrite"):
        _run(config)
    assert (out / "report.md").read_text() == "someone's notes" and (
        out / "cycle-1" / "bi" / "keep.txt"
    ).is_file()
    report, _ = _run(config, overwrite=True)
    assert "cycle 1" in report["evaluation"] and not (out / "cycle-1" / "bi" / "keep.txt").exists()


def test_resume_is_by_content(tiny_model, tmp_path):
    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    first, _ = _run(_config(tiny_model, pairs, out))
    # The same pairs under another path (relative, moved) and other evaluation data: accepted,
    # nothing retrained, only the evaluations run again (on the new data).
    moved = tmp_path / "elsewhere" / "p.tsv"
    moved.parent.mkdir()
    moved.write_bytes(pairs.read_bytes())
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        config = _config(tiny_model, Path("elsewhere") / "p.tsv", Path("run"))
        config.data.eval_data_dir = str(_pairs_file(tmp_path, seed=9, name="other-eval.tsv"))
        _, logged = _run(config)
    finally:
        os.chdir(cwd)
    assert _ran(logged) == ["start-eval", "cycle-1/eval"] and any(
        "phases done" in line for line in logged
    )
    # The pairs file sorted: another pool, refused with the difference named.
    pairs.write_text(
        "".join(sorted(pairs.read_text(encoding="utf-8").splitlines(keepends=True))),
        encoding="utf-8",
    )
    with pytest.raises(
        RunDirError,
        match=r"different configuration \(the pool: .* pairs file or the pool settings changed",
    ):
        _run(_config(tiny_model, pairs, out))


def test_a_finished_run_is_extended_not_shortened(tiny_model, tmp_path):
    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    _run(_config(tiny_model, pairs, out, cycles=2, average_bi=True))
    report, logged = _run(_config(tiny_model, pairs, out, cycles=3, average_bi=True))
    assert _ran(logged) == [
        "cycle-3/label-bi",
        "cycle-3/cross",
        "cycle-3/label-cross",
        "cycle-3/bi",
        "cycle-3/eval",
        "average/bi",
        "average/eval",
    ]
    assert (
        report["evaluation"]["average"]
        and len(json.loads((out / "progress.json").read_text())["done"]) == 18
    )
    with pytest.raises(
        RunDirError, match="run of 3 cycles; it can be extended .* not shortened to 2"
    ):
        _run(_config(tiny_model, pairs, out, cycles=2, average_bi=True))


def test_damaged_and_deleted_outputs(tiny_model, tmp_path):
    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    config = _config(tiny_model, pairs, out)
    first, _ = _run(config)
    weights = out / "cycle-1" / "bi" / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])  # truncated: found when the run restarts
    with pytest.raises(
        RunDirError,
        match=rf"{weights} is damaged .*delete {out / 'cycle-1' / 'bi'} to redo phase cycle-1/bi",
    ):
        _run(config)
    weights.write_bytes(whole)
    # A deleted output: its phase and every later one run again, to the same result.
    import shutil

    shutil.rmtree(out / "cycle-1" / "cross")
    again, logged = _run(config)
    assert _ran(logged) == ["cycle-1/cross", "cycle-1/label-cross", "cycle-1/bi", "cycle-1/eval"]
    assert again["evaluation"] == first["evaluation"]
    # Same size, other bytes: found by the hash when a later phase reads it (extending the run).
    scores = out / "labels" / "cycle-1-bi-scores.npy"
    values = np.load(scores)
    np.save(scores, values[::-1].copy())
    with pytest.raises(
        RunDirError,
        match=rf"{scores} is damaged \(its content changed.*redo phase cycle-1/label-bi",
    ):
        _run(_config(tiny_model, pairs, out, cycles=2))
    # A damaged ledger names itself.
    (out / "progress.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(RunDirError, match="progress.json is damaged .*--overwrite"):
        _run(config)


def test_a_damaged_snapshot_is_named(tiny_model, tmp_path):
    from transencoder.training.snapshot import PhaseSnapshot

    path = tmp_path / "state" / "cycle-1-bi.pt"
    path.parent.mkdir()
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RunDirError, match=rf"{path}: the training snapshot is damaged .*delete it"):
        PhaseSnapshot(path).load()


def test_a_run_of_an_earlier_version_is_refused(tiny_model, tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    old = {
        "config": {"models": ["default"], "seed": 2021, "cycles": 3},
        "done": ["start-eval"],
        "results": {},
        "seconds": 1.0,
    }
    (out / "progress.json").write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(RunDirError, match="earlier transencoder version .* cannot resume"):
        _run(_config(tiny_model, _pairs_file(tmp_path), out))


def test_a_run_without_a_later_setting_resumes_with_its_default(tiny_model, tmp_path):
    pairs, out = _pairs_file(tmp_path), tmp_path / "run"
    _run(_config(tiny_model, pairs, out))
    progress = out / "progress.json"
    state = json.loads(progress.read_text(encoding="utf-8"))
    del state["config"]["data"]["remine"]  # as written before the setting existed
    progress.write_text(json.dumps(state), encoding="utf-8")
    _, logged = _run(_config(tiny_model, pairs, out, cycles=2))
    assert _ran(logged)[0] == "cycle-2/label-bi"
    with pytest.raises(RunDirError, match="data.remine: False there, True now"):
        remine = {"pairs": str(pairs), "eval_data_dir": str(pairs), "remine": True}
        _run(_config(tiny_model, pairs, out, cycles=2, data=remine))


def test_bad_settings_stop_before_any_work(tiny_model, tmp_path, capsys):
    pairs = _pairs_file(tmp_path)
    config = tmp_path / "c.yaml"
    common = ["train", "--model", str(tiny_model), "--pairs", str(pairs), "--no-progress"]
    for text, message in (
        ("run: {seed: abc}", "run.seed must be an integer, got 'abc'"),
        ("run: {device: gpu}", "run.device 'gpu' is not a device"),
    ):
        config.write_text(text, encoding="utf-8")
        assert main([*common, "--config", str(config), "--output-dir", str(tmp_path / "a")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert main([*common, "--device", "cuda:7", "--output-dir", str(tmp_path / "b")]) == 2
    assert "no CUDA device" in capsys.readouterr().err or torch.cuda.device_count() > 7
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    assert main([*common, "--output-dir", str(blocker / "run")]) == 1
    assert "cannot write the run directory" in capsys.readouterr().err
    # A missing pairs file fails before the output folder exists.
    assert (
        main(
            [
                "train",
                "--model",
                str(tiny_model),
                "--pairs",
                str(tmp_path / "none.tsv"),
                "--output-dir",
                str(tmp_path / "c"),
            ]
        )
        == 1
    )
    assert "none.tsv" in capsys.readouterr().err and not (tmp_path / "c").exists()
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_refused_resume_is_one_error_line(tiny_model, tmp_path, capsys):
    pairs = _pairs_file(tmp_path)
    out = tmp_path / "run"
    _run(_config(tiny_model, pairs, out))
    quiet = capsys.readouterr().err  # no library bars with show_progress_bar off, no load report
    assert "Loading weights" not in quiet and "LOAD REPORT" not in quiet
    common = [
        "train",
        "--model",
        str(tiny_model),
        "--pairs",
        str(pairs),
        "--recipe",
        "official",
        "--cycles",
        "1",
        "--set",
        "priming.method=none",
        "--output-dir",
        str(out),
        "--no-progress",
    ]
    assert (
        main(
            [
                *common,
                "--seed",
                "6",
                "--set",
                "cross.epochs=1",
                "--set",
                "bi.epochs=1",
                "--set",
                "cross.batch_size=8",
                "--set",
                "bi.batch_size=8",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: " in err and "run.seed: 5 there, 6 now" in err


def test_pairs_header_and_pool_warnings(tmp_path):
    from transencoder.training import DataConfig

    path = tmp_path / "p.tsv"
    path.write_text(
        "sentence1\tsentence2\tscore\na b\tc d\t1\nc d\ta b\t2\na b\tc d\t3\n", encoding="utf-8"
    )
    logged: list[str] = []
    pool = load_pool(DataConfig(pairs=str(path), max_pairs=10), seed=0, log=logged.append)
    assert pool.pairs == [("a b", "c d")]  # the header is not a pair
    assert any("2 of 3 pairs" in line and "the pool has 1 pairs" in line for line in logged)
    assert any("max_pairs 10 is above the pool's 1 pairs" in line for line in logged)


def test_a_concurrent_run_is_refused_and_the_first_stays_intact(tiny_model, tmp_path):
    # Two identical runs into one folder at once: the second is refused while the first runs,
    # and the first's models equal those of a run that had the folder to itself.
    import yaml

    pairs = _pairs_file(tmp_path, count=120)
    values = {
        "models": [str(tiny_model)],
        "cycles": 1,
        "recipe": "official",
        "data": {"pairs": str(pairs)},
        "priming": {"method": "none"},
        "run": {"seed": 5, "show_progress_bar": False},
        "cross": {"batch_size": 2, "epochs": 3, "min_steps": None},
        "bi": {"batch_size": 2, "epochs": 3},
    }
    settings = tmp_path / "run.yaml"
    settings.write_text(yaml.safe_dump(values), encoding="utf-8")
    shared = tmp_path / "shared"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "transencoder",
            "train",
            "--config",
            str(settings),
            "--output-dir",
            str(shared),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while (
        not (shared / "progress.json").is_file() and first.poll() is None and time.time() < deadline
    ):
        time.sleep(0.02)
    with pytest.raises(RunDirError, match="is in use by"):
        run_trans_encoder(
            build_config(values, sets=[f"run.output_dir={shared}"]), log=lambda *a: None
        )
    assert first.wait(timeout=600) == 0, first.stderr.read()[-2000:]
    run_trans_encoder(
        build_config(values, sets=[f"run.output_dir={tmp_path / 'alone'}"]), log=lambda *a: None
    )
    from safetensors.torch import load_file

    for kind in ("bi", "cross"):
        a = load_file(str(shared / "cycle-1" / kind / "model.safetensors"))
        b = load_file(str(tmp_path / "alone" / "cycle-1" / kind / "model.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), kind
