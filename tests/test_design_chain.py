"""paint-design end to end with real checkpoints trained here by the training loop (paint.train_loop.fit, no Ray,
tiny preset), as the demo trains its own: designs of the right shape for textures of every kind, the same seed
giving the same bytes, variants giving different layouts, garments taking the texture's colour, the real command's
outputs, and a missing stage refused.

The checkpoints (tests/design_runs.py, shared with the studio's tests) are trained at 32 px on copies of one
person whose garments are recoloured per copy: TSN can only predict a garment's colour from its patch, the
behaviour the colour test checks.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from design import Designer, design
from tests.design_colours import redness_gaps
from tests.design_runs import DESIGN_SIZE

SIZE = DESIGN_SIZE
SCRIPT = str(Path(sys.executable).with_name("paint-design"))


@pytest.fixture(scope="module")
def runs(design_runs) -> Path:
    return design_runs


@pytest.fixture(scope="module")
def designer(runs) -> Designer:
    return Designer(runs)


def _texture(folder: Path, kind: str) -> Path:
    rng = np.random.default_rng(3)
    arrays = {"6x6": rng.integers(0, 256, (6, 6, 3), np.uint8), "31x500": rng.integers(0, 256, (500, 31, 3), np.uint8),
              "640x480-rgba": rng.integers(0, 256, (480, 640, 4), np.uint8),
              "grey": rng.integers(0, 256, (40, 40), np.uint8), "16-bit": rng.integers(0, 65536, (20, 30), np.uint16)}
    path = folder / f"{kind}.png"
    Image.fromarray(arrays[kind]).save(path)
    return path


@pytest.mark.parametrize("kind", ["6x6", "31x500", "640x480-rgba", "grey", "16-bit"])
def test_every_kind_of_texture_gives_designs_of_the_right_shape(designer, tmp_path, kind):
    result = designer.design("standing", {"top": _texture(tmp_path, kind)}, views=3, variants=2, seed=1)
    assert result.images.shape == (2, 3, SIZE, SIZE, 3) and result.images.dtype == np.uint8
    assert result.layouts.shape == (2, 3, SIZE, SIZE) and result.view_names == ["front", "back", "side"]
    assert result.record["textures"]["top"]["size"] == list(Image.open(_texture(tmp_path, kind)).size)


def test_same_seed_same_bytes_and_variants_differ(designer, tmp_path):
    textures = {"top": _texture(tmp_path, "6x6"), "bottom": _texture(tmp_path, "grey")}
    first = designer.design("standing", textures, views=2, variants=3, seed=5)
    again = designer.design("standing", textures, views=2, variants=2, seed=5)     # fewer variants: same ones
    np.testing.assert_array_equal(first.images[:2], again.images)
    np.testing.assert_array_equal(first.layouts[:2], again.layouts)
    other_seed = designer.design("standing", textures, views=2, variants=1, seed=6)
    assert not np.array_equal(other_seed.layouts[0], first.layouts[0])
    for a, b in ((0, 1), (0, 2), (1, 2)):        # each variant its own layout (LGN code)
        assert (first.layouts[a] != first.layouts[b]).mean() > 0.002, (a, b)


def test_garments_take_the_colour_of_the_texture_in_every_view(designer, tmp_path):
    gaps, colours = redness_gaps(designer, tmp_path, views=3, variants=2)
    assert (gaps > 40).all(), colours     # view 0 is TSN's, the others AFN's (2 steps: its colour prior at work)


def test_the_command_writes_every_image_a_sheet_and_the_record(runs, designer, tmp_path):
    texture = _texture(tmp_path, "6x6")
    out = tmp_path / "design"
    done = subprocess.run([SCRIPT, "--pose", "stride", "--texture", f"top={texture}", "--views", "3", "--variants",
                           "2", "--seed", "4", "--checkpoints", str(runs), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "design.json").read_text())
    assert record["views"] == ["front", "back", "side"] and record["seed"] == 4
    assert set(record["checkpoints"]) == {"lgn", "tsn", "afn"} and record["regions_without_texture"] == ["bottom"]
    assert record["pose"]["preset"] == "stride" and set(record["files"]) == {p.name for p in out.iterdir()}
    api = designer.design("stride", {"top": texture}, views=3, variants=2, seed=4)
    for k in range(2):
        for v, view in enumerate(api.view_names):
            np.testing.assert_array_equal(np.asarray(Image.open(out / f"variant{k}_{view}.png")), api.images[k, v])
    sheet = Image.open(out / "sheet.png")
    assert sheet.width > 4 * 256 and sheet.height > 2 * 256         # 2 rows × (layout + 3 views), cells ≥ 256 px
    # an earlier design in --out is replaced whole; with the API, too
    design("standing", {"top": texture}, checkpoints=runs, views=1, variants=1, out=out)
    assert sorted(p.name for p in out.iterdir()) == sorted(["design.json", "sheet.png", "variant0_front.png",
                                                             "variant0_front_layout.png", "variant0_patch_top.png"])


def test_a_missing_stage_is_named(runs, tmp_path):
    partial = tmp_path / "runs"
    for stage in ("lgn", "tsn"):
        shutil.copytree(runs / stage, partial / stage)
    done = subprocess.run([SCRIPT, "--pose", "standing", "--texture", f"top={_texture(tmp_path, 'grey')}",
                           "--checkpoints", str(partial), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "no afn checkpoint" in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


def test_reusing_out_replaces_only_the_earlier_designs_own_files(runs, tmp_path):
    """--out an earlier design folder that the user also keeps notes and other designs in: only the design's own
    files (its design.json lists them) are replaced or removed; the user's files keep their bytes and modes, and
    the folders get the umask's mode (not 0700)."""
    texture, out = _texture(tmp_path, "6x6"), tmp_path / "design"
    command = [SCRIPT, "--pose", "standing", "--texture", f"top={texture}", "--checkpoints", str(runs),
               "--views", "1", "--out", str(out)]
    old_umask = os.umask(0o022)
    try:
        assert subprocess.run([*command, "--variants", "2"], capture_output=True, timeout=300).returncode == 0
        assert (out.stat().st_mode & 0o777) == 0o755
        notes, other = out / "notes.txt", out / "older" / "variant0_front.png"
        other.parent.mkdir()
        notes.write_bytes(b"client wants a longer coat\n")
        other.write_bytes(b"\x89PNG not really")
        notes.chmod(0o640)
        out.chmod(0o750)
        done = subprocess.run([*command, "--variants", "1"], capture_output=True, text=True, timeout=300)
    finally:
        os.umask(old_umask)
    assert done.returncode == 0, done.stderr
    assert notes.read_bytes() == b"client wants a longer coat\n" and (notes.stat().st_mode & 0o777) == 0o640
    assert other.read_bytes() == b"\x89PNG not really" and (out.stat().st_mode & 0o777) == 0o750
    record = json.loads((out / "design.json").read_text())
    assert record["variants"] == 1 and "notes.txt" not in record["files"]
    assert {p.name for p in out.iterdir()} == {*record["files"], "notes.txt", "older"}   # variant1_* removed
