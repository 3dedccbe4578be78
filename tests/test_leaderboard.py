"""Leaderboard CSV: concurrent appends from real processes, header checks, exact floats, table order and
comparability flags, the chart, the git helper."""
from __future__ import annotations

import csv
import multiprocessing as mp
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from eval.leaderboard import COLUMNS, LeaderboardError, append_row, eval_list_sha, git_commit, read_rows
from eval.leaderboard_table import comparability, format_table, write_chart

NOTES = 'has, commas "quotes"\nand a newline'    # what a torn row would break first


def _row(run_id: str, **extra) -> dict:
    row = dict(run_id=run_id, stage="tsn", method="model", checkpoint_step=100, dataset="synth", split="test",
               eval_list_sha=eval_list_sha(["a", "b"]), resolution=64, n_real=50, n_gen=50,
               fid_weights_sha256="f" * 64, lpips_weights_sha256="1" * 64, notes=NOTES)
    row.update(extra)
    return row


def _append_many(path: str, worker: int, count: int, start) -> None:
    start.wait()    # all workers begin together
    for k in range(count):
        append_row(path, _row(f"w{worker}-{k:02d}", fid=float(worker * 100 + k) + 0.123456789012, seed=worker))


def test_four_processes_appending_at_once_lose_and_tear_no_row(tmp_path):
    path = tmp_path / "board" / "leaderboard.csv"
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_append_many, args=(str(path), w, 25, start)) for w in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    with open(path, newline="") as handle:
        parsed = list(csv.reader(handle))
    assert tuple(parsed[0]) == COLUMNS
    assert len(parsed) == 101 and all(len(cells) == len(COLUMNS) for cells in parsed)
    rows = read_rows(path)
    ids = [r["run_id"] for r in rows]
    assert len(set(ids)) == 100 == len(ids)
    assert sorted(ids) == sorted(f"w{w}-{k:02d}" for w in range(4) for k in range(25))
    assert all(r["notes"] == NOTES for r in rows)
    for r in rows:    # every value intact: floats exact, ints parsed
        worker, k = map(int, re.fullmatch(r"w(\d)-(\d\d)", r["run_id"]).groups())
        assert r["fid"] == float(worker * 100 + k) + 0.123456789012 and r["seed"] == worker
    # each worker's rows keep their own order
    for w in range(4):
        mine = [i for i in ids if i.startswith(f"w{w}-")]
        assert mine == sorted(mine)
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")]


def test_header_mismatch_is_an_error_and_leaves_the_file_untouched(tmp_path):
    path = tmp_path / "leaderboard.csv"
    old = "timestamp,run_id,stage,fid\n2024-01-01T00:00:00+00:00,r0,tsn,12.5\n"
    path.write_text(old)
    with pytest.raises(LeaderboardError, match="not a leaderboard.*lacking.*left untouched"):
        append_row(path, _row("r1", fid=10.0))
    assert path.read_text() == old
    with pytest.raises(LeaderboardError, match="not a leaderboard"):
        read_rows(path)
    reordered = tmp_path / "reordered.csv"     # known columns in another order: read, and rewritten in ours
    old_cells = {"run_id": "r0", "stage": "tsn", "method": "model", "fid": "12.5"}
    reordered.write_text(",".join(reversed(COLUMNS)) + "\n"
                         + ",".join(old_cells.get(c, "") for c in reversed(COLUMNS)) + "\n")
    append_row(reordered, _row("r1"))
    assert reordered.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert [(r["run_id"], r["fid"]) for r in read_rows(reordered)] == [("r0", 12.5), ("r1", None)]


def test_bad_rows_are_refused_naming_the_field_and_nothing_is_written(tmp_path):
    path = tmp_path / "leaderboard.csv"
    with pytest.raises(LeaderboardError, match="'fdi'"):
        append_row(path, _row("r1", fdi=3.0))
    with pytest.raises(LeaderboardError, match="fid=nan"):
        append_row(path, _row("r1", fid=float("nan")))
    with pytest.raises(LeaderboardError, match="n_gen='many'"):
        append_row(path, _row("r1", n_gen="many"))
    with pytest.raises(LeaderboardError, match="lacks stage"):
        append_row(path, {"run_id": "r1", "method": "model"})
    assert not path.exists()


def test_written_file_parses_with_csv_and_keeps_values_exact(tmp_path):
    path = tmp_path / "leaderboard.csv"
    written = append_row(path, {"run_id": "r1", "stage": "lgn", "method": "model", "miou_all": 0.1 + 0.2,
                                "git_commit": git_commit()})
    append_row(path, _row("r2", fid=12.0, lpips=None, notes="lpips: weights missing"))
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", rows[0]["timestamp"])
    assert rows[0]["fid"] == "" and rows[1]["lpips"] == "" and written["miou_all"] == rows[0]["miou_all"]
    typed = read_rows(path)
    assert typed[0]["miou_all"] == 0.1 + 0.2 and typed[0]["fid"] is None and typed[1]["n_gen"] == 50
    # typed rows go back in unchanged
    append_row(path, typed[1])
    assert read_rows(path)[2] == typed[1]


def _run_of(line: str) -> str:
    """run_id of a table line: the cell after "<stage> <role> <method>"."""
    return re.search(r"(?:lgn|tsn)\s+model\s+model\s+(\S+)", line).group(1)


def test_table_sorts_best_first_and_flags_rows_not_comparable(tmp_path):
    rows = [
        _row("mid", fid=20.0, ssim=0.70),
        _row("best", fid=10.0, ssim=0.60),
        _row("fewer", fid=5.0, n_gen=10),                      # better fid but on fewer images
        _row("none", fid=None, ssim=0.90),
        _row("other-inception", fid=15.0, fid_weights_sha256="e" * 64),
        _row("no-lpips", fid=30.0, lpips_weights_sha256=""),   # lpips sha only counts when lpips is reported
        _row("lgn", stage="lgn", method="model", miou_all=0.5, n_gen=7),
    ]
    table = format_table(rows, stage="tsn")
    body = table.split("\n\n")[0].splitlines()[3:]    # after the title, header and rule
    runs = [_run_of(line) for line in body]
    assert runs == ["fewer", "best", "other-inception", "mid", "no-lpips", "none"], table
    flagged = {_run_of(line) for line in body if line.startswith("≠")}
    # the best row (fewer images) is the reference: everything on 50 images differs from it in n_gen
    assert flagged == {"best", "other-inception", "mid", "no-lpips", "none"}
    assert "n_gen (50 vs 10)" in table
    # without the odd row, only the other inception weights are flagged
    fair = [r for r in rows if r["run_id"] != "fewer"]
    flags = {r["run_id"]: f for r, f in zip(fair, comparability(fair))}
    assert flags["best"]["comparable"] and flags["mid"]["comparable"]
    assert flags["no-lpips"]["comparable"] and flags["lgn"]["comparable"]
    assert not flags["other-inception"]["comparable"]
    assert flags["other-inception"]["differs"] == ["fid_weights_sha256 (eeeeeeeeeeee… vs ffffffffffff…)"]
    ssim_table = format_table(fair, stage="tsn", sort_by="ssim")
    ssim_runs = [_run_of(line) for line in ssim_table.splitlines()[3:] if line]
    assert ssim_runs[:3] == ["none", "mid", "best"]
    # a stage that reports no FID (LGN: mIoU only) is ranked by its first reported metric
    lgn = [_row("lgn-low", stage="lgn", miou_all=0.3), _row("lgn-high", stage="lgn", miou_all=0.6)]
    full = format_table(lgn + fair)
    assert "each best first by lgn miou_all (higher is better); tsn fid" in full.splitlines()[0]
    full_runs = [_run_of(line) for line in full.split("\n\n")[0].splitlines()[3:]]
    assert full_runs[:3] == ["lgn-high", "lgn", "lgn-low"] and full_runs[3] == "best"
    with pytest.raises(LeaderboardError, match="cannot sort by 'psnr'"):
        format_table(rows, sort_by="psnr")


def test_chart_is_a_valid_png_written_atomically(tmp_path):
    path = tmp_path / "leaderboard.csv"
    for k, n_gen in enumerate((50, 50, 10)):
        append_row(path, _row(f"r{k}", fid=10.0 + k, ssim=0.5, lpips=0.2 if k else None, n_gen=n_gen))
    append_row(path, _row("g", stage="lgn", miou_all=0.4, miou_garment=0.3, pixel_acc=0.8))
    out = write_chart(read_rows(path), tmp_path / "charts" / "leaderboard.png")
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 100
    assert sorted(p.name for p in out.parent.iterdir()) == ["leaderboard.png"]
    with pytest.raises(LeaderboardError, match="no leaderboard row has a metric"):
        write_chart([_row("empty")], tmp_path / "empty.png")


def test_git_commit_and_eval_list_sha(tmp_path):
    commit = git_commit()
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).parent).stdout.strip()
    assert commit.startswith(head)
    assert git_commit(tmp_path) == "unknown"
    assert eval_list_sha(["a", "b"]) != eval_list_sha(["b", "a"])
    assert eval_list_sha([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    with pytest.raises(LeaderboardError, match="newline"):
        eval_list_sha(["a\nb"])


def test_append_keeps_existing_bytes_exact_even_from_a_hand_edited_file(tmp_path):
    path = tmp_path / "leaderboard.csv"
    with open(path, "w", newline="") as handle:    # csv's default \r\n endings, no newline after the last row
        csv.writer(handle).writerows([COLUMNS, [""] * 3 + ["tsn", "model"] + [""] * (len(COLUMNS) - 5)])
    old = path.read_bytes()
    path.write_bytes(old.rstrip(b"\r\n"))
    old = path.read_bytes()
    append_row(path, _row("r1", timestamp=datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))))
    assert path.read_bytes().startswith(old)
    rows = read_rows(path)
    assert len(rows) == 2 and rows[1]["timestamp"] == "2024-05-01T10:00:00+00:00"
    with pytest.raises(LeaderboardError, match="no time zone"):
        append_row(path, _row("r2", timestamp=datetime(2024, 5, 1)))
