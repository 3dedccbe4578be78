"""`paint-shards verify` and `show` on real tar shards written by ShardSetWriter or by hand with TarWriter."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from paint.data.contract import encode_product
from paint.data.labels import colourise
from shards.cli import main
from shards.show import LABEL_HEIGHT, pose_overlay
from shards.verify import verify
from shards.writer import ShardSetWriter
from tests.products import make_product

SCRIPT = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "paint-shards"


def write_set(out: Path, train: int = 3, val: int = 1) -> list:
    """Train products with 3 views and val products with 2, two per shard; returns the products."""
    products = [make_product(i, views=3) for i in range(train)]
    products += [make_product(100 + i, views=2, split="val") for i in range(val)]
    with ShardSetWriter(out, products_per_shard=2) as writer:
        for product in products:
            writer.write(product)
        writer.finish({"source": "test"})
    return products


def write_tar(path: Path, samples: list[dict]) -> None:
    with wds.TarWriter(str(path), encoder=False) as sink:
        for sample in samples:
            sink.write(sample)


def test_verify_passes_on_good_shards_and_counts_per_split(tmp_path):
    write_set(tmp_path)
    report = verify(str(tmp_path))
    assert report.ok, report.errors
    counts = {split: (c.shards, c.products, c.views) for split, c in report.splits.items()}
    assert counts == {"train": (2, 3, 9), "val": (1, 1, 2)}
    assert verify(str(tmp_path / "train-{000000..000001}.tar")).ok

    partly_missing = verify(str(tmp_path / "train-{000000..000002}.tar"))
    assert not partly_missing.ok and "train-000002.tar: file not found" in partly_missing.errors[0]


def test_verify_names_the_sample_with_a_corrupted_member(tmp_path):
    good, bad = encode_product(make_product(1)), encode_product(make_product(2))
    bad["v1.parsing.png"] = bad["v1.parsing.png"][:40]  # a truncated PNG
    write_tar(tmp_path / "train-000000.tar", [good, bad])
    result = subprocess.run([str(SCRIPT), "verify", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "train-000000.tar, p00002" in errors[0] and "v1.parsing.png" in errors[0]
    assert "train: 1 shard(s), 1 products, 3 views" in result.stdout  # the good product still counted


def test_verify_checks_the_manifest(tmp_path):
    write_set(tmp_path)
    write_tar(tmp_path / "train-000000.tar", [encode_product(make_product(0, views=3))])  # 1 of 2 products
    (tmp_path / "val-000000.tar").unlink()
    errors = "\n".join(verify(str(tmp_path)).errors)
    assert "train-000000.tar: holds 1 products, manifest says 2" in errors
    assert "train-000000.tar: sha256 differs" in errors
    assert "val-000000.tar: listed in the manifest but missing" in errors
    assert "train-000001.tar" not in errors


def test_verify_catches_what_decoding_alone_misses(tmp_path):
    stray = encode_product(make_product(7))
    stray["v9.image.png"] = stray["v0.image.png"]  # a view that meta.json does not list
    write_tar(tmp_path / "train-000000.tar", [encode_product(make_product(1)), stray])
    write_tar(tmp_path / "train-000001.tar", [encode_product(make_product(1))])  # same product twice
    write_tar(tmp_path / "val-000000.tar", [encode_product(make_product(3))])  # a train product in val
    errors = "\n".join(verify(str(tmp_path)).errors)
    assert "train-000000.tar, p00007: member 'v9.image.png' belongs to no view" in errors
    assert "train-000001.tar, p00001: product key also in train-000000.tar" in errors
    assert "val-000000.tar, p00003: split 'train' inside a val shard" in errors


def test_verify_reports_an_unreadable_tar(tmp_path):
    write_set(tmp_path, train=2, val=0)
    path = tmp_path / "train-000000.tar"
    path.write_bytes(path.read_bytes()[:3000])  # cut off mid-member
    report = verify(str(tmp_path))
    assert not report.ok and any("train-000000.tar" in e for e in report.errors)


def test_show_writes_a_sheet_of_images_layouts_and_poses(tmp_path, capsys):
    products = write_set(tmp_path / "shards")
    sheet_path = tmp_path / "sheets" / "sheet.png"
    assert main(["show", str(tmp_path / "shards"), "--out", str(sheet_path), "--products", "2"]) == 0
    assert "2 product(s)" in capsys.readouterr().out
    assert [p.name for p in sheet_path.parent.iterdir()] == ["sheet.png"]  # no temporary left behind
    sheet = np.asarray(Image.open(sheet_path).convert("RGB"))
    cell = 32
    assert sheet.shape == (2 * (LABEL_HEIGHT + cell), 3 * 3 * cell, 3)
    second = products[1].views["v2"]  # row 1, view 2: image, layout, pose in columns 6, 7, 8
    top = LABEL_HEIGHT + cell + LABEL_HEIGHT
    np.testing.assert_array_equal(sheet[top: top + cell, 6 * cell: 7 * cell], second.image)
    np.testing.assert_array_equal(sheet[top: top + cell, 7 * cell: 8 * cell], colourise(second.parsing))


def test_pose_overlay_skips_missing_joints():
    image = np.zeros((64, 64, 3), np.uint8)
    pose = np.zeros((18, 3), np.float32)
    pose[0] = (10, 10, 1.0)   # drawn
    pose[1] = (50, 50, 0.0)   # missing: neither the dot nor the neck-nose limb may appear
    drawn = pose_overlay(image, pose)
    assert drawn[10, 10].any() and not drawn[40:60, 40:60].any() and not drawn[30, 30].any()


def test_show_refuses_a_bad_target(tmp_path, capsys):
    write_set(tmp_path, train=1, val=0)
    assert main(["show", str(tmp_path), "--out", str(tmp_path / "sheet.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err


def test_synth_shards_verify_and_show(tmp_path, capsys):
    synth = pytest.importorskip("shards.synth")
    if not hasattr(synth, "generate_shards"):
        pytest.skip("shards.synth.generate_shards not written yet")
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--products", "6", "--views", "2", "--size", "32",
                 "--per-shard", "2"]) == 0
    assert "manifest:" in capsys.readouterr().out
    assert verify(str(out)).ok
    assert main(["show", str(out), "--out", str(tmp_path / "s.png"), "--products", "2"]) == 0
