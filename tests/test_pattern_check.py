"""The pattern check (tests/design_patterns.py) separates trained from untrained networks: with the same trained
LGN (so both designs have garments to measure), TSN and AFN at step 0 give stripes that do not follow the
texture's orientation (|gap| < MARGIN in every view), and the same networks trained briefly do (gap > MARGIN).

Colour alone cannot tell them apart (tests/test_colour_priors.py: the priors give it for free); the stripes can:
both textures have the same two colours in equal shares, so the same mean and the same colour prior, and at step
0 the texture gates of TSN and AFN are nearly shut (model.texture_gate_bias), so garments come out in the
patch's (the source garment's) flat mean colour.

Data, so that a few CPU minutes are enough: copies of the "standing" preset's person (shards.synth, 4 views) whose
top and bottom carry stripes in image space — vertical or horizontal at random, two random colours, period 4 or 6
px — in every view, like tests/test_design_chain.py's recoloured copies. LGN learns that person's layouts; TSN can
only get a garment's stripes from its patch; AFN learns to carry the source view's pixels to the other views.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from paint.data.contract import ProductSample, ViewSample
from paint.data.labels import garment_mask
from paint.data.units import PATCH_REGIONS
from design import Designer
from shards.make_design_assets import PRESETS, SEED
from shards.synth import render_product
from tests.design_patterns import MARGIN, pattern_gaps, untrained_checkpoint
from tests.fixtures_products import write_shards
from tests.test_eval_runner import train_tiny

SIZE, COPIES, PERIODS = 32, 16, (4, 6)
STEPS = {"lgn": 80, "tsn": 150, "afn": 40}
FAST = [f"data.resolution={SIZE}", "optim.ema_decay=0", "optim.lr_g=0.002", "train.threads=2"]
NO_VGG = ["loss.perceptual=0", "loss.style=0"]    # AFN only: TSN's style loss is what asks for the stripes
OVERRIDES = {"lgn": FAST, "tsn": FAST, "afn": [*FAST, *NO_VGG]}


def striped(product: ProductSample, copy: int) -> ProductSample:
    """The product with each garment region striped in image space (its shading kept), the same way in every view."""
    rng = np.random.default_rng(copy)
    stripes = {region: (bool(rng.integers(2)), rng.uniform(25, 230, (2, 3)), int(rng.choice(PERIODS)))
               for region in PATCH_REGIONS}
    views = {}
    for name, view in product.views.items():
        image = view.image.astype(np.float64)
        rows, cols = np.mgrid[:image.shape[0], :image.shape[1]]
        for region, (vertical, colours, period) in stripes.items():
            mask = garment_mask(view.parsing, region)
            if mask.any():
                shade = image[mask].mean(1, keepdims=True)
                first = (((cols if vertical else rows) % period) < period // 2)[mask]
                image[mask] = shade / max(shade.mean(), 1.0) * np.where(first[:, None], colours[0], colours[1])
        views[name] = ViewSample(np.clip(image, 0, 255).astype(np.uint8), view.parsing, view.pose)
    return ProductSample(f"striped{copy:02d}", product.category, views, split="train")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """{"trained": lgn/ tsn/ afn/ trained here, "untrained": the same LGN with TSN and AFN at step 0}."""
    root = tmp_path_factory.mktemp("patterns")
    person = render_product(SEED, PRESETS["standing"][0], 4, SIZE)
    write_shards(root / "shards", [striped(person, copy) for copy in range(COPIES)], 4)
    for stage, steps in STEPS.items():
        train_tiny(stage, root / "shards", root / "trained", f"data.batches_per_epoch={steps}", *OVERRIDES[stage])
    shutil.copytree(root / "trained" / "lgn", root / "untrained" / "lgn")
    for stage in ("tsn", "afn"):
        untrained_checkpoint(stage, "tiny", root / "untrained", *OVERRIDES[stage])
    return {name: root / name for name in ("trained", "untrained")}


@pytest.mark.timeout(900)
def test_untrained_networks_fail_the_pattern_check_and_trained_ones_pass(runs, tmp_path):
    gaps = {}
    for name, folder in runs.items():
        (tmp_path / name).mkdir()
        gaps[name], measured = pattern_gaps(Designer(folder), tmp_path / name, views=3, variants=2)
        gaps[name + " measured"] = measured
    assert (np.abs(gaps["untrained"]) < MARGIN).all(), gaps
    assert (gaps["trained"] > MARGIN).all(), gaps
