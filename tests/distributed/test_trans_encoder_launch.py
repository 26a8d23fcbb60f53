"""`accelerate launch ... -m transencoder train --strategy ...`: every step of the method runs
distributed, and DDP ends where the one-process run ends."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from transencoder.testing import tiny_bert_dir, tiny_sentences

pytestmark = pytest.mark.multiprocess
REPO = Path(__file__).resolve().parents[2]


def _accelerate() -> list[str]:
    exe = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "accelerate.commands.accelerate_cli"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("te-launch")
    model = tiny_bert_dir(root / "model", dropout=0.0)  # no dropout: runs are comparable
    sentences, rng = tiny_sentences(), random.Random(0)
    pairs = root / "pairs.tsv"
    pairs.write_text(
        "".join(
            f"{rng.choice(sentences)}\t{rng.choice(sentences)}\t{rng.uniform(0, 5):.2f}\n"
            for _ in range(48)
        ),
        encoding="utf-8",
    )
    return root, model, pairs


def _config(root: Path, model: Path, pairs: Path, name: str, **extra) -> Path:
    from transencoder.training.pairs import pool_from_pairs_file

    count = len(pool_from_pairs_file(pairs))
    batch = 8
    settings = {
        "models": [str(model)],
        "recipe": "official",
        "cycles": 1,
        # Every batch (pairs and ordered pairs) splits evenly over 2 ranks.
        "data": {
            "pairs": str(pairs),
            "eval_data_dir": str(pairs),
            "max_pairs": count - count % batch,
        },
        "priming": {"method": "none"},
        "run": {"seed": 3, "show_progress_bar": False},
        "cross": {"batch_size": batch, "epochs": 2, "max_grad_norm": None, "min_steps": None},
        "bi": {"batch_size": batch, "epochs": 2, "max_grad_norm": None},
    }
    for key, value in extra.items():
        settings[key] = (
            {**settings[key], **value} if isinstance(value, dict) and key in settings else value
        )
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _launch(
    config: Path, out: Path, strategy: str, processes: int = 2
) -> subprocess.CompletedProcess:
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [
        *_accelerate(),
        "launch",
        "--config_file",
        str(REPO / "distributed" / f"{strategy}.yaml"),
        "--num_processes",
        str(processes),
        "-m",
        "transencoder",
        "train",
        "--config",
        str(config),
        "--strategy",
        strategy,
        "--group-size",
        "2",
        "--output-dir",
        str(out),
        "--no-progress",
    ]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=900, cwd=str(REPO)
    )


def test_ddp_run_matches_one_process_run(setup):
    root, model, pairs = setup
    # The start model's views anchor the bi-encoder's labels: under DDP each view is scored on
    # sharded pairs and rank-combined after the gather, so the anchor must equal one process's.
    config = _config(
        root,
        model,
        pairs,
        "parity",
        teachers={
            "bi_from_start": 0.5,
            "mode": "rank",
            "start_views": ["pooled", "first_last", "token_f1"],
        },
    )
    single = subprocess.run(
        [
            sys.executable,
            "-m",
            "transencoder",
            "train",
            "--config",
            str(config),
            "--output-dir",
            str(root / "single"),
            "--no-progress",
        ],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    done = _launch(config, root / "ddp", "ddp")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    from safetensors.torch import load_file

    for name in ("start-views-scores", "cycle-1-bi-targets"):
        np.testing.assert_allclose(
            np.load(root / "ddp" / "labels" / f"{name}.npy"),
            np.load(root / "single" / "labels" / f"{name}.npy"),
            atol=1e-5,
        )
    for kind in ("cross", "bi"):
        a = load_file(str(root / "single" / "cycle-1" / kind / "model.safetensors"))
        b = load_file(str(root / "ddp" / "cycle-1" / kind / "model.safetensors"))
        worst = max((a[k] - b[k]).abs().max().item() for k in a)
        assert worst < 1e-4, (kind, worst)
    one = json.loads((root / "single" / "report.json").read_text())["evaluation"]["cycle 1"]
    two = json.loads((root / "ddp" / "report.json").read_text())["evaluation"]["cycle 1"]
    for kind in ("bi", "cross"):
        assert abs(one[kind]["average"]["spearman"] - two[kind]["average"]["spearman"]) < 0.05
    report = json.loads((root / "ddp" / "report.json").read_text())
    # Both training phases ran on DDP over the 2 ranks: each step all-reduces every trainable
    # float32 gradient once, 2 (p - 1) / p * S = S bytes per rank for p = 2.
    from transencoder import BiEncoder, CrossEncoder

    trainable = {
        "cycle-1/cross": CrossEncoder.from_pretrained(model, device="cpu"),
        "cycle-1/bi": BiEncoder.from_pretrained(model, device="cpu"),
    }
    for phase, module in trainable.items():
        stats = report["communication"][phase]
        assert stats["strategy"] == "ddp" and stats["world_size"] == 2
        assert all(entry["participants"] == [2] for entry in stats["collectives"].values())
        gradient_bytes = 4 * sum(p.numel() for p in module.parameters() if p.requires_grad)
        assert stats["bytes_per_step_mean"] == gradient_bytes, phase


def test_gtc_bmuf_runs_every_step_with_priming(setup):
    from transencoder.distributed import StrategyConfig

    root, model, pairs = setup
    config = _config(
        root,
        model,
        pairs,
        "gtc-bmuf",
        priming={"method": "simcse", "batch_size": 8, "epochs": 1, "max_grad_norm": None},
    )
    done = _launch(config, root / "gtc-bmuf", "gtc-bmuf", processes=4)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    report = json.loads((root / "gtc-bmuf" / "report.json").read_text())
    assert set(report["evaluation"]) == {"start", "primed", "cycle 1"}
    communication = report["communication"]
    assert set(communication) == {"primed/bi", "cycle-1/cross", "cycle-1/bi"}
    # Priming gathers the SimCSE views over the 2 ranks of each GTC group.
    assert communication["primed/bi"]["collectives"]["all_gather(embeddings)"]["participants"] == [
        2
    ]
    for stats in communication.values():
        assert (stats["strategy"], stats["world_size"], stats["group_size"]) == ("gtc-bmuf", 4, 2)
        # Every step exchanges the code counts inside the GTC group (2 ranks) ...
        assert stats["collectives"]["all_gather(gtc counts)"]["participants"] == [2]
        assert stats["collectives"]["all_gather(gtc counts)"]["calls"] == stats["steps"]
        # ... and BMUF syncs every K steps (the CLI keeps the default K); the end of the phase
        # averages the steps since the last sync once, with no block-momentum step.
        block_steps = StrategyConfig(name="gtc-bmuf").block_steps
        counters = stats["counters"]
        assert counters.get("bmuf_syncs", 0) == stats["steps"] // block_steps
        assert counters.get("bmuf_final_averages", 0) == (1 if stats["steps"] % block_steps else 0)
    # ... and the codes themselves whenever a residual crossed the threshold.
    assert any(stats["counters"]["gtc_words_sent"] > 0 for stats in communication.values())
    from transencoder import BiEncoder, CrossEncoder

    assert BiEncoder.from_pretrained(root / "gtc-bmuf" / "cycle-1" / "bi", device="cpu").encode(
        "a man"
    ).shape == (32,)
    assert CrossEncoder.from_pretrained(
        root / "gtc-bmuf" / "cycle-1" / "cross", device="cpu"
    ).predict([("a man", "a dog")]).shape == (1,)
    torch.manual_seed(0)
