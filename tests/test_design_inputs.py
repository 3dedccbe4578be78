"""paint-design's inputs without any model: texture photos of every kind and size → the patch TSN receives, pose
presets and user pose files → the views, and bad inputs refused by the real console script in one line.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paint.data.keypoints import BODY25_TO_COCO18
from design import DesignError, load_pose, load_texture, preset_names
from design.poses import PRESET_DIR
from design.textures import texture_patch

SCRIPT = str(Path(sys.executable).with_name("paint-design"))
BOX = (40, 30)      # a garment box (height, width) at the model's resolution


def _save(path: Path, array: np.ndarray, mode: str | None = None, **kw) -> Path:
    Image.fromarray(array, mode).save(path, **kw) if mode else Image.fromarray(array).save(path, **kw)
    return path


def _noise(rng, height, width, channels=3) -> np.ndarray:
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


@pytest.mark.parametrize("kind", ["6x6", "31x500", "640x480-rgba", "grey", "16-bit", "webp", "palette", "jpeg-wide"])
def test_any_photo_gives_a_patch_of_the_garment_box(tmp_path, kind):
    rng = np.random.default_rng(0)
    path = {
        "6x6": lambda: _save(tmp_path / "t.png", _noise(rng, 6, 6)),
        "31x500": lambda: _save(tmp_path / "t.png", _noise(rng, 500, 31)),
        "640x480-rgba": lambda: _save(tmp_path / "t.png", _noise(rng, 480, 640, 4)),
        "grey": lambda: _save(tmp_path / "t.png", _noise(rng, 50, 70, 1)[..., 0]),
        "16-bit": lambda: _save(tmp_path / "t.png", rng.integers(0, 65536, (33, 45), dtype=np.uint16)),
        "webp": lambda: _save(tmp_path / "t.webp", _noise(rng, 64, 48)),
        "palette": lambda: _save(tmp_path / "t.png", _noise(rng, 20, 20, 1)[..., 0] % 16, "P", transparency=0),
        "jpeg-wide": lambda: _save(tmp_path / "t.jpg", _noise(rng, 300, 5000)),
    }[kind]()
    texture = load_texture(path)
    patch, note = texture_patch(texture, BOX)
    assert patch.pixels.shape == (*BOX, 3) and patch.pixels.dtype == np.uint8
    assert patch.valid.shape == BOX and patch.valid.any()
    assert note["scale"] <= 1.0


def test_a_tiny_photo_keeps_its_pixel_size_and_is_tiled(tmp_path):
    tile = _noise(np.random.default_rng(1), 6, 6)
    patch, note = texture_patch(load_texture(_save(tmp_path / "t.png", tile)), BOX)
    tiled = np.tile(tile, (7, 5, 1))
    top, left = (tiled.shape[0] - BOX[0]) // 2, (tiled.shape[1] - BOX[1]) // 2
    np.testing.assert_array_equal(patch.pixels, tiled[top:top + BOX[0], left:left + BOX[1]])
    assert note == {"scale": 1.0, "tiles": [7, 5]}


def test_a_large_photo_is_shrunk_until_it_just_covers_the_box(tmp_path):
    left_red = np.zeros((480, 640, 3), np.uint8)
    left_red[:, :320] = (255, 0, 0)
    left_red[:, 320:] = (0, 0, 255)
    patch, note = texture_patch(load_texture(_save(tmp_path / "t.png", left_red)), BOX)
    assert note["scale"] == pytest.approx(BOX[0] / 480, abs=1e-4) and note["tiles"] == [1, 1]
    # the photo's middle (half red, half blue) is what the patch shows: the swatch is spread over the garment
    assert patch.pixels[:, :10, 0].mean() > 200 and patch.pixels[:, -10:, 2].mean() > 200


def test_sixteen_bit_grey_is_scaled_to_eight_bits_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    ramp[:, 10] = 32768
    texture = load_texture(_save(tmp_path / "t.png", ramp))
    assert texture.record["mode"] in ("I;16", "I") and texture.pixels.shape == (8, 64, 3)
    assert texture.pixels[:, 0].max() == 0 and texture.pixels[:, -1].min() == 255
    assert np.all(np.abs(texture.pixels[:, 10].astype(int) - 128) <= 1)     # clipping would give 255


def test_alpha_marks_what_is_not_texture(tmp_path):
    rgba = np.full((30, 40, 4), 200, np.uint8)
    rgba[:, :20, 3] = 0
    texture = load_texture(_save(tmp_path / "t.png", rgba))
    assert not texture.valid[:, :20].any() and texture.valid[:, 20:].all()
    fully_clear = rgba.copy()
    fully_clear[..., 3] = 0
    with pytest.raises(DesignError, match="transparent"):
        load_texture(_save(tmp_path / "clear.png", fully_clear))


def test_a_huge_jpeg_is_read_at_reduced_size(tmp_path):
    ramp = np.broadcast_to(np.linspace(0, 255, 4000).astype(np.uint8)[None, :, None], (3000, 4000, 3))
    texture = load_texture(_save(tmp_path / "big.jpg", np.ascontiguousarray(ramp), quality=80))
    assert texture.record["size"] == [4000, 3000] and min(texture.pixels.shape[:2]) == 1024


# --- poses ------------------------------------------------------------------------------------------------------

def test_presets_hold_four_training_views_scaled_to_the_model():
    assert {"standing", "arms-out", "elbows-bent", "stride"} <= set(preset_names())
    views = load_pose("standing").at(128, 3)
    assert [name for name, _ in views] == ["front", "back", "side"]
    front = json.loads((PRESET_DIR / "standing.json").read_text())["views"]["front"]
    np.testing.assert_allclose(views[0][1][:, :2], (np.array(front)[:, :2] + 0.5) / 2 - 0.5, atol=1e-4)


def _openpose_body25(coco: np.ndarray) -> dict:
    body = np.zeros((25, 3))
    body[list(BODY25_TO_COCO18)] = coco
    return {"version": 1.3, "people": [{"pose_keypoints_2d": body.reshape(-1).tolist()}]}


def test_a_single_view_pose_takes_its_other_views_from_the_nearest_preset(tmp_path):
    views = {k: np.array(v, np.float32) for k, v in
             json.loads((PRESET_DIR / "stride.json").read_text())["views"].items()}
    scale, offset = 1.5, np.array([40.0, -10.0])          # the preset's side view, on a 512 × 400 photo
    side = views["side"].copy()
    side[:, :2] = np.where(side[:, 2:] > 0, side[:, :2] * scale + offset, 0)
    path = tmp_path / "pose_keypoints.json"
    path.write_text(json.dumps(_openpose_body25(side)))
    pose = load_pose(str(path), canvas=(400, 512))
    assert (pose.record["derived_from"], pose.record["matched_view"]) == ("stride", "side")
    assert pose.record["fit_scale"] == pytest.approx(scale, rel=1e-3) and pose.side == 512
    assert list(pose.views) == ["side", "front", "back", "threequarter"]
    letterbox = np.array([0.0, (512 - 400) / 2])           # the 400-high photo is centred in a 512 square
    shown = views["front"][:, 2] > 0
    np.testing.assert_allclose(pose.views["front"][shown, :2],
                               views["front"][shown, :2] * scale + offset + letterbox, atol=0.05)


def test_paint_style_pose_may_leave_joints_out(tmp_path):
    front = json.loads((PRESET_DIR / "standing.json").read_text())["views"]["front"]
    data = {str(i): point[:2] for i, point in enumerate(front) if i not in (14, 16)}
    data["17"] = [-1, -1]
    path = tmp_path / "pose.json"
    path.write_text(json.dumps(data))
    pose = load_pose(str(path))
    assert pose.record["matched_view"] == "front"
    assert list(pose.views["front"][[14, 16, 17], 2]) == [0, 0, 0] and pose.views["front"][0, 2] == 1


# --- bad inputs through the real command -----------------------------------------------------------------------

def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good = str(_save(tmp_path / "good.png", np.full((8, 8, 3), 90, np.uint8)))
    (tmp_path / "broken.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2, ')
    (tmp_path / "short.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2, 1]}]}')
    (tmp_path / "not-an-image.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    (tmp_path / "empty.jpg").write_bytes(b"")
    top = ["--texture", f"top={good}"]
    return {
        "missing pose file": (["--pose", str(tmp_path / "nope.json"), *top], "does not exist"),
        "malformed pose JSON": (["--pose", str(tmp_path / "broken.json"), *top], "not valid JSON"),
        "pose of the wrong length": (["--pose", str(tmp_path / "short.json"), *top], "expected 54"),
        "unknown preset": (["--pose", "dancing", *top], "presets: arms-out"),
        "unreadable texture": (["--pose", "standing", "--texture", f"top={tmp_path / 'not-an-image.png'}"],
                               "cannot be read as an image"),
        "empty texture": (["--pose", "standing", "--texture", f"top={tmp_path / 'empty.jpg'}"], "empty"),
        "unknown region": (["--pose", "standing", "--texture", f"shoes={good}"], "valid regions: top, bottom"),
        "too many views": (["--pose", "standing", *top, "--views", "9"], "has 4 views"),
    }


@pytest.mark.parametrize("case", ["missing pose file", "malformed pose JSON", "pose of the wrong length",
                                  "unknown preset", "unreadable texture", "empty texture", "unknown region",
                                  "too many views"])
def test_bad_inputs_end_in_one_line_and_write_nothing(tmp_path, case):
    args, words = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    done = subprocess.run([SCRIPT, *args, "--checkpoints", str(tmp_path / "no-checkpoints"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("paint-design: error: ") and words in lines[0], lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
