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
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

TASKS = ("STS12", "STS13", "STS14", "STS15", "STS16", "STSB")


def _cycle_arrays(run_dir: Path, arrays: dict[str, str]) -> dict[str, np.ndarray]:
    """The run's saved arrays of each cycle, in the order it writes them; ``arrays`` maps a
    :class:`LabelArray` name to a row-name pattern (``{k}`` the cycle, ``{p}`` the previous)."""
    from transencoder.training.rundir import LabelArray, RunDir

    folder, rows, cycle = RunDir(run_dir), {}, 1
    while any(folder.labels(LabelArray[name], cycle).is_file() for name in arrays):
        for name, row in arrays.items():
            path = folder.labels(LabelArray[name], cycle)
            if path.is_file():
                rows[row.format(k=cycle, p=cycle - 1)] = np.load(path).astype(np.float64)
        cycle += 1
    return rows


def load_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    """Every saved score array of a run, by name, in cycle order (bi before cross)."""
    rows = _cycle_arrays(run_dir, {"BI_SCORES": "cycle {p} bi", "CROSS_SCORES": "cycle {k} cross"})
    if not rows:
        raise SystemExit(f"no score arrays under {run_dir / 'labels'}")
    return {("start bi" if name == "cycle 0 bi" else name): scores for name, scores in rows.items()}


def load_targets(run_dir: Path) -> dict[str, np.ndarray]:
    """The targets each training step distilled, in cycle order (cross before bi)."""
    return _cycle_arrays(
        run_dir,
        {
            "CROSS_TARGETS": "cycle {k} cross-step targets",
            "BI_TARGETS": "cycle {k} bi-step targets",
        },
    )


def rank_average(*arrays: np.ndarray) -> np.ndarray:
    return np.mean([rankdata(a) / len(a) for a in arrays], axis=0)


def start_views(config: dict, pairs) -> dict[str, np.ndarray]:
    """Each label view of the run's (first) start model, and the views' rank average."""
    from transencoder.models import BiEncoder
    from transencoder.training.config import LABEL_VIEWS
    from transencoder.training.teachers import views_teacher
    from transencoder.training.views import view_scores

    model = BiEncoder.from_pretrained(config["models"][0], device="cpu")
    scores = view_scores(model, pairs, LABEL_VIEWS, show_progress_bar=False)
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
    from transencoder.training import load_pool
    from transencoder.training.ledger import Ledger
    from transencoder.training.recipes import config_from_record
    from transencoder.training.rundir import RunDir

    progress = Ledger.read(RunDir(args.run_dir)).state
    config = config_from_record(progress["config"])
    pool = load_pool(config.data, config.run.seed, log=lambda *a, **k: None)
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
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from records import write_record

        write_record(
            args.output,
            {"run_dir": str(args.run_dir), "data_dir": str(args.data_dir), "rows": rows},
        )
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
