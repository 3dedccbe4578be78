"""paint-eval on 2 Ray Train workers gives the 1-process scores: the real console script on a local Ray cluster of
its own (loopback, fresh RAY_TMPDIR, shut down afterwards), against the same command run in this process.

The val split is written as 2 shards (2 + 1 products), so with 2 workers each rank reads its own shard (the
shard-level split of the eval stream) while the single process reads both.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eval.cli import main
from tests.ray_fixtures import ray_processes, ray_tmp, script_env, wait_until_ray_gone  # noqa: F401
from tests.test_eval_runner import read_csv, train_tiny

SCRIPT = str(Path(sys.executable).with_name("paint-eval"))
RAY_TIMEOUT = 400


@pytest.fixture(scope="module")
def two_val_shards(tmp_path_factory) -> Path:
    from shards.synth import generate_shards

    out = tmp_path_factory.mktemp("shards2")
    manifest = generate_shards(out, products=24, views=3, size=64, seed=0, products_per_shard=2, workers=2,
                               progress=False)
    assert len(manifest["splits"]["val"]["shards"]) == 2
    return out


@pytest.fixture(scope="module")
def lgn_run(two_val_shards, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    train_tiny("lgn", two_val_shards, root)
    return root / "lgn"


def run_script(args: list[str], cwd: Path, ray_tmp: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args, "--no-progress"], cwd=cwd, env=script_env(ray_tmp), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(RAY_TIMEOUT + 200)
def test_two_ray_workers_give_the_one_process_scores(lgn_run, two_val_shards, ray_tmp, tmp_path, capsys):
    common = ["--stage", "lgn", "--checkpoint", str(lgn_run), "--shards", str(two_val_shards), "--metrics",
              "fid,ssim,layout"]
    assert main([*common, "--leaderboard", str(tmp_path / "one.csv"), "--no-progress"]) == 0, capsys.readouterr()
    done = run_script([*common, "--leaderboard", str(tmp_path / "ray.csv"), "--num-workers", "2"], tmp_path,
                      ray_tmp, RAY_TIMEOUT)
    assert done.returncode == 0, done.stderr[-4000:]
    assert not wait_until_ray_gone(ray_tmp), "Ray processes are still running after paint-eval exited"
    (one,), (ray,) = read_csv(tmp_path / "one.csv"), read_csv(tmp_path / "ray.csv")
    assert one["device"] == "cpu" and ray["device"] == "ray 2x cpu"
    for column in ("n_real", "n_gen", "eval_list_sha", "dataset", "split", "resolution", "checkpoint_step"):
        assert ray[column] == one[column], column
    assert one["n_gen"] == "9"                                   # every val view once, over both ranks
    for column in ("miou_all", "miou_garment", "pixel_acc"):   # confusion-matrix counts: exact
        assert ray[column] == one[column], column
    assert float(ray["ssim"]) == pytest.approx(float(one["ssim"]), abs=1e-5)
    assert float(ray["fid"]) == pytest.approx(float(one["fid"]), rel=1e-3)
    # the one-process run saved the real FID statistics; the workers got them from rank 0 (a broadcast)
    assert "FID real statistics from fid-real-layouts-val-full-" in ray["notes"]
    assert "FID real statistics from" not in one["notes"]
    assert (tmp_path / "galleries" / "lgn-lgn-2" / "index.html").is_file()


@pytest.mark.timeout(120)
def test_a_bad_request_is_refused_before_ray_starts(lgn_run, two_val_shards, ray_tmp, tmp_path):
    board = tmp_path / "leaderboard.csv"
    done = run_script(["--stage", "tsn", "--checkpoint", str(lgn_run), "--shards", str(two_val_shards),
                       "--num-workers", "2", "--leaderboard", str(board)], tmp_path, ray_tmp, 100)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("paint-eval: error: ") and "belongs to stage 'lgn'" in lines[0]
    assert not board.exists() and not ray_processes(ray_tmp) and not any(Path(ray_tmp).iterdir())
