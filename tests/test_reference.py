"""The real-data reference row (eval/reference.py): train-split pictures of other products, one per eval unit,
against the eval set's real pictures; FID only; refused when the train shards overlap the evaluated ones."""
from __future__ import annotations

import csv
import math
import shutil
import tarfile
from pathlib import Path

import pytest
import torch

from eval.cli import main
from eval.floors import FloorRequest, floor_data
from eval.reference import REFERENCE_METHOD, make_reference, real_pictures
from eval.runner import EvalError
from paint.data.stream import eval_loader
from paint.stages.visuals import layout_picture
from tests.ray_fixtures import tiny_shards  # noqa: F401

LIMIT = 2        # FID runs every picture through Inception-v3 at 299 px: keep the row small


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.timeout(600)
def test_reference_rows_have_finite_fid_and_no_paired_scores(tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    stages = ("tsn", "pipeline")     # a view kind and a pair kind; the others differ only in real_pictures
    for stage in stages:
        code = main(["--reference", stage, "--preset", "tiny", "--shards", str(tiny_shards), "--limit", str(LIMIT),
                     "--leaderboard", str(board), "--no-progress", "--gallery-samples", "1"])
        assert code == 0, capsys.readouterr().err
    rows = _rows(board)
    assert [(r["stage"], r["method"], r["run_id"]) for r in rows] == \
        [(s, REFERENCE_METHOD, f"reference-{REFERENCE_METHOD}") for s in stages]
    for row in rows:
        assert math.isfinite(float(row["fid"])) and float(row["fid"]) > 0
        assert row["n_real"] == row["n_gen"] == str(LIMIT)
        assert row["ssim"] == row["lpips"] == row["miou_all"] == ""
        assert row.get("role", "reference") == "reference" and "other products from the train split" in row["notes"]
    assert (tmp_path / "galleries" / f"reference-{REFERENCE_METHOD}-pipeline" / "index.html").is_file()


def test_reference_streams_one_train_unit_per_eval_unit_in_order(tiny_shards):
    data = floor_data("afn", "tiny")
    reference = make_reference("afn", FloorRequest(data, str(tiny_shards), "val"))
    assert reference.identity()["role"] == "reference" and reference.metrics == ("fid",)
    train = [b for b in eval_loader("pair", data, 0, 1, shards=str(tiny_shards), split="train", batch_size=3)]
    expected = torch.cat([b["tgt_image"] for b in train])
    train_products = {key.split("/")[0] for b in train for key in b["key"]}
    taken = []
    for batch in eval_loader("pair", data, 0, 1, shards=str(tiny_shards), batch_size=4):   # 4 + 2 pairs
        assert not {key.split("/")[0] for key in batch["key"]} & train_products            # other products
        compared = reference.predict(batch)
        assert torch.equal(compared.real, batch["tgt_image"])
        taken.append(compared.fake)
    taken = torch.cat(taken)
    assert len(taken) == 6 and torch.equal(taken, expected[:6])


def test_reference_pictures_are_what_each_stage_fid_compares(tiny_shards):
    data = floor_data("lgn", "tiny")
    batch = next(iter(eval_loader("view", data, 0, 1, shards=str(tiny_shards))))
    assert torch.equal(real_pictures("lgn", batch), layout_picture(batch["layout"]) * 2 - 1)
    assert torch.equal(real_pictures("tsn", batch), batch["image"])
    pairs = next(iter(eval_loader("pair", data, 0, 1, shards=str(tiny_shards))))
    assert torch.equal(real_pictures("afn", pairs), pairs["tgt_image"])
    for stage, unit in (("lgn", "view"), ("tsn", "view"), ("afn", "pair"), ("pipeline", "pair")):
        reference = make_reference(stage, FloorRequest(floor_data(stage, "tiny"), str(tiny_shards), "val"))
        assert (reference.unit, reference.metrics, reference.identity()["stage"]) == (unit, ("fid",), stage)


def _one_product_train_split(tiny_shards: Path, folder: Path) -> Path:
    """A shard folder whose train split holds a single product (3 views, 2 pairs) and the same val split."""
    folder.mkdir()
    shutil.copy(tiny_shards / "val-000000.tar", folder)
    with tarfile.open(tiny_shards / "train-000000.tar") as source, \
            tarfile.open(folder / "train-000000.tar", "w") as target:
        members = source.getmembers()
        first = members[0].name.split(".")[0]
        for member in members:
            if member.name.split(".")[0] == first:
                target.addfile(member, source.extractfile(member))
    return folder


def test_reference_refuses_a_train_split_smaller_than_the_eval_set(tiny_shards, tmp_path):
    folder = _one_product_train_split(tiny_shards, tmp_path / "small")
    reference = make_reference("tsn", FloorRequest(floor_data("tsn", "tiny"), str(folder), "val"))
    batches = iter(eval_loader("view", reference.data, 0, 1, shards=str(folder), batch_size=2))
    reference.predict(next(batches))                       # 2 of the 3 train views
    with pytest.raises(EvalError, match="fewer view units than the eval set"):
        reference.predict(next(batches))


@pytest.mark.parametrize("case", ["split-all", "train-is-eval"])
def test_reference_refuses_overlapping_shards_in_one_line(case, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    extra = {"split-all": ["--split", "all"],
             "train-is-eval": ["--split", "train", "--train-shards", str(tiny_shards)]}[case]
    code = main(["--reference", "tsn", "--preset", "tiny", "--shards", str(tiny_shards), *extra, "--leaderboard",
                 str(board), "--no-progress"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "the train shards include evaluated shards" in lines[0]
    assert not board.exists() and not (tmp_path / "galleries").exists()
    with pytest.raises(EvalError, match="include evaluated shards"):
        make_reference("tsn", FloorRequest(floor_data("tsn", "tiny"), str(tiny_shards), None))


@pytest.mark.timeout(600)
def test_the_pipeline_reference_reuses_the_afn_reference_scored_in_the_same_process(tiny_shards, tmp_path, capsys):
    """Both rows score the target views of the same pairs against the same eval pictures: one process scores them
    once and writes both rows with the same FID; another --limit (other pictures) is scored anew."""
    import eval.cli as cli

    cli._SCORED.clear()
    board = tmp_path / "leaderboard.csv"
    common = ["--preset", "tiny", "--shards", str(tiny_shards), "--leaderboard", str(board), "--no-progress",
              "--no-gallery"]
    for stage, limit in (("afn", LIMIT), ("pipeline", LIMIT), ("pipeline", LIMIT + 2)):
        assert main(["--reference", stage, "--limit", str(limit), *common]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("its scores are reused") == 1
    assert "pipeline real-train-images: the pictures of the afn real-train-images row" in out
    afn, pipeline, more = _rows(board)
    assert (afn["stage"], pipeline["stage"], more["stage"]) == ("afn", "pipeline", "pipeline")
    assert pipeline["fid"] == afn["fid"] and pipeline["n_gen"] == afn["n_gen"] == str(LIMIT)
    assert more["n_gen"] == str(LIMIT + 2) and more["fid"] != afn["fid"]
