"""The real `train_tsn` console script on a real local Ray cluster (CPU, 2 train workers, tiny shards, 64 px):
what a run folder holds, how bad settings are refused before Ray starts, and recovery from a killed worker.

Ray is slow to start on a loaded 2-core machine (about a minute to the first step), hence the long timeouts.
"""
import os
import re
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from PIL import Image

from paint.checkpoint import load_checkpoint
from paint.config import to_dict
from paint.models.tsn import REGIONS
from paint.run_setup import resolve_config
from tests.fault_hooks import RECORD_WORKERS
from tests.ray_fixtures import (Script, ScriptResult, assert_same_state, checkpoints_by_epoch, pid_alive,
                                printed_checkpoint, printed_metrics, ray_processes, ray_tmp,  # noqa: F401
                                ray_tmp_folder, registered_checkpoints, reported_metrics, run_script, tiny_args,
                                tiny_shards, wait_until_ray_gone, worker_pids)

RUN_TIMEOUT = 300       # one Ray run: ~60-90 s on a loaded 2-core machine
QUICK_TIMEOUT = 60      # a run refused before Ray starts: Python and torch imports only
EPOCHS, BATCHES = 4, 3
GRID_ROWS = 2           # min(GRID_SAMPLES, tiny batch size 2)
GRID_COLUMNS = len(REGIONS) + 3   # a patch per region, layout, output, target


def grid_size(resolution: int = 64, pad: int = 2) -> tuple[int, int]:
    """(width, height) of torchvision's make_grid for GRID_ROWS × GRID_COLUMNS cells."""
    return GRID_COLUMNS * (resolution + pad) + pad, GRID_ROWS * (resolution + pad) + pad


def assert_grid_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB", f"{path}: {image.format} {image.mode}"
        assert image.size == grid_size(), f"{path}: {image.size}, expected {grid_size()}"
        lo, hi = image.convert("L").getextrema()
        assert hi - lo > 50, f"{path} is blank"


def scalars(tensorboard_dir: Path) -> dict[str, list[int]]:
    """Scalar tag → steps logged, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tensorboard_dir))
    events.Reload()
    tags = events.Tags()
    out = {tag: [e.step for e in events.Scalars(tag)] for tag in tags["scalars"]}
    out["<images>"] = [e.step for e in events.Images("grid")] if "grid" in tags["images"] else []
    return out


def two_worker_args(shards: Path, storage: Path, name: str, *extra: str) -> list[str]:
    """The settings both Ray runs share (the killed one differs only in its name), so their results compare."""
    return tiny_args(shards, storage, name, "scaling.num_workers=2", f"data.batches_per_epoch={BATCHES}",
                     f"train.epochs={EPOCHS}", "train.log_every=1", "run.num_to_keep=10", RECORD_WORKERS, *extra)


@dataclass
class RayRun:
    args: list[str]
    result: ScriptResult
    folder: Path
    left_running: list[int]


@pytest.fixture(scope="module")
def two_worker_run(tiny_shards, tmp_path_factory) -> RayRun:
    """An uninterrupted 2-worker run (once per module: Ray's start-up is most of its time)."""
    cwd = tmp_path_factory.mktemp("two")
    args = two_worker_args(tiny_shards, cwd / "runs", "two")
    with ray_tmp_folder() as ray_tmp:
        result = run_script(args, cwd, ray_tmp, RUN_TIMEOUT)
        left = wait_until_ray_gone(ray_tmp)
    print(f"\ntwo-worker run: {result.seconds:.1f} s")
    return RayRun(args, result, cwd / "runs" / "two", left)


@pytest.mark.timeout(RUN_TIMEOUT + 120)
def test_two_worker_run_writes_a_complete_run_folder(two_worker_run):
    result, run = two_worker_run.result, two_worker_run.folder
    assert result.rc == 0, f"exit {result.rc}\n{result.stderr[-4000:]}"
    assert not two_worker_run.left_running, "Ray processes were still running after train_tsn exited"
    steps = EPOCHS * BATCHES

    # the resolved config, as the user would get it from --dry-run
    expected = to_dict(resolve_config("tsn", "tiny", None, two_worker_run.args[2:]))
    assert yaml.safe_load((run / "config.yaml").read_text()) == expected

    # one checkpoint per epoch; the last is the one printed, at the full step count
    checkpoints = checkpoints_by_epoch(run)
    assert sorted(checkpoints) == list(range(1, EPOCHS + 1))
    final = printed_checkpoint(result.stdout)
    assert final.resolve() == checkpoints[EPOCHS].resolve()
    state = load_checkpoint(final, stage="tsn")
    assert state["stage"] == "tsn" and state["epoch"] == EPOCHS and state["engine"]["step"] == steps
    assert state["config"] == expected
    assert yaml.safe_load((final / "config.yaml").read_text()) == expected
    for epoch, folder in checkpoints.items():
        assert_grid_png(folder / "grid.png")
        assert (folder / "grid.png").read_bytes() == (run / "grids" / f"step_{epoch * BATCHES:07d}.png").read_bytes()

    # grids and TensorBoard: losses at every step, a grid image per checkpoint
    grids = sorted(p.name for p in (run / "grids").glob("step_*.png"))
    assert grids == [f"step_{e * BATCHES:07d}.png" for e in range(1, EPOCHS + 1)]
    for name in grids:
        assert_grid_png(run / "grids" / name)
    logged = scalars(run / "tensorboard")
    assert logged["G/total"] == list(range(1, steps + 1)) and logged["D/total"] == list(range(1, steps + 1))
    assert "time/launch_to_first_step_s" in logged
    assert logged["<images>"] == [e * BATCHES for e in range(1, EPOCHS + 1)]

    # DDP really ran with 2 processes: two distinct worker processes wrote their ranks' pid files (the hook), and
    # Accelerate's process count (what world_size reports) is torch.distributed's world size
    pids = worker_pids(run)
    assert sorted(pids) == [0, 1] and pids[0] != pids[1] and os.getpid() not in pids.values()
    metrics = printed_metrics(result.stdout)
    assert metrics["world_size"] == 2 and metrics["epoch"] == EPOCHS and metrics["step"] == steps
    assert metrics["skipped_steps"] == 0 and metrics["data/lost_products"] == 0 == metrics["data/bad_shards"]
    per_epoch = reported_metrics(run)
    assert sorted(per_epoch) == list(range(1, EPOCHS + 1))
    assert all(m["world_size"] == 2 and m["step"] == e * BATCHES for e, m in per_epoch.items())
    assert per_epoch[EPOCHS] == metrics
    for key in ("G/total", "G/l1", "G/perceptual", "G/style", "G/adv", "D/total"):
        assert all(0 < m[key] < 1e4 for m in per_epoch.values()), key


# ------------------------------------------------------------------------------------------------ refusals

def assert_refused(result, *words: str) -> None:
    """Exit 2 with exactly one stderr line `train_tsn: error: …` naming `words`; no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.rc == 2, f"exit {result.rc}\n{result.stderr[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("train_tsn: error:"), result.stderr
    for word in words:
        assert word in lines[0], f"{word!r} not named in: {lines[0]}"


@pytest.mark.timeout(4 * QUICK_TIMEOUT)
@pytest.mark.parametrize("bad, named", [
    (["nosuch.key=1"], ["nosuch.key"]),
    (["train.epochs=three"], ["train.epochs", "three"]),
    (["scaling.num_workers=0"], ["scaling.num_workers"]),
    (["run.resume_from=/no/such/checkpoint"], ["/no/such/checkpoint"]),
    # values that used to be found only inside Ray workers (and retried): the validation pass refuses them
    (["data.resolution=63"], ["data.resolution=63", "multiple of 16"]),
    (["optim.lr_g=-1e-3"], ["optim.lr_g", "> 0"]),
    (["optim.lr_g=nan"], ["optim.lr_g", "finite"]),
    (["run.storage_path=/proc/paint-runs"], ["run.storage_path", "/proc/paint-runs"]),
    (["run.storage_path={file}"], ["run.storage_path", "is not a folder"]),
    (["data.resolution=63", "--dry-run"], ["data.resolution=63"]),
])
def test_bad_override_is_refused_before_ray_starts(bad, named, ray_tmp, tmp_path):
    start = time.monotonic()
    (tmp_path / "a-file").write_text("not a folder")
    bad = [arg.replace("{file}", str(tmp_path / "a-file")) for arg in bad]
    result = run_script(tiny_args(tmp_path / "shards", tmp_path / "runs", "bad", *bad), tmp_path, ray_tmp,
                        QUICK_TIMEOUT)
    assert_refused(result, *named)
    assert time.monotonic() - start < QUICK_TIMEOUT / 2
    assert not os.path.exists(ray_tmp + "/ray"), "Ray was started for a run that was refused"
    assert not (tmp_path / "runs").exists()
    assert result.stdout == ""


@pytest.mark.timeout(QUICK_TIMEOUT + 30)
def test_a_run_name_reused_with_other_networks_is_refused_before_ray(ray_tmp, tmp_path):
    earlier = tmp_path / "runs" / "bad"
    earlier.mkdir(parents=True)
    saved = to_dict(resolve_config("tsn", "tiny", None, ["model.cnum=16"]))
    (earlier / "config.yaml").write_text(yaml.safe_dump(saved))
    result = run_script(tiny_args(tmp_path / "shards", tmp_path / "runs", "bad"), tmp_path, ray_tmp, QUICK_TIMEOUT)
    assert_refused(result, "run.name='bad'", "model.cnum 16 → 8", "another run.name")
    assert not os.path.exists(ray_tmp + "/ray") and sorted(os.listdir(earlier)) == ["config.yaml"]


@pytest.mark.timeout(QUICK_TIMEOUT + 30)
def test_unknown_key_in_config_file_is_refused(ray_tmp, tmp_path):
    config = tmp_path / "my.yaml"
    config.write_text("train:\n  epochs: 2\n  not_a_setting: 5\n")
    result = run_script(["--preset", "tiny", "--config", str(config), f"run.storage_path={tmp_path / 'runs'}"],
                        tmp_path, ray_tmp, QUICK_TIMEOUT)
    assert_refused(result, "not_a_setting")
    assert not os.path.exists(ray_tmp + "/ray") and not (tmp_path / "runs").exists()


@pytest.mark.timeout(3 * QUICK_TIMEOUT)
def test_dry_run_prints_yaml_that_config_accepts_back_unchanged(ray_tmp, tmp_path):
    overrides = ["loss.style=250", "data.batch_size=3", "optim.schedule=cosine", "run.name=roundtrip"]
    first = run_script(["--preset", "tiny", "--dry-run", *overrides], tmp_path, ray_tmp, QUICK_TIMEOUT)
    assert first.rc == 0 and first.stderr.strip() == "", first.stderr
    printed = yaml.safe_load(first.stdout)
    assert printed == to_dict(resolve_config("tsn", "tiny", None, overrides))
    assert printed["loss"]["style"] == 250 and printed["data"]["batch_size"] == 3

    saved = tmp_path / "resolved.yaml"
    saved.write_text(first.stdout)
    # another preset underneath: the file alone must reproduce the config
    second = run_script(["--preset", "small", "--config", str(saved), "--dry-run"], tmp_path, ray_tmp,
                        QUICK_TIMEOUT)
    assert second.rc == 0, second.stderr
    assert second.stdout == first.stdout
    assert not os.path.exists(ray_tmp + "/ray")


# ------------------------------------------------------------------------------------------ fault tolerance

def count_registered(run: Path) -> int:
    """Checkpoints Ray's controller has registered (it writes checkpoint_manager_snapshot.json on each). A folder
    alone is not enough: a report that the controller has not yet collected is lost when a worker dies, and the
    restarted group would then begin from the previous checkpoint (or from scratch)."""
    try:
        return len(reported_metrics(run))
    except (OSError, ValueError, KeyError):  # not written yet, or being replaced
        return 0


@pytest.mark.timeout(3 * RUN_TIMEOUT)
def test_run_survives_a_killed_worker(two_worker_run, tiny_shards, ray_tmp, tmp_path):
    """SIGKILL rank 1's worker after the first registered checkpoint: Ray restarts the group from the latest
    checkpoint and the run ends exactly where the uninterrupted run ended."""
    run = tmp_path / "runs" / "kill"
    script = Script(two_worker_args(tiny_shards, tmp_path / "runs", "kill", "run.max_failures=2"), tmp_path, ray_tmp)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not count_registered(run):
            assert script.running(), f"train_tsn ended before its first checkpoint:\n{script.stderr()[-4000:]}"
            assert time.monotonic() < deadline, "no checkpoint within the timeout"
            time.sleep(0.2)
        before = worker_pids(run)
        victim = before[1]
        assert pid_alive(victim) and victim in ray_processes(ray_tmp), "rank 1's worker is not a live Ray process"
        os.kill(victim, signal.SIGKILL)
        killed_at = count_registered(run)
        assert killed_at < EPOCHS, "the run had already finished when the worker was killed"
        result = script.wait(2 * RUN_TIMEOUT)
    finally:
        if script.running():
            script.kill()
    print(f"killed rank 1 (pid {victim}) after epoch {killed_at}; run took {result.seconds:.1f} s")
    assert result.rc == 0, f"exit {result.rc}\n{result.stderr[-4000:]}"

    # the group was restarted from a checkpoint: new worker processes, and rank 0 said where it resumed
    after = worker_pids(run)
    assert sorted(after) == [0, 1] and after[0] != before[0] and after[1] != before[1]
    assert not pid_alive(victim)
    resumed = re.search(r"\[tsn\] resumed at epoch (\d+), step (\d+)", result.stdout)
    assert resumed, f"no 'resumed at epoch' line:\n{result.stdout[-3000:]}"
    resumed_epoch, resumed_step = int(resumed.group(1)), int(resumed.group(2))
    assert killed_at <= resumed_epoch < EPOCHS and resumed_step == resumed_epoch * BATCHES

    # it finished the whole run, each epoch's checkpoint registered once, and ended bit for bit where the
    # uninterrupted run ended (same per-epoch losses, same weights, optimisers, EMA, RNG states)
    final = load_checkpoint(printed_checkpoint(result.stdout), stage="tsn")
    assert final["epoch"] == EPOCHS and final["engine"]["step"] == EPOCHS * BATCHES
    reported = reported_metrics(run)
    assert sorted(reported) == list(range(1, EPOCHS + 1))
    for epoch, folder in registered_checkpoints(run).items():
        assert load_checkpoint(folder, stage="tsn")["epoch"] == epoch
    assert two_worker_run.result.rc == 0, "the uninterrupted run failed (see the test above)"
    assert reported == reported_metrics(two_worker_run.folder)
    assert printed_metrics(result.stdout) == printed_metrics(two_worker_run.result.stdout)
    expected = load_checkpoint(printed_checkpoint(two_worker_run.result.stdout))
    assert_same_state(final["engine"], expected["engine"], "engine")
    assert not wait_until_ray_gone(ray_tmp), "Ray processes are still running after train_tsn exited"


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_a_failure_no_restart_can_fix_ends_the_run_at_once(tiny_shards, ray_tmp, tmp_path):
    """Train shards that are all unreadable: the workers' StreamError ends the run on its first attempt, although
    run.max_failures=2 would allow two restarts (they are for workers that die, tested above)."""
    broken = tmp_path / "broken"
    shutil.copytree(tiny_shards, broken)
    for tar in broken.glob("train-*.tar"):
        tar.write_bytes(b"not a tar archive " * 64)
    args = tiny_args(broken, tmp_path / "runs", "broken", "run.max_failures=2", RECORD_WORKERS)
    result = run_script(args, tmp_path, ray_tmp, RUN_TIMEOUT)
    ours = [line for line in result.stderr.splitlines() if line.startswith("train_tsn: ")]   # Ray logs around it
    assert result.rc == 1 and len(ours) == 1, result.stderr[-3000:]
    assert ours[0].startswith("train_tsn: error: training failed: StreamError: training shards yield no samples")
    starts = (tmp_path / "runs" / "broken" / "workers" / "starts").read_text().splitlines()
    assert len(starts) == 1, f"the workers were started {len(starts)} times: {starts}"
    assert "restart 1 of" not in result.stdout + result.stderr


@pytest.mark.timeout(2 * RUN_TIMEOUT)
def test_a_truncated_train_shard_is_one_error_and_the_lost_fraction_decides(tiny_shards, tmp_path):
    """Training on two shards, one cut short in its third product (an interrupted copy): the run counts one
    unreadable shard that lost the products after the cut, however often it re-reads it, and reports that in its
    metrics and final summary; it stops with one line when that is more than data.max_lost_fraction of its
    products (the default 1 %), and trains on when the user allows more."""
    from tests.test_stream import truncate_mid_product

    folder = tmp_path / "truncated"
    shutil.copytree(tiny_shards, folder)
    held, whole = truncate_mid_product(folder / "train-000001.tar")
    lost = held - whole
    spec = f"data.shards={folder / 'train-000000.tar'},{folder / 'train-000001.tar'}"
    listed = sum(shard["products"] for shard in yaml.safe_load((folder / "manifest.json").read_text())["splits"]
                 ["train"]["shards"] if shard["name"] in ("train-000000.tar", "train-000001.tar"))
    common = ["data.batches_per_epoch=20", "train.epochs=2", spec]
    with ray_tmp_folder() as ray_tmp:
        refused = run_script([*tiny_args(folder, tmp_path / "runs", "refused"), *common], tmp_path, ray_tmp,
                             RUN_TIMEOUT)
    ours = [line for line in refused.stderr.splitlines() if line.startswith("train_tsn: ")]
    assert refused.rc == 1 and len(ours) == 1, refused.stderr[-3000:]
    assert f"{lost} of {listed} products lost" in ours[0] and "more than data.max_lost_fraction=0.01" in ours[0]
    assert "train-000001.tar" in ours[0]
    with ray_tmp_folder() as ray_tmp:
        kept = run_script([*tiny_args(folder, tmp_path / "runs", "kept"), *common, "data.max_lost_fraction=0.5"],
                          tmp_path, ray_tmp, RUN_TIMEOUT)
    assert kept.rc == 0, kept.stderr[-3000:]
    metrics = printed_metrics(kept.stdout)
    assert metrics["data/bad_shards"] == 1 and metrics["data/lost_products"] == lost
    assert f"data: {lost} products lost, 1 unreadable shard(s)" in kept.stdout
