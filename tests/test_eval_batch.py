"""`paint-eval batch`: many paint-eval commands in one process; every line is parsed before any runs, and the
first failure stops the batch with its status."""
from __future__ import annotations

import csv
import shlex
from pathlib import Path

from eval.cli import main
from tests.ray_fixtures import tiny_shards  # noqa: F401


def _common(shards: Path, board: Path) -> str:
    return shlex.join(["--shards", str(shards), "--limit", "4", "--leaderboard", str(board), "--metrics", "ssim",
                       "--fid-cache", "none", "--no-gallery", "--no-progress", "--preset", "tiny"])


def _rows(board: Path) -> list[dict]:
    with open(board, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_batch_appends_one_row_per_line(tiny_shards, tmp_path, capsys):  # noqa: F811
    board, batch = tmp_path / "board.csv", tmp_path / "rows.txt"
    common = _common(tiny_shards, board)
    batch.write_text(f"# the TSN floors\n--floor tsn --method tiled-patch {common}\n\n"
                     f"--floor tsn --method patch-mean {common}   # the prior alone\n")
    assert main(["batch", str(batch)]) == 0
    assert [row["method"] for row in _rows(board)] == ["tiled-patch", "patch-mean"]
    printed = capsys.readouterr().out
    assert "[1/2] paint-eval --floor tsn --method tiled-patch" in printed and "[2/2]" in printed


def test_a_bad_line_anywhere_is_refused_before_anything_runs(tiny_shards, tmp_path, capsys):  # noqa: F811
    board, batch = tmp_path / "board.csv", tmp_path / "rows.txt"
    common = _common(tiny_shards, board)
    batch.write_text(f"--floor tsn --method tiled-patch {common}\n--floor tsn --limt 3 {common}\n")
    assert main(["batch", str(batch)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{batch}:2:" in err[0] and "--limt" in err[0]
    assert not board.exists()
    batch.write_text("--floor tsn 'unclosed\n")
    assert main(["batch", str(batch)]) == 2 and "rows.txt:1: No closing quotation" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_first_failing_command_stops_the_batch_and_keeps_the_rows_before_it(tiny_shards, tmp_path,  # noqa: F811
                                                                             capsys):
    board, batch = tmp_path / "board.csv", tmp_path / "rows.txt"
    common = _common(tiny_shards, board)
    batch.write_text(f"--floor tsn --method tiled-patch {common}\n"
                     f"--stage tsn --checkpoint {tmp_path / 'no-such-run'} {common}\n"
                     f"--floor tsn --method patch-mean {common}\n")
    assert main(["batch", str(batch)]) == 2
    assert [row["method"] for row in _rows(board)] == ["tiled-patch"]
    assert "line 2 failed (exit 2); the rest did not run" in capsys.readouterr().err
