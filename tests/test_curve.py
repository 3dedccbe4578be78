"""`paint-eval curve`: every checkpoint of a real tiny run scored on the same units; the floor, untrained and
reference rows of the leaderboard on those units drawn as lines; curve.csv, a chart per metric, TensorBoard."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from eval.cli import main
from paint.run_setup import resolve_config
from paint.train_loop import fit
from tests.ray_fixtures import tiny_shards  # noqa: F401

EPOCHS, STEPS, LIMIT = 2, 2, 4


@pytest.fixture(scope="module")
def tsn_run(tiny_shards, tmp_path_factory) -> Path:      # noqa: F811
    """A TSN run folder with one checkpoint_* per epoch, as Ray Train keeps them."""
    run = tmp_path_factory.mktemp("curve") / "tsn"
    cfg = resolve_config("tsn", "tiny", None, [f"data.shards={tiny_shards}", f"data.batches_per_epoch={STEPS}",
                                               f"train.epochs={EPOCHS}", "train.threads=2"])
    saved = []

    def reporter(metrics, folder):
        if folder is not None:
            saved.append(run / f"checkpoint_{len(saved):06d}")
            shutil.copytree(folder, saved[-1])
    threads = torch.get_num_threads()
    try:
        fit(cfg, 0, 1, reporter, run / "log")
    finally:
        torch.set_num_threads(threads)
    assert len(saved) == EPOCHS
    return run


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_curve_scores_every_checkpoint_and_draws_the_lines_on_the_same_units(tsn_run, tiny_shards, tmp_path,
                                                                            capsys):  # noqa: F811
    board, out = tmp_path / "board.csv", tmp_path / "curve"
    common = ["--shards", str(tiny_shards), "--limit", str(LIMIT), "--leaderboard", str(board),
              "--metrics", "ssim", "--fid-cache", "none"]
    # a floor on the same units, and one on other units (it must not be drawn)
    assert main(["--baseline", "tsn", "--preset", "tiny", *common, "--no-gallery", "--no-progress"]) == 0
    other = [c if c != str(LIMIT) else "3" for c in common]
    assert main(["--baseline", "tsn", "--preset", "tiny", *other, "--no-gallery", "--no-progress",
                 "--notes", "other units"]) == 0
    assert main(["curve", "--run", str(tsn_run), *common, "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    points = _rows(out / "curve.csv")
    assert [int(p["step"]) for p in points] == [STEPS, EPOCHS * STEPS]
    assert all(0 < float(p["ssim"]) <= 1 for p in points)
    lines = _rows(out / "lines.csv")
    assert [(line["role"], line["method"]) for line in lines] == [("floor", "tiled-patch")]
    floor_ssim = [r for r in _rows(board) if "other units" not in r["notes"]][0]["ssim"]
    assert lines[0]["ssim"] == floor_ssim
    assert (out / "curve_ssim.png").stat().st_size > 1000 and "no reference/untrained row" in printed
    events = EventAccumulator(str(tsn_run / "tensorboard")).Reload()
    scalars = events.Scalars("eval_curve/ssim")
    assert [s.step for s in scalars] == [STEPS, EPOCHS * STEPS]
    assert [round(s.value, 5) for s in scalars] == [round(float(p["ssim"]), 5) for p in points]


def test_a_folder_without_checkpoints_is_one_line(tiny_shards, tmp_path, capsys):  # noqa: F811
    assert main(["curve", "--run", str(tmp_path), "--shards", str(tiny_shards)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no checkpoint_*" in err[0]


def test_a_checkpoint_already_on_the_leaderboard_with_the_same_scoring_is_read_not_rescored(tsn_run, tiny_shards,
                                                                                          tmp_path, capsys):  # noqa: F811
    board = tmp_path / "board.csv"
    common = ["--shards", str(tiny_shards), "--limit", str(LIMIT), "--leaderboard", str(board),
              "--metrics", "ssim", "--fid-cache", "none", "--no-progress"]
    assert main(["--stage", "tsn", "--checkpoint", str(tsn_run), *common, "--no-gallery"]) == 0  # the latest
    rows = _rows(board)
    rows[0]["ssim"] = "0.123456"          # a value no rescoring would give: the point must come from the row
    with open(board, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["curve", "--run", str(tsn_run), *common, "--out", str(tmp_path / "same")]) == 0
    assert "the leaderboard's row for this checkpoint" in capsys.readouterr().out
    points = _rows(tmp_path / "same" / "curve.csv")
    assert [p["ssim"] for p in points][-1] == "0.123456" and float(points[0]["ssim"]) != 0.123456
    # scored another way (another seed): the row does not stand for the point
    assert main(["curve", "--run", str(tsn_run), *common, "--seed", "7", "--out", str(tmp_path / "other")]) == 0
    assert all(float(p["ssim"]) != 0.123456 for p in _rows(tmp_path / "other" / "curve.csv"))
