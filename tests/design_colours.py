"""Garment colours of designs, shared by the design tests (tests/test_design_chain.py on checkpoints trained by the
test, tests/test_design_demo.py on the demo's)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from paint.data.labels import garment_mask


def garment_colours(result) -> np.ndarray:
    """Mean RGB over the garment regions (top + bottom of each view's layout), per view: (views, 3). Variants
    are pooled; a view whose layouts show no garment fails the test."""
    colours = []
    for view in range(result.images.shape[1]):
        masks = [garment_mask(layout, "top") | garment_mask(layout, "bottom") for layout in result.layouts[:, view]]
        assert sum(m.sum() for m in masks) > 50, f"view {view}: the layouts show no garment"
        colours.append(np.concatenate([images[view][m] for images, m in zip(result.images, masks)]).mean(0))
    return np.stack(colours)


def redness_gaps(designer, folder: Path, views: int, variants: int) -> tuple[np.ndarray, dict]:
    """Design with a solid red and a solid blue texture on top and bottom; per view, (R − B) of the red design's
    garments minus that of the blue one's, and the colours themselves."""
    colours = {}
    for name, rgb in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        path = folder / f"{name}.png"
        Image.fromarray(np.full((24, 24, 3), rgb, np.uint8)).save(path)
        colours[name] = garment_colours(designer.design("standing", {"top": path, "bottom": path}, views=views,
                                                        variants=variants, seed=0))
    print({k: v.round(1).tolist() for k, v in colours.items()})
    red, blue = (colours[k][:, 0] - colours[k][:, 2] for k in ("red", "blue"))   # redness = R − B, per view
    return red - blue, colours
