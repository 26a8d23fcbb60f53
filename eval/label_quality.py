"""How good are the labels a Trans-Encoder run distils? The teacher ceiling of a run.

Each row is scored on the six STS tasks and, when the pool holds them, on the STS-B dev pairs
(``dev``: gold labels, the set to choose settings on; the test tasks are for reporting).

A run keeps every score it labels the pool with (``<run>/labels/cycle-<k>-bi-scores.npy``: the
bi-encoder that labels cycle k's cross-encoder; ``cycle-<k>-cross-scores.npy``: cycle k's
cross-encoder, which labels its bi-encoder; with ``label_views`` beyond ``pooled`` a bi-encoder's
array is its views' rank average, not its cosine). With the transductive pool of a data directory
every evaluation pair is in the pool, so each of these arrays can be evaluated as STS scores
without running a model; so can their rank averages (an ensemble teacher). With ``--targets``
the arrays each step trained on (``cycle-<k>-<bi|cross>-targets.npy``, after blending) are
scored too: the teacher each student saw. A student distilled
from a label rarely beats it, so the best row bounds what another bi-encoder step could reach.

    python eval/label_quality.py --run-dir runs/q/recommended --data-dir ../shared/data/sts/senteval \\
        --output eval/results/label_quality.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSB")


def _cycle_files(run_dir: Path, kind: str, first: str) -> list[tuple[int, str, Path]]:
    """(cycle, "bi" | "cross", path) of each ``labels/cycle-<k>-<bi|cross>-<kind>.npy``, in the
    order a run writes them: by cycle, ``first`` before the other role."""
    found = []
    for path in (run_dir / "labels").glob(f"cycle-*-*-{kind}.npy"):
        match = re.fullmatch(rf"cycle-(\d+)-(bi|cross)-{kind}", path.stem)
        if match:
            found.append((int(match[1]), match[2], path))
    return sorted(found, key=lambda item: (item[0], item[1] != first))


def load_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    """Every saved score array of a run, by name, in cycle order (bi before cross)."""
    found = _cycle_files(run_dir, "scores", first="bi")
    if not found:
        raise SystemExit(f"no cycle-<k>-<bi|cross>-scores.npy under {run_dir / 'labels'}")
    names = {}
    for cycle, role, path in found:
        if role == "cross":
            name = f"cycle {cycle} cross"
        else:
            name = "start bi" if cycle == 1 else f"cycle {cycle - 1} bi"
        names[name] = np.load(path).astype(np.float64)
    return names


def load_targets(run_dir: Path) -> dict[str, np.ndarray]:
    """The targets each training step distilled (cycle-<k>-<bi|cross>-targets.npy), in cycle order."""
    return {
        f"cycle {cycle} {role}-step targets": np.load(path).astype(np.float64)
        for cycle, role, path in _cycle_files(run_dir, "targets", first="cross")
    }


def rank_average(*arrays: np.ndarray) -> np.ndarray:
    return np.mean([rankdata(a) / len(a) for a in arrays], axis=0)


def start_views(config: dict, pairs) -> dict[str, np.ndarray]:
    """Each label view of the run's (first) start model, and the views' rank average."""
    from transencoder.models import BiEncoder
    from transencoder.training.views import VIEWS, view_scores, views_teacher

    model = BiEncoder.from_pretrained(config["models"][0], device="cpu")
    scores = view_scores(model, pairs, VIEWS, show_progress_bar=False)
    rows = {f"start view: {v}": s.astype(np.float64) for v, s in scores.items()}
    rows["start views: rank average"] = views_teacher(scores)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a run's output directory")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--start-views",
        action="store_true",
        help="also score each label view of the run's start model (pooled, first_last, token_f1) and their rank average",
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="also score the targets each training step distilled (the teacher each student saw)",
    )
    args = parser.parse_args()

    from transencoder.eval import StsEvaluator, find_tasks, read_stsb
    from transencoder.training import build_config
    from transencoder.training.cycles import TransEncoderRun

    progress = json.loads((args.run_dir / "progress.json").read_text(encoding="utf-8"))
    pool = TransEncoderRun(build_config(progress["config"]), log=lambda *a, **k: None).load_pool()
    position = {}
    for i, (a, b) in enumerate(pool.pairs):
        position.setdefault((a, b), i)
        position.setdefault((b, a), i)
    evaluator = StsEvaluator(find_tasks(args.data_dir, tasks=TASKS), show_progress_bar=False)
    missing = [pair for pair in evaluator.pairs if pair not in position]
    if missing:
        raise SystemExit(
            f"{len(missing)} evaluation pairs are not in the run's pool (not transductive)"
        )
    where = np.array([position[pair] for pair in evaluator.pairs])
    dev_file = args.data_dir / "STSBenchmark" / "sts-dev.csv"
    dev = (
        StsEvaluator([read_stsb(dev_file, name="dev")], show_progress_bar=False)
        if dev_file.is_file()
        else None
    )
    dev_where = np.array([position.get(pair, -1) for pair in dev.pairs]) if dev else None
    if dev_where is not None and (dev_where < 0).any():
        dev, dev_where = None, None  # the pool lacks STS-B dev: no dev column

    arrays = load_arrays(args.run_dir)
    if args.targets:
        arrays.update(load_targets(args.run_dir))
    if args.start_views:
        arrays = {**start_views(progress["config"], pool.pairs), **arrays}
    for name, scores in arrays.items():
        if len(scores) != len(pool.pairs):
            raise SystemExit(f"{name}: {len(scores)} scores for a pool of {len(pool.pairs)} pairs")
    bis = [n for n in arrays if n.endswith(" bi")]
    crosses = [n for n in arrays if n.endswith(" cross")]
    if crosses:
        last = crosses[-1]
        arrays[f"rank avg: start bi + {last}"] = rank_average(arrays["start bi"], arrays[last])
        if bis[-1] != "start bi":
            arrays[f"rank avg: {bis[-1]} + {last}"] = rank_average(arrays[bis[-1]], arrays[last])

    rows = {}
    header = f"{'label':40} " + " ".join(f"{t:>6}" for t in TASKS) + f" {'avg':>6}"
    header += f" {'dev':>6}" if dev else ""
    print(header)
    print("-" * len(header))
    for name, scores in arrays.items():
        result = evaluator.from_scores(scores[where])
        cells = {t: result.tasks[t].spearman for t in TASKS if t in result.tasks}
        average = float(np.mean(list(cells.values())))
        rows[name] = {"spearman": cells, "average": average}
        line = f"{name:40} " + " ".join(f"{v:6.2f}" for v in cells.values()) + f" {average:6.2f}"
        if dev:
            rows[name]["stsb_dev"] = dev.from_scores(scores[dev_where]).primary
            line += f" {rows[name]['stsb_dev']:6.2f}"
        print(line)
    if args.output:
        record = {"run_dir": str(args.run_dir), "data_dir": str(args.data_dir), "rows": rows}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
