"""Learning curves: every checkpoint of one run scored on the same eval units, next to the lines that say what
training added — the stage's floors, its untrained networks and the real-data reference.

`curve(run, options)` evaluates each `checkpoint_*` of the run folder in step order with the same pass as
`paint-eval --stage` (so every point is a leaderboard-grade score), and writes into the output folder:
- `curve.csv`: one row per checkpoint (step, checkpoint, then one column per metric value);
- `curve_<metric>.png`: the metric against the step, with every line as a horizontal rule;
- `lines.csv`: the lines drawn (role, method, run_id, metric values) and where they came from.
The same scalars go to the run's TensorBoard (`<run>/tensorboard/`, tags `eval_curve/<metric>`).

Lines are leaderboard rows of the same stage, role reference / floor / untrained, scored on exactly the curve's
units (same dataset, split, resolution and eval_list_sha): a line from other units would compare different things,
so such rows are left out and the missing roles are named in the summary.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from eval.leaderboard import cell_text, metric_value, read_rows
from eval.leaderboard_compare import role_of
from eval.runner import COLUMN_OF, EvalError, EvalOptions, EvalResult, evaluate, leaderboard_row
from eval.specs import make_evaluator
from paint.checkpoint import STATE_FILE, read_meta
from paint.inference import CHECKPOINT_PREFIX
from paint.io import write_bytes_atomic

LINE_ROLES = ("reference", "floor", "untrained")
SAME_UNITS = ("dataset", "split", "eval_list_sha", "resolution")
# a model row of the leaderboard stands for a checkpoint's point when all of these agree with a point scored now
SAME_SCORING = (*SAME_UNITS, "n_gen", "seed", "metric_impl", "fid_weights_sha256", "lpips_weights_sha256",
                "git_commit")
_STYLE = {"reference": ("tab:green", ":"), "floor": ("tab:red", "--"), "untrained": ("tab:grey", "-.")}


@dataclass
class CurvePoint:
    step: int
    checkpoint: str
    values: dict[str, float]            # leaderboard column → value (finite values only)


@dataclass
class Curve:
    stage: str
    run: Path
    points: list[CurvePoint] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)     # leaderboard rows drawn as horizontal lines
    units: dict = field(default_factory=dict)           # the SAME_UNITS values of the points
    n_units: int = 0
    files: list[Path] = field(default_factory=list)

    def metrics(self) -> list[str]:
        """Columns with a value at some point, in the leaderboard's column order."""
        seen = {name for point in self.points for name in point.values}
        return [column for column in COLUMN_OF.values() if column in seen]

    def missing_roles(self) -> list[str]:
        return [role for role in LINE_ROLES if not any(line.get("role") == role for line in self.lines)]


def run_checkpoints(run: str | Path) -> list[tuple[int, Path, str]]:
    """(step, folder, stage) of every checkpoint_* of a run folder, by step. EvalError when there is none."""
    run = Path(run)
    if not run.is_dir():
        raise EvalError(f"--run {str(run)!r} is not a folder; pass a training run folder (holding checkpoint_*)")
    found, stages = [], set()
    for folder in sorted(run.glob(f"{CHECKPOINT_PREFIX}*")):
        if (folder / STATE_FILE).is_file():
            meta = read_meta(folder)
            found.append((meta.step, folder))
            stages.add(meta.stage)
    if not found:
        raise EvalError(f"--run {str(run)!r} holds no {CHECKPOINT_PREFIX}*/{STATE_FILE}; pass a training run folder")
    if len(stages) != 1:
        raise EvalError(f"--run {str(run)!r} mixes checkpoints of stages {sorted(stages)}; pass one run's folder")
    found = [(step, folder, next(iter(stages))) for step, folder in found]
    return sorted(found, key=lambda item: item[0])


def _values(result: EvalResult) -> dict[str, float]:
    return {column: float(result.values[key]) for key, column in COLUMN_OF.items()
            if result.values.get(key) is not None and math.isfinite(result.values[key])}


def _units(result: EvalResult, options: EvalOptions) -> dict:
    from eval.runner import dataset_id
    return {"dataset": dataset_id(options.shards), "split": options.split or "all",
            "eval_list_sha": result.eval_list_sha, "resolution": str(result.identity["resolution"])}


def matching_lines(leaderboard: str | Path | None, stage: str, units: dict) -> list[dict]:
    """Rows of `leaderboard` (a missing file: none) that are lines for this curve: same stage, a line role, and
    scored on the same units. The latest row of each (role, method) wins."""
    if leaderboard is None or not Path(leaderboard).is_file():
        return []
    latest: dict[tuple[str, str], dict] = {}
    for row in read_rows(leaderboard):
        role = row.get("role") or ("model" if row.get("method") in ("model", "pipeline") else "floor")
        if row.get("stage") != stage or role not in LINE_ROLES:
            continue
        if all(str(row.get(key) or "") == str(units[key]) for key in SAME_UNITS):
            latest[(role, row["method"])] = {**row, "role": role}
    return sorted(latest.values(), key=lambda row: (LINE_ROLES.index(row["role"]), row["method"]))


def model_rows(leaderboard: str | Path | None, stage: str) -> dict[str, dict]:
    """The latest model row of `stage` per checkpoint path in `leaderboard` (none when the file is missing)."""
    if leaderboard is None or not Path(leaderboard).is_file():
        return {}
    return {cell_text(row, "checkpoint_path"): row for row in read_rows(leaderboard)
            if row.get("stage") == stage and role_of(row) == "model" and cell_text(row, "checkpoint_path")}


def curve(run: str | Path, options: EvalOptions, device="cpu", leaderboard: str | Path | None = None,
          out: str | Path | None = None, tensorboard: bool = True, progress=print) -> Curve:
    """Score every checkpoint of `run` on `options`' units; write the CSV, charts and TensorBoard scalars.
    `progress(text)` is called once per checkpoint. Raises EvalError (and the pass's errors) for bad requests."""
    checkpoints = run_checkpoints(run)
    stage = checkpoints[0][2]
    result = Curve(stage, Path(run))
    scored_rows = model_rows(leaderboard, stage)
    scoring: dict | None = None        # the SAME_SCORING values of the points scored here
    for step, folder, _ in checkpoints:
        row = scored_rows.get(str(folder.resolve()))
        if scoring is not None and row is not None and all(cell_text(row, key) == scoring[key]
                                                            for key in SAME_SCORING):
            values = {column: metric_value(row, column) for column in COLUMN_OF.values()
                      if metric_value(row, column) is not None}
            result.points.append(CurvePoint(step, str(folder), values))
            progress(f"curve {stage} step {step}: the leaderboard's row for this checkpoint, same scoring")
            continue
        spec = {"kind": "model", "stage": stage, "checkpoint": str(folder.resolve())}
        scored = evaluate(make_evaluator(spec, options, device), options, device=device)
        units = _units(scored, options)
        if result.units and units != result.units:
            raise EvalError(f"{folder.name} was scored on other units than the run's first checkpoint "
                            f"({units} vs {result.units}); its checkpoints differ in data settings")
        result.units, result.n_units = units, scored.n_units
        if scoring is None:
            scored_row, _ = leaderboard_row(scored, options, str(device))
            scoring = {key: cell_text(scored_row, key) for key in SAME_SCORING}
        result.points.append(CurvePoint(step, str(folder), _values(scored)))
        scores = result.points[-1].values
        progress(f"curve {stage} step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in scores.items()))
    result.lines = matching_lines(leaderboard, stage, result.units)
    folder = Path(out) if out is not None else Path(run) / "curve"
    folder.mkdir(parents=True, exist_ok=True)
    result.files = [write_points_csv(result, folder / "curve.csv"), write_lines_csv(result, folder / "lines.csv")]
    result.files += [write_chart(result, metric, folder / f"curve_{metric}.png") for metric in result.metrics()]
    if tensorboard:
        write_tensorboard(result)
    return result


def _csv_bytes(rows: list[list]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_points_csv(result: Curve, path: Path) -> Path:
    metrics = result.metrics()
    rows = [["stage", "step", "checkpoint", *metrics]]
    for point in result.points:
        rows.append([result.stage, point.step, point.checkpoint,
                     *(repr(point.values[m]) if m in point.values else "" for m in metrics)])
    return write_bytes_atomic(path, _csv_bytes(rows))


def write_lines_csv(result: Curve, path: Path) -> Path:
    metrics = result.metrics()
    rows = [["role", "method", "run_id", "timestamp", *metrics]]
    for line in result.lines:
        rows.append([line["role"], line["method"], line["run_id"], line.get("timestamp", ""),
                     *(line.get(m) if line.get(m) is not None else "" for m in metrics)])
    return write_bytes_atomic(path, _csv_bytes(rows))


def write_chart(result: Curve, metric: str, path: Path) -> Path:
    """One metric against the step: the model's points joined, every line a labelled horizontal rule."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [p.step for p in result.points if metric in p.values]
    values = [p.values[metric] for p in result.points if metric in p.values]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    axes.plot(steps, values, marker="o", color="tab:blue", label=f"{result.stage} model ({result.run.name})")
    for line in result.lines:
        if line.get(metric) is None:
            continue
        colour, style = _STYLE[line["role"]]
        axes.axhline(float(line[metric]), color=colour, linestyle=style, linewidth=1.2,
                     label=f"{line['role']}: {line['method']} ({float(line[metric]):.4g})")
    axes.set_xlabel("optimiser step")
    axes.set_ylabel(metric)
    axes.set_title(f"{result.stage}: {metric} by checkpoint ({result.n_units} {result.units.get('split', '')} "
                   f"units, list {result.units.get('eval_list_sha', '')[:8]})", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return write_bytes_atomic(path, buffer.getvalue())


def write_tensorboard(result: Curve) -> Path:
    """Every point as `eval_curve/<metric>` at its step, in the run's TensorBoard folder."""
    from torch.utils.tensorboard import SummaryWriter

    folder = result.run / "tensorboard"
    writer = SummaryWriter(str(folder))
    try:
        for point in result.points:
            for metric, value in point.values.items():
                writer.add_scalar(f"eval_curve/{metric}", value, point.step)
    finally:
        writer.close()
    return folder
