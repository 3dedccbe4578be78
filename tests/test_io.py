"""paint/io.py: atomic writes leave the old file or the new one and never a temporary file; sha256 of a file."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from paint.io import atomic_path, publish, sha256_file, write_bytes_atomic, write_text_atomic


class Boom(RuntimeError):
    pass


def _listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_bytes_and_text_replace_the_file_with_the_umask_mode(tmp_path):
    path = tmp_path / "out.bin"
    write_bytes_atomic(path, b"old")
    assert write_text_atomic(path, "nouveau é\n") == path
    assert path.read_bytes() == "nouveau é\n".encode("utf-8")
    write_bytes_atomic(path, b"durable", durable=True)
    assert path.read_bytes() == b"durable"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert _listing(tmp_path) == ["out.bin"]


def test_an_error_mid_write_keeps_the_old_file_and_leaves_no_partial_file(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(b"old picture")
    with pytest.raises(Boom):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a pict")
            raise Boom()
    assert path.read_bytes() == b"old picture"
    assert _listing(tmp_path) == ["picture.png"]


def test_an_error_while_writing_bytes_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    path.write_bytes(b"old")

    def failing_fsync(fd):
        raise Boom()

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(Boom):
        write_bytes_atomic(path, b"new", durable=True)
    assert path.read_bytes() == b"old"
    assert _listing(tmp_path) == ["table.csv"]


def test_a_staged_folder_is_renamed_whole_or_removed(tmp_path):
    with atomic_path(tmp_path / "done") as stage:
        stage.mkdir()
        (stage / "a.txt").write_text("a")
    assert (tmp_path / "done" / "a.txt").read_text() == "a"
    with pytest.raises(Boom):
        with atomic_path(tmp_path / "failed") as stage:
            stage.mkdir()
            (stage / "a.txt").write_text("a")
            raise Boom()
    assert _listing(tmp_path) == ["done"]


def test_publish_moves_staged_files_into_a_folder_and_leaves_the_rest(tmp_path):
    folder, stage = tmp_path / "out", tmp_path / "stage"
    folder.mkdir()
    stage.mkdir()
    (folder / "keep.txt").write_text("user file")
    (folder / "one.png").write_text("old")
    for name in ("one.png", "two.json"):
        (stage / name).write_text(name)
    publish(stage, folder, ["one.png", "two.json"])
    assert _listing(folder) == ["keep.txt", "one.png", "two.json"] and _listing(stage) == []
    assert (folder / "one.png").read_text() == "one.png" and (folder / "keep.txt").read_text() == "user file"


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "data.bin"
    data = os.urandom(3 * (1 << 20) + 12345)    # several read blocks and a partial one
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_outputs_in_a_folder_ray_deletes_are_refused_by_every_command(tmp_path, capsys):
    """A relative output path of a `ray job submit` entrypoint lands in Ray's copy of the working dir (under
    <ray temp>/session_*/runtime_resources/), which Ray deletes when the job ends: every command refuses it in one
    line naming the option, and writes nothing there (the real job is tests/test_job_submit.py)."""
    from design.cli import main as design_main
    from eval.cli import main as eval_main
    from paint.io import deleted_by_ray
    from tune.cli import main as tune_main

    texture = Path(__file__).resolve().parents[1] / "design" / "textures" / "red-tartan.png"
    copy = tmp_path / "ray" / "session_2026-12-07_04-00-00_1" / "runtime_resources" / "working_dir_files" / "pkg"
    copy.mkdir(parents=True)
    assert deleted_by_ray(copy / "runs") and not deleted_by_ray(tmp_path / "runs")
    assert not deleted_by_ray(tmp_path / "runtime_resources" / "x")   # only under a Ray session folder
    for main, argv, option in (
            (design_main, ["--pose", "standing", "--texture", f"top={texture}", "--out", str(copy / "design")],
             "--out"),
            (eval_main, ["--floor", "tsn", "--shards", str(tmp_path), "--leaderboard", str(copy / "lb.csv")],
             "--leaderboard"),
            (tune_main, ["--stage", "tsn", "--out", str(copy / "sweep")], "--out")):
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and f"{option}=" in err[0] and "Ray deletes" in err[0], (argv, err)
    assert [p.name for p in copy.iterdir()] == []
