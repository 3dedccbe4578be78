"""Checkpoints for the design tool's and the studio's tests: LGN, TSN and AFN trained here by the training loop
(paint.train_loop.fit, no Ray, tiny preset), as the demo trains its own.

So that about a CPU minute is enough, they are trained at 32 px on a purpose-built shard set — copies of the
"standing" preset's person (shards.synth, 4 views) whose top and bottom are recoloured at random per copy — for 80
steps at lr 2e-3 without VGG losses or EMA (the raw generator is what gets saved and loaded). LGN learns that
person's layouts (so the preset pose gives garment regions), and TSN can only predict a garment's colour from its
patch. AFN trains two steps: its other views follow the colour through its colour prior and pixel blend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from paint.data.contract import ProductSample, ViewSample
from paint.data.labels import garment_mask
from paint.data.units import PATCH_REGIONS
from shards.make_design_assets import PRESETS, SEED
from shards.synth import render_product
from tests.fixtures_products import write_shards
from tests.test_eval_runner import train_tiny

DESIGN_SIZE, COPIES = 32, 8
STEPS = {"lgn": 80, "tsn": 80, "afn": 2}
FAST = [f"data.resolution={DESIGN_SIZE}", "optim.ema_decay=0", "optim.lr_g=0.002", "train.threads=2"]
NO_VGG = ["loss.perceptual=0", "loss.style=0"]


def recoloured(product: ProductSample, copy: int) -> ProductSample:
    """The product with each garment region's colour replaced by a random one (its shading kept)."""
    rng = np.random.default_rng(copy)
    colours = {region: rng.uniform(25, 230, 3) for region in PATCH_REGIONS}
    views = {}
    for name, view in product.views.items():
        image = view.image.astype(np.float64)
        for region, colour in colours.items():
            mask = garment_mask(view.parsing, region)
            if mask.any():
                shade = image[mask].mean(1, keepdims=True)
                image[mask] = shade / max(shade.mean(), 1.0) * colour
        views[name] = ViewSample(np.clip(image, 0, 255).astype(np.uint8), view.parsing, view.pose)
    return ProductSample(f"standing{copy:02d}", product.category, views, split="train")


def train_design_runs(root: Path) -> Path:
    """Shards and the three runs under `root` → the folder holding lgn/ tsn/ afn/ (as scripts/demo.sh writes
    runs/demo)."""
    person = render_product(SEED, PRESETS["standing"][0], 4, DESIGN_SIZE)
    write_shards(root / "shards", [recoloured(person, copy) for copy in range(COPIES)], 4)
    for stage, steps in STEPS.items():
        train_tiny(stage, root / "shards", root / "runs", f"data.batches_per_epoch={steps}", *FAST,
                   *(NO_VGG if stage != "lgn" else []))
    return root / "runs"
