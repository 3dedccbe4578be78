"""What a finished sweep leaves in its output folder, read from Ray Tune's experiment folder:

    trials.csv            one row per trial: id, status, stopped early?, epochs, iterations, metric (last and
                          best), the searched values (the trial's final ones under PBT), error, Train run folder
    best.yaml             the best trial's full config, as `train_<stage> --config best.yaml` takes it
    metric_by_epoch.png   the metric against the epoch, one line per trial

Every file is written under a temporary name and renamed.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path

from paint.config import dump_yaml
from paint.io import write_bytes_atomic
from tune.sweep import SweepSpec, best_config, max_epochs

TRIALS_CSV = "trials.csv"
BEST_YAML = "best.yaml"
CHART = "metric_by_epoch.png"


@dataclasses.dataclass
class TrialRow:
    """One trial as the report sees it. `curve` is [(epoch, metric)] over every report, in order."""
    trial_id: str
    status: str                  # TERMINATED, ERROR, or RUNNING/PENDING/PAUSED in a sweep that did not end
    stopped_early: bool          # ended by the scheduler before its last epoch
    epochs: int                  # the last epoch it reported
    iterations: int              # reports Tune received (PBT restores count on from the copied trial)
    last: float                  # the metric at its last report (nan: none)
    best: float                  # the best value it ever reported
    values: dict                 # the searched values (its final ones under PBT)
    error: str
    train_run: str
    curve: list


def _results(trial_dir: Path) -> list[dict]:
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by an interruption
            continue
    return rows


def _error_line(trial_dir: Path) -> str:
    path = trial_dir / "error.txt"
    if not path.is_file():
        return ""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1] if lines else "failed"
    return last.split(" failed: ", 1)[1] if "TrialError: trial" in last and " failed: " in last else last


def collect(spec: SweepSpec) -> list[TrialRow]:
    """Every trial of the sweep in `spec.out`, in creation order."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(spec.tune_dir))
    epochs_max = max_epochs(spec, spec.space_obj())
    keys = [p.key for p in spec.space_obj().params]
    better = min if spec.mode == "min" else max
    rows = []
    for trial in sorted(analysis.trials, key=lambda t: t.trial_id):
        trial_dir = Path(trial.path)  # the storage copy (local_path is this session's staging folder)
        results = _results(trial_dir)
        curve = [(int(r["epoch"]), float(r[spec.metric])) for r in results
                 if "epoch" in r and isinstance(r.get(spec.metric), (int, float))]
        finite = [value for _, value in curve if math.isfinite(value)]
        last = results[-1] if results else {}
        epochs = int(last.get("epoch", 0))
        status = str(trial.status)
        rows.append(TrialRow(
            trial_id=trial.trial_id, status=status,
            stopped_early=status == "TERMINATED" and epochs < int(trial.config.get("train.epochs", epochs_max)),
            epochs=epochs, iterations=len(results),
            last=curve[-1][1] if curve else math.nan, best=better(finite) if finite else math.nan,
            values={k: trial.config.get(k) for k in keys}, error=_error_line(trial_dir) if status == "ERROR" else "",
            train_run=str(last.get("train_run", "")), curve=curve))
    return rows


def pick_best(rows: list[TrialRow], mode: str) -> TrialRow | None:
    """The trial with the best last metric among those that trained to their end; if none did, among all that
    reported (a stopped trial's last value is from fewer epochs, so it competes only when nothing finished)."""
    def ok(row: TrialRow) -> bool:
        return row.status != "ERROR" and math.isfinite(row.last)

    finished = [r for r in rows if ok(r) and r.status == "TERMINATED" and not r.stopped_early]
    pool = finished or [r for r in rows if ok(r)]
    if not pool:
        return None
    return (min if mode == "min" else max)(pool, key=lambda r: r.last)


def write_csv(rows: list[TrialRow], metric: str, path: Path) -> None:
    keys = sorted({k for row in rows for k in row.values})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial_id", "status", "stopped_early", "epochs", "iterations", f"{metric} (last)",
                     f"{metric} (best)", *keys, "error", "train_run"])
    for row in rows:
        writer.writerow([row.trial_id, row.status, row.stopped_early, row.epochs, row.iterations, row.last,
                         row.best, *(row.values.get(k, "") for k in keys), row.error, row.train_run])
    write_bytes_atomic(path, buffer.getvalue().encode())


def write_chart(rows: list[TrialRow], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    for row in rows:
        if row.curve:
            epochs, values = zip(*row.curve)
            style = "--" if row.stopped_early or row.status == "ERROR" else "-"
            state = "stopped early" if row.stopped_early else row.status.lower()
            axes.plot(epochs, values, style, marker="o", label=f"{row.trial_id} ({state})")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} per trial (dashed: stopped early or failed)")
    axes.grid(alpha=0.3)
    if any(row.curve for row in rows):
        axes.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())


def write_report(spec: SweepSpec) -> tuple[list[TrialRow], TrialRow | None]:
    """Write trials.csv, the chart and (when some trial reported the metric) best.yaml into spec.out."""
    out = Path(spec.out)
    rows = collect(spec)
    write_csv(rows, spec.metric, out / TRIALS_CSV)
    write_chart(rows, spec.metric, out / CHART)
    best = pick_best(rows, spec.mode)
    if best is not None:
        dump_yaml(best_config(spec, best.values), out / BEST_YAML)
    return rows, best
