"""Real sweeps with the real `paint-tune` script on a local Ray cluster (CPU, tiny TSN on tiny shards): ASHA stops
weak trials early and the best config trains as is; PBT copies a strong trial and the copy trains with its own,
mutated values; an interrupted sweep resumes without rerunning a finished trial, and a failing trial does not
end it. Each sweep gets a Ray temp folder of its own, and no Ray process may outlive it.

About a minute per sweep on a loaded 2-core machine (Ray's start-up and each trial's Train run start-up dominate).
"""
from __future__ import annotations

import csv
import glob
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from paint.checkpoint import load_checkpoint
from tests.fault_hooks import RECORD_WORKERS
from tests.ray_fixtures import (Script, ScriptResult, ray_tmp_folder, script_env, tiny_shards,  # noqa: F401
                                wait_until_ray_gone)

BIN = Path(sys.executable).parent
PAINT_TUNE, TRAIN_TSN = str(BIN / "paint-tune"), str(BIN / "train_tsn")
SWEEP_TIMEOUT = 420


def Sweep(args: list[str], cwd: Path, ray_tmp: str, name: str = "sweep") -> Script:
    """One `paint-tune` process in its own session (tests.ray_fixtures.Script), quiet Tune output."""
    return Script(args, cwd, ray_tmp, command=PAINT_TUNE, name=name, env={"PAINT_TUNE_VERBOSE": "0"})


def write_space(folder: Path, text: str) -> Path:
    path = folder / "space.yaml"
    path.write_text(text)
    return path


def sweep_args(space: Path, out: Path, shards: Path, *extra: str) -> list[str]:
    return ["--stage", "tsn", "--preset", "tiny", "--space", str(space), "--num-samples", "1", "--out", str(out),
            f"data.shards={shards}", f"data.val_shards={shards}", "train.threads=1", *extra]


def trials_csv(out: Path) -> dict[str, dict]:
    with open(out / "trials.csv", newline="") as handle:
        return {row["trial_id"]: row for row in csv.DictReader(handle)}


def tune_results(out: Path) -> dict[str, list[dict]]:
    """trial id → the results Tune recorded for it (its result.json), in order; [] for a trial that has a folder
    but no file yet (a sweep killed while that trial was starting)."""
    results = {}
    for folder in sorted((out / "tune").glob("PaintTrial_*")):
        trial_id = "_".join(folder.name.split("_")[1:3])
        file = folder / "result.json"
        results[trial_id] = [json.loads(line) for line in file.read_text().splitlines()] if file.is_file() else []
    return results


def recorded_statuses(out: Path) -> dict[str, str]:
    """trial id → status in Tune's latest experiment snapshot (what Tuner.restore starts from)."""
    files = sorted(glob.glob(str(out / "tune" / "experiment_state-*.json")))
    if not files:
        return {}
    try:
        state = json.loads(Path(files[-1]).read_text())
    except (OSError, ValueError):  # being replaced
        return {}
    trials = [json.loads(info) for info, _ in state["trial_data"]]
    return {t["trial_id"]: t["status"] for t in trials}


def run_sweep(args: list[str], cwd: Path, name: str = "sweep") -> ScriptResult:
    with ray_tmp_folder() as ray_tmp:
        done = Sweep(args, cwd, ray_tmp, name).wait(SWEEP_TIMEOUT)
        left = wait_until_ray_gone(ray_tmp)
    print(f"\n{name}: {done.seconds:.0f} s; {done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else ''}")
    assert done.rc == 0, f"exit {done.rc}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert not left, f"Ray processes outlived paint-tune: {left}"
    return done


# ------------------------------------------------------------------------------------------------------ ASHA

ASHA_SPACE = """fixed:
  train.epochs: 2
  data.batches_per_epoch: 3
  train.val_units: 4
space:
  optim.lr_g: {grid: [2.0e-3, 2.0e-3, 1.0e-9, 1.0e-9]}   # two that learn, then two that cannot
"""


@pytest.mark.timeout(SWEEP_TIMEOUT + 120)
def test_asha_stops_weak_trials_and_the_best_config_trains_as_is(tiny_shards, tmp_path):
    out = tmp_path / "asha"
    done = run_sweep(sweep_args(write_space(tmp_path, ASHA_SPACE), out, tiny_shards, "--scheduler", "asha",
                                "--max-concurrent", "2"), tmp_path)
    rows = trials_csv(out)
    assert len(rows) == 4 and all(r["status"] == "TERMINATED" for r in rows.values()), rows
    learners = [r for r in rows.values() if float(r["optim.lr_g"]) == 2e-3]
    frozen = [r for r in rows.values() if float(r["optim.lr_g"]) == 1e-9]
    # the learners start first (grid order, two at a time) and the frozen trials only when one of them has
    # ended, so at the first rung a frozen trial meets a learner's better score there and is stopped
    stopped = [r for r in rows.values() if r["stopped_early"] == "True"]
    assert any(r in frozen for r in stopped), rows
    assert all(r["epochs"] == "1" and r["iterations"] == "1" for r in stopped), stopped
    assert all(r["epochs"] == "2" for r in rows.values() if r not in stopped), rows
    assert any(r not in stopped for r in learners), learners
    for r in rows.values():   # every trial was a real Train run, reporting the validation metric
        assert float(r["val/l1 (last)"]) > 0 and Path(r["train_run"]).is_dir()
        assert (Path(r["train_run"]) / "config.yaml").is_file()
    assert min(float(r["val/l1 (last)"]) for r in learners) < min(float(r["val/l1 (last)"]) for r in frozen)
    assert f"{len(stopped)} stopped early" in done.stdout

    # best.yaml: the full config of a learner, with the sweep's fixed values and the data paths as given
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["optim"]["lr_g"] == 2e-3 and best["train"]["epochs"] == 2 and best["train"]["val_units"] == 4
    assert best["data"]["shards"] == str(tiny_shards) and best["run"]["name"] == ""
    dry = subprocess.run([TRAIN_TSN, "--config", str(out / "best.yaml"), "--dry-run"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, env=script_env(str(tmp_path / "no-ray")))
    assert dry.returncode == 0 and dry.stderr.strip() == "", dry.stderr
    assert yaml.safe_load(dry.stdout) == best
    with Image.open(out / "metric_by_epoch.png") as chart:
        assert chart.format == "PNG" and chart.size[0] > 300


# ------------------------------------------------------------------------------------------------------- PBT

PBT_EPOCHS, PBT_BATCHES = 3, 2
PBT_SPACE = f"""fixed:
  train.epochs: {PBT_EPOCHS}
  data.batches_per_epoch: {PBT_BATCHES}
  train.val_units: 2
space:
  optim.lr_g: {{loguniform: [1.0e-4, 1.0e-2]}}
  loss.l1: {{loguniform: [1.0, 30.0]}}
"""


@pytest.mark.timeout(SWEEP_TIMEOUT + 120)
def test_pbt_exploits_and_the_copy_trains_with_its_mutated_values(tiny_shards, tmp_path):
    out = tmp_path / "pbt"
    # synchronous PBT: asynchronously, whether the weaker trial reports while the stronger one is still running
    # depends on start-up times (on a loaded machine one trial can finish before the other's first report)
    run_sweep(sweep_args(write_space(tmp_path, PBT_SPACE), out, tiny_shards, "--scheduler", "pbt", "--pbt-synch",
                         "--num-samples", "2", "--max-concurrent", "2"), tmp_path)
    exploits = (out / "tune" / "pbt_global.txt").read_text().splitlines()
    assert exploits, "PBT never exploited"
    results = tune_results(out)
    assert len(results) == 2

    # every report, before and after any exploit: the optimiser's learning rate and the loss weight the stage
    # used are the values in the trial's config at that time
    for trial_rows in results.values():
        for r in trial_rows:
            assert r["optim/lr_g"] == r["config"]["optim.lr_g"], r
            assert r["loss/l1"] == r["config"]["loss.l1"], r

    # a Train run that started from another trial's checkpoint: it continued that checkpoint's step count with
    # the values PBT gave the copy, not the checkpoint's
    copies = []
    for trial_id, trial_rows in results.items():
        for run in sorted({r["train_run"] for r in trial_rows if "-from-" in r["train_run"]}):
            start = load_checkpoint(Path(run) / "start-checkpoint", stage="tsn")
            if start["config"]["run"]["name"].startswith(f"trial-{trial_id}"):
                continue  # a paused trial resuming its own checkpoint
            first = next(r for r in trial_rows if r["train_run"] == run)
            copies.append((start, first))
    assert copies, "no trial trained from another trial's checkpoint"
    changed = 0
    for start, first in copies:
        assert first["epoch"] == start["epoch"] + 1
        assert first["step"] == start["engine"]["step"] + PBT_BATCHES == first["epoch"] * PBT_BATCHES
        old = {"optim.lr_g": start["config"]["optim"]["lr_g"], "loss.l1": start["config"]["loss"]["l1"]}
        assert start["engine"]["opt_g"]["param_groups"][0]["lr"] == old["optim.lr_g"]
        new = first["config"]
        assert (first["optim/lr_g"], first["loss/l1"]) == (new["optim.lr_g"], new["loss.l1"])
        changed += sum(new[k] != old[k] for k in old)
    assert changed, "PBT's explore step left every value as the checkpoint had it"
    assert len(trials_csv(out)) == 2 and (out / "best.yaml").is_file()


# ---------------------------------------------------------------------------------------- resume, failure

RESUME_SPACE = """fixed:
  train.epochs: 2
  data.batches_per_epoch: 3
  train.val_units: 2
  train.max_bad_steps: 1
space:
  optim.lr_g: {grid: [1.0e-3, 1.0e-3, 1.0e+30]}   # 1e30: a valid value whose losses blow up: the trial fails
"""


@pytest.mark.timeout(2 * SWEEP_TIMEOUT + 120)
def test_an_interrupted_sweep_resumes_without_rerunning_a_finished_trial(tiny_shards, tmp_path):
    out = tmp_path / "resume"
    args = sweep_args(write_space(tmp_path, RESUME_SPACE), out, tiny_shards, "--scheduler", "asha",
                      "--max-concurrent", "1", "run.max_failures=0", RECORD_WORKERS)   # workers/rank0.pid
    with ray_tmp_folder() as ray_tmp:
        sweep = Sweep(args, tmp_path, ray_tmp, "first")
        try:
            deadline = time.monotonic() + SWEEP_TIMEOUT
            while "TERMINATED" not in recorded_statuses(out).values():
                assert sweep.proc.poll() is None, f"paint-tune ended before a trial finished\n{sweep.tail()}"
                assert time.monotonic() < deadline, f"no trial finished in time\n{sweep.tail()}"
                time.sleep(0.5)
        finally:
            sweep.kill()
        assert not wait_until_ray_gone(ray_tmp)
    statuses = recorded_statuses(out)
    finished = [t for t, s in statuses.items() if s == "TERMINATED"]
    assert len(finished) == 1, statuses
    first = finished[0]
    first_results = tune_results(out)[first]
    first_run = Path(first_results[-1]["train_run"])
    first_files = sorted(p.name for p in first_run.iterdir())
    first_pid = (first_run / "workers" / "rank0.pid").read_text()
    assert [r["epoch"] for r in first_results] == [1, 2]

    done = run_sweep(["--out", str(out), "--resume"], tmp_path, "resumed")
    rows = trials_csv(out)
    assert len(rows) == 3, rows
    # the finished trial was not run again: no new report, the same Train run untouched
    assert tune_results(out)[first] == first_results
    assert sorted(p.name for p in first_run.iterdir()) == first_files
    assert (first_run / "workers" / "rank0.pid").read_text() == first_pid
    # the others ran to their end; the one that cannot train failed without ending the sweep
    good = [r for r in rows.values() if float(r["optim.lr_g"]) == 1e-3]
    assert len(good) == 2 and all(r["status"] == "TERMINATED" and r["epochs"] == "2" for r in good), good
    failed = [r for r in rows.values() if float(r["optim.lr_g"]) == 1e30]
    assert len(failed) == 1 and failed[0]["status"] == "ERROR", failed
    assert "NaN/inf losses" in failed[0]["error"] and "\n" not in failed[0]["error"], failed[0]["error"]
    assert "1 failed" in done.stdout and f"failed: {failed[0]['trial_id']}" in done.stdout
    assert yaml.safe_load((out / "best.yaml").read_text())["optim"]["lr_g"] == 1e-3
