"""The synthetic quality benchmark: does each learned stage beat every non-learned floor, at a fixed budget?

A fixed protocol, so that numbers from different commits and machines compare:
- data: `paint-shards synth` seed 0, 2000 products × 4 views at 128 px (its val split: 200 products, 800 views);
- training: each stage's `small` preset on local Ray (the `train_<stage>` commands), its epochs × the budget's
  factor (`demo` 1×: what `make demo` trains; `long` 4×), a checkpoint every (the preset's checkpoint interval ×
  factor) epochs: the demo's curve points, the same number at both budgets;
- evaluation: the first 500 val units with every Evaluation-v2 row (real-data reference, each floor, the preset's
  untrained networks, the model; the pipeline too) and every checkpoint (learning curves), in one
  `paint-eval batch` process; all under <out>/<budget>/.

It prints one table per stage: each row's metrics, and for the model the margin over each floor (positive =
better; "FID vs a floor of real images" is no beat, shown as a reference). With both budgets done it also prints,
per stage, whether the long budget improved on the demo budget. Prints figures; never fails on quality.

    .venv/bin/python bench/quality_bench.py --budget demo      # ≈ 45–60 min on 2 CPU cores; minutes on a GPU
    .venv/bin/python bench/quality_bench.py --budget long      # ≈ 4× the training; hours on 2 CPU cores
                                                               # (stopped part-way, it resumes where it was)
    .venv/bin/python bench/quality_bench.py --report-only      # tables from the leaderboards already written
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:   # also runs from a tree that is not pip-installed
    sys.path.insert(1, str(REPO))

from eval.floors import floor_stages, floors, real_output_floors  # noqa: E402
from eval.leaderboard import BEATABLE, HIGHER_IS_BETTER, cell_text, metric_value, read_rows  # noqa: E402
from eval.leaderboard_compare import contest, role_of, role_rank  # noqa: E402
from paint.checkpoint import CheckpointError, read_meta  # noqa: E402
from paint.inference import latest_checkpoint  # noqa: E402
from paint.data.manifest import MANIFEST  # noqa: E402
from paint.stages import make_config  # noqa: E402

SEED, PRODUCTS, VIEWS, SIZE, UNITS = 0, 2000, 4, 128, 500
BUDGETS = {"demo": 1, "long": 4}
STAGES = ("lgn", "tsn", "afn")
BIN = Path(sys.executable).parent


def run(command: list[str]) -> None:
    print("$ " + shlex.join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def make_data(shards: Path) -> None:
    if not (shards / MANIFEST).is_file():
        run([str(BIN / "paint-shards"), "synth", "--out", str(shards), "--products", str(PRODUCTS), "--views",
             str(VIEWS), "--size", str(SIZE), "--seed", str(SEED)])


def trained_epochs(run: Path) -> int:
    """The epoch of a run folder's latest checkpoint (0 when it has none), read without loading weights."""
    try:
        return read_meta(latest_checkpoint(run)).epoch
    except CheckpointError:
        return 0


def train(stage: str, shards: Path, out: Path, factor: int) -> None:
    """Train to the budget; a run stopped part-way (Ctrl-C, a session that ended) resumes from its latest
    checkpoint (the trainer of the same run name resumes), so the long budget can be run in pieces."""
    preset = make_config(stage, "small").train
    epochs, every = preset.epochs * factor, preset.checkpoint_every_epochs * factor   # the demo's curve points
    done = trained_epochs(out / stage)
    if done >= epochs:
        print(f"{stage}: {out / stage} is trained ({done} of {epochs} epochs); delete it to retrain", flush=True)
        return
    if done:
        print(f"{stage}: resuming {out / stage} at epoch {done} of {epochs}", flush=True)
    run([str(BIN / f"train_{stage}"), f"data.shards={shards}", f"run.storage_path={out}", f"run.name={stage}",
         f"train.epochs={epochs}", f"train.checkpoint_every_epochs={every}", f"run.num_to_keep={epochs}",
         f"scaling.cpus_per_worker={os.cpu_count() or 1}"])


def evaluate(shards: Path, out: Path) -> Path:
    board = out / "leaderboard.csv"
    common = ["--shards", str(shards), "--limit", str(UNITS), "--leaderboard", str(board), "--no-progress"]
    lines = [["--floor", stage, "--method", floor.name, *common] for stage in floor_stages() for floor in floors(stage)]
    for stage in (*STAGES, "pipeline"):
        checkpoint = out if stage == "pipeline" else out / stage
        lines += [["--reference", stage, *common], ["--untrained", stage, "--preset", "small", *common],
                  ["--stage", stage, "--checkpoint", str(checkpoint), *common]]
    lines += [["curve", "--run", str(out / stage), *common] for stage in STAGES]
    board.unlink(missing_ok=True)
    commands = out / "eval_commands.txt"
    commands.write_text("".join(shlex.join(line) + "\n" for line in lines))
    run([str(BIN / "paint-eval"), "batch", str(commands)])
    return board


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def stage_table(rows: list[dict], stage: str) -> list[str]:
    """The stage's rows (latest per role and method) with their metrics, then the model's margin over each floor."""
    mine = [r for r in rows if cell_text(r, "stage") == stage]
    if not mine:
        return [f"{stage}: no rows"]
    latest: dict[tuple[str, str], dict] = {}
    for row in mine:
        latest[(role_of(row), cell_text(row, "method"))] = row
    metrics = [m for m in BEATABLE if any(metric_value(r, m) is not None for r in latest.values())]
    out = [f"{stage:<38}" + " ".join(f"{m:>10}" for m in metrics)]
    for (role, method), row in sorted(latest.items(), key=lambda item: role_rank(item[1])):
        out.append(f"  {role:>9} {method[:26]:<26}" + " ".join(f"{_cell(metric_value(row, m)):>10}" for m in metrics))
    models = [r for r in mine if role_of(r) == "model"]
    if models:
        realism = real_output_floors()
        for floor, results in contest(rows, models[-1], realism).items():
            margins = []
            for metric, (value, theirs, won) in results.items():
                sign = 1 if HIGHER_IS_BETTER[metric] else -1
                margins.append(f"{metric} {sign * (value - theirs):+.4g}{'' if won else ' (not beaten)'}")
            out.append(f"  margin over {floor}: " + ", ".join(margins))
        for floor in sorted(f for s, f in realism if s == stage):
            out.append(f"  ({floor}'s FID is a realism reference: its outputs are real images)")
    return out


def compare_budgets(boards: dict[str, Path]) -> list[str]:
    """Per stage: is every beatable metric of the long budget's model row better than the demo budget's?"""
    latest = {}
    for budget, board in boards.items():
        rows = read_rows(board)
        latest[budget] = {cell_text(r, "stage"): r for r in rows if role_of(r) == "model"}
    out = []
    for stage in (*STAGES, "pipeline"):
        demo, long = latest["demo"].get(stage), latest["long"].get(stage)
        if demo is None or long is None:
            continue
        parts = []
        for metric in BEATABLE:
            a, b = metric_value(demo, metric), metric_value(long, metric)
            if a is not None and b is not None:
                improved = b > a if HIGHER_IS_BETTER[metric] else b < a
                parts.append(f"{metric} {a:.4g} → {b:.4g}{'' if improved else ' (not better)'}")
        out.append(f"{stage} demo → long: " + ", ".join(parts))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="demo")
    parser.add_argument("--out", default=str(REPO / "runs" / "quality"), help="default runs/quality")
    parser.add_argument("--report-only", action="store_true", help="print the tables of the leaderboards written")
    args = parser.parse_args()
    out, shards = Path(args.out), REPO / "shards" / "data" / f"quality-{PRODUCTS}-{SIZE}"
    if not args.report_only:
        make_data(shards)
        folder = out / args.budget
        for stage in STAGES:
            train(stage, shards, folder, BUDGETS[args.budget])
        evaluate(shards, folder)
    boards = {b: out / b / "leaderboard.csv" for b in BUDGETS if (out / b / "leaderboard.csv").is_file()}
    for budget, board in boards.items():
        print(f"\n== quality bench, budget {budget} ({BUDGETS[budget]}× the small preset's epochs), {UNITS} val "
              f"units: {board}")
        rows = read_rows(board)
        for stage in (*STAGES, "pipeline"):
            print("\n".join(stage_table(rows, stage)))
    if len(boards) == 2:
        print("\n== long vs demo budget\n" + "\n".join(compare_budgets(boards)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
