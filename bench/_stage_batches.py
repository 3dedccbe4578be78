"""Training batches for the stage benchmarks, built in-process from synthetic products (no shards, no Ray).

`render_product` lives in `shards.synth`, whose package __init__ also imports the shard writer and with it
webdataset. A GPU image without webdataset can still render products: `load_render_product` then imports the
renderer's modules directly, skipping that __init__. Only if the renderer cannot be imported at all do the
batches fall back to random tensors of the unit contract's shapes (timings barely depend on content).
"""
from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from paint.data.labels import NUM_CLASSES
from paint.data.keypoints import NUM_KEYPOINTS
from paint.data.units import PATCH_REGIONS, collate_units, train_units

REPO = Path(__file__).resolve().parents[1]


def load_render_product() -> tuple[Callable | None, str]:
    """(render_product or None, how it was found: "shards.synth", "shards.synth.product (…)" or why not)."""
    try:
        from shards.synth import render_product
        return render_product, "shards.synth"
    except ImportError as exc:
        first_error = exc
    # Register an empty `shards.synth` package so its submodules import without the package __init__.
    try:
        import shards
        package = types.ModuleType("shards.synth")
        package.__path__ = [str(Path(shards.__file__).parent / "synth")]
        sys.modules["shards.synth"] = package
        product = importlib.import_module("shards.synth.product")
        return product.render_product, f"shards.synth.product (package __init__ skipped: {first_error})"
    except ImportError as exc:
        sys.modules.pop("shards.synth", None)
        return None, f"renderer unavailable ({exc}); random tensors of the unit shapes"


def product_batch(render: Callable, kind: str, data_cfg, batch_size: int, seed: int = 0) -> dict:
    """A collated batch of `batch_size` training units ("view" or "pair") at data_cfg.resolution, from
    two-view synthetic products rendered at that resolution (so no resize work is hidden in the timing)."""
    rng = np.random.default_rng(seed)
    units: list[dict] = []
    index = 0
    while len(units) < batch_size:
        product = render(seed, index, 2, data_cfg.resolution)
        units.extend(train_units(product, kind, data_cfg, rng))
        index += 1
    return collate_units(units[:batch_size])


def random_batch(kind: str, resolution: int, batch_size: int, seed: int = 0) -> dict:
    """A batch with the unit contract's keys, shapes and ranges, drawn from torch's RNG (fallback only)."""
    gen = torch.Generator().manual_seed(seed)
    size = (batch_size, resolution, resolution)

    def image():
        return torch.rand(batch_size, 3, resolution, resolution, generator=gen) * 2 - 1

    def layout():
        return torch.randint(0, NUM_CLASSES, size, generator=gen)

    def pose():
        return (torch.rand(batch_size, NUM_KEYPOINTS, resolution, resolution, generator=gen) > 0.99).float()

    if kind == "pair":
        return {"key": [f"random/{i}" for i in range(batch_size)], "src_image": image(), "tgt_image": image(),
                "src_layout": layout(), "tgt_layout": layout(), "src_pose": pose(), "tgt_pose": pose()}
    batch = {"key": [f"random/{i}" for i in range(batch_size)], "pose": pose(), "layout": layout(), "image": image()}
    for region in PATCH_REGIONS:
        batch[f"patch_{region}"] = image()
        batch[f"patch_{region}_mask"] = (torch.rand(batch_size, 1, resolution, resolution, generator=gen) > 0.5).float()
    return batch


def stage_batch(render: Callable | None, kind: str, data_cfg, batch_size: int, seed: int = 0) -> dict:
    """Product batch when a renderer is available, else a random one."""
    if render is None:
        return random_batch(kind, data_cfg.resolution, batch_size, seed)
    return product_batch(render, kind, data_cfg, batch_size, seed)
