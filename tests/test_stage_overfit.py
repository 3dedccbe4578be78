"""Each stage (tiny config) overfits one small fixed batch of synthetic products on CPU through the real engine:
its reconstruction loss falls to a quarter (the issue asks for half). The curve's start and end are printed (pytest -s)."""
import numpy as np
import pytest
import torch

from paint.data.units import collate_units, train_units
from paint.engine import Engine, seed_everything
from paint.stages import build_stage, make_config
from shards.synth import render_product

RECONSTRUCTION = {"lgn": "G/ce", "tsn": "G/l1", "afn": "G/l1"}
MAX_STEPS = 300


def fixed_batch(cfg, unit: str, size: int = 2) -> dict:
    rng = np.random.default_rng(0)
    units = []
    for index in range(size):
        product = render_product(seed=7, index=index, views=2, size=cfg.data.resolution)
        units += train_units(product, unit, cfg.data, rng)[:1]
    return collate_units(units)


@pytest.mark.parametrize("stage_name", ["lgn", "tsn", "afn"])
def test_stage_overfits_a_fixed_batch(stage_name):
    torch.set_num_threads(2)
    seed_everything(0)
    cfg = make_config(stage_name, "tiny")
    stage = build_stage(cfg)
    engine = Engine(stage, cfg.optim, cfg.train, total_steps=MAX_STEPS)
    batch = fixed_batch(cfg, stage.unit)
    curve = []
    for _ in range(MAX_STEPS):  # stop once the last 5 steps average at most a quarter of the first 5
        curve.append(engine.step(batch).losses[RECONSTRUCTION[stage_name]])
        if len(curve) >= 10 and np.mean(curve[-5:]) <= 0.25 * np.mean(curve[:5]):
            break
    start, end = np.mean(curve[:5]), np.mean(curve[-5:])
    print(f"{stage_name}: {RECONSTRUCTION[stage_name]} {start:.4f} → {end:.4f} over {len(curve)} steps")
    assert all(np.isfinite(curve))
    assert end <= 0.25 * start, f"{stage_name} did not overfit: {start:.4f} → {end:.4f}"
