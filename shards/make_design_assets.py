"""Write the data files shipped with `paint-design`: pose presets (design/poses/*.json) from synthetic
people, and the demo's two texture photos (design/textures/*.png), drawn procedurally.

    .venv/bin/python -m shards.make_design_assets [--poses design/poses] [--textures design/textures]
                                                  [--preview sheet.png]

Each preset is one synthetic product of `shards.synth` (seed 0, a hand-picked index with the named stance),
rendered from the four training viewpoints; only its COCO-18 keypoints are kept, in pixels of a 256 × 256
canvas (PAINT's resolution). paint/ cannot import shards/, so the presets are committed as data.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from paint.data.keypoints import LIMBS
from paint.io import atomic_path, write_text_atomic
from shards.synth.product import render_product

CANVAS = 256
SEED = 0
VIEWS = ("front", "back", "side", "threequarter")   # the training viewpoints, in shards.synth's order
# Preset name → product index of the synthetic set (seed 0), picked for its stance.
PRESETS = {
    "standing": (13, "arms close to the body, legs straight"),
    "arms-out": (126, "straight arms held ~30° away from the body"),
    "elbows-bent": (153, "arms bent ~75° at the elbows, hands forward"),
    "stride": (196, "one foot forward, as in a walk"),
}


def preset_json(name: str) -> dict:
    index, description = PRESETS[name]
    product = render_product(SEED, index, len(VIEWS), CANVAS)
    keypoints = {view: [[round(float(x), 1), round(float(y), 1), float(c)] for x, y, c in product.views[view].pose]
                 for view in VIEWS}
    return {"name": name, "description": description, "canvas": [CANVAS, CANVAS],
            "source": f"shards.synth render_product(seed={SEED}, index={index})",
            "keypoint_format": "COCO-18 [x, y, confidence]: 1 visible, 0.5 hidden behind the body, 0 absent",
            "views": keypoints}, product


def _draw(image: np.ndarray, pose: list) -> Image.Image:
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    for a, b in LIMBS:
        if pose[a][2] > 0 and pose[b][2] > 0:
            draw.line([tuple(pose[a][:2]), tuple(pose[b][:2])], fill=(255, 0, 0), width=2)
    for x, y, c in pose:
        if c > 0:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(0, 0, 255) if c == 1 else (0, 200, 0))
    return picture


def tartan(size: int = 96, period: int = 32) -> np.ndarray:
    """A red tartan: red ground, crossing dark green and navy bands and thin yellow lines, woven 2×2 twill."""
    threads = np.full((period, 3), (178, 24, 30), np.uint8)
    threads[4:10] = (20, 60, 35)
    threads[14:17] = (25, 30, 70)
    threads[24] = (230, 200, 60)
    warp = threads[np.arange(size) % period]                       # colour per column
    y, x = np.mgrid[:size, :size]
    over = ((x + y) // 2) % 2 == 0                                 # twill: which thread shows on top
    picture = np.where(over[..., None], warp[None, :, :], warp[:, None, :]).astype(np.float64)
    shade = 0.9 + 0.1 * (((x - y) % 4) < 2)                        # a faint diagonal rib
    return np.clip(picture * shade[..., None], 0, 255).astype(np.uint8)


def denim(size: tuple[int, int] = (72, 96), seed: int = 7) -> np.ndarray:
    """Blue denim: indigo 3×1 twill diagonals with white weft flecks and slub noise; (height, width)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size[0], :size[1]]
    twill = ((x + y) % 4) != 0
    base = np.where(twill[..., None], (38, 62, 120), (150, 165, 190)).astype(np.float64)
    slub = rng.normal(0, 10, (size[0], 1, 1)) + rng.normal(0, 6, (*size, 1))
    return np.clip(base + slub, 0, 255).astype(np.uint8)


TEXTURES = {"red-tartan.png": tartan, "blue-denim.png": denim}


def write_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", default="design/poses")
    parser.add_argument("--textures", default="design/textures")
    parser.add_argument("--preview", default="", help="also write a PNG: a row per preset, a column per view")
    args = parser.parse_args()
    textures = Path(args.textures)
    textures.mkdir(parents=True, exist_ok=True)
    for name, draw in TEXTURES.items():
        write_png(draw(), textures / name)
        print(textures / name)
    out = Path(args.poses)
    out.mkdir(parents=True, exist_ok=True)
    sheet = Image.new("RGB", (CANVAS * len(VIEWS), CANVAS * len(PRESETS)), "white")
    for row, name in enumerate(PRESETS):
        data, product = preset_json(name)
        write_text_atomic(out / f"{name}.json", json.dumps(data, indent=1) + "\n")
        for col, view in enumerate(VIEWS):
            sheet.paste(_draw(product.views[view].image, data["views"][view]), (col * CANVAS, row * CANVAS))
        print(f"{out / name}.json")
    if args.preview:
        sheet.save(args.preview)


if __name__ == "__main__":
    main()
