"""Product → unit transforms: shapes, dtypes and ranges at odd sizes, patches, pairs, determinism."""
import dataclasses

import numpy as np
import pytest
import torch

from paint.config import DataConfig
from paint.data.units import (PAIR_UNIT_KEYS, VIEW_UNIT_KEYS, collate_units, eval_pairs,
                              eval_plan, eval_unit_count, eval_units, stable_seed, train_plan, train_units)
from paint.data.keypoints import NUM_KEYPOINTS
from paint.data.labels import IGNORE
from tests.fixtures_products import random_product

CFG = DataConfig(resolution=37, seed=3)


def test_view_units_have_contract_shapes_dtypes_and_ranges_at_odd_size():
    product = random_product(1, n_views=3, size=48)
    units = eval_units(product, "view", CFG)
    assert [u["key"] for u in units] == ["p0001/v0", "p0001/v1", "p0001/v2"]
    for unit in units:
        assert tuple(unit) == VIEW_UNIT_KEYS
        assert unit["pose"].shape == (NUM_KEYPOINTS, 37, 37) and unit["pose"].dtype == torch.float32
        assert set(unit["pose"].unique().tolist()) <= {0.0, 1.0} and unit["pose"].sum() > 0
        assert unit["pose"][3].sum() == 0  # a missing joint stays empty
        assert unit["layout"].shape == (37, 37) and unit["layout"].dtype == torch.int64
        assert set(unit["layout"].unique().tolist()) <= set(range(20)) | {IGNORE}
        assert unit["image"].shape == (3, 37, 37) and unit["image"].dtype == torch.float32
        assert unit["image"].min() >= -1 and unit["image"].max() <= 1 and unit["image"].std() > 0.1
        for region in ("top", "bottom"):
            patch, mask = unit[f"patch_{region}"], unit[f"patch_{region}_mask"]
            assert patch.shape == (3, 37, 37) and mask.shape == (1, 37, 37)
            assert patch.min() >= -1 and patch.max() <= 1
            assert set(mask.unique().tolist()) == {0.0, 1.0}
            assert (patch * (1 - mask)).abs().sum() == 0  # texture only where the mask is valid


def test_layout_is_nearest_resized_and_keeps_ignore():
    product = random_product(2, n_views=1, size=48)
    unit = eval_units(product, "view", CFG)[0]
    source = product.views["v0"].parsing
    assert set(unit["layout"].unique().tolist()) <= set(np.unique(source).tolist())


def test_absent_region_gives_all_zero_patch_and_mask_and_canvas_size_follows_config():
    product = random_product(4, n_views=2, size=48, regions=("top",))
    cfg = dataclasses.replace(CFG, patch_canvas=20)
    for unit in eval_units(product, "view", cfg):
        assert unit["patch_bottom"].shape == (3, 20, 20)
        assert unit["patch_bottom"].abs().sum() == 0 and unit["patch_bottom_mask"].sum() == 0
        assert unit["patch_top_mask"].sum() > 0


def test_eval_patches_are_deterministic_per_key_and_training_patches_follow_the_rng():
    product = random_product(5, n_views=2, size=48)
    first = eval_units(product, "view", CFG)
    again = eval_units(product, "view", CFG)
    for a, b in zip(first, again):
        assert torch.equal(a["patch_top"], b["patch_top"]) and torch.equal(a["patch_bottom_mask"],
                                                                             b["patch_bottom_mask"])
    other_seed = eval_units(product, "view", dataclasses.replace(CFG, seed=4))
    assert any(not torch.equal(a["patch_top_mask"], b["patch_top_mask"]) for a, b in zip(first, other_seed))
    draws = [train_units(product, "view", CFG, np.random.default_rng(s))[0]["patch_top_mask"]
             for s in range(4)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])


def test_stable_seed_is_a_fixed_function_of_its_parts():
    # sha256-based: the same in every process, unlike hash() of a str
    assert stable_seed("eval-unit", 0, "p0001/v0") == stable_seed("eval-unit", 0, "p0001/v0")
    assert stable_seed("eval-unit", 0, "p0001/v0") == 12347118099510911982
    assert stable_seed("eval-unit", 0, "p0001/v1") != stable_seed("eval-unit", 0, "p0001/v0")


def test_eval_pairs_in_fixed_order_and_counts_match():
    product = random_product(6, n_views=3, size=32)
    first = eval_units(product, "pair", CFG)
    assert [u["key"] for u in first] == ["p0006/v0->v1", "p0006/v0->v2"]
    all_cfg = dataclasses.replace(CFG, afn_eval_pairs="all")
    keys = [u["key"] for u in eval_units(product, "pair", all_cfg)]
    assert keys == ["p0006/v0->v1", "p0006/v0->v2", "p0006/v1->v0", "p0006/v1->v2", "p0006/v2->v0",
                    "p0006/v2->v1"]
    for n in range(1, 5):
        ids = [f"v{k}" for k in range(n)]
        for kind in ("view", "pair"):
            for mode in ("first", "all"):
                assert len(eval_plan(ids, kind, mode)) == eval_unit_count(kind, n, mode)


def test_pair_unit_contents_come_from_the_two_views():
    product = random_product(8, n_views=2, size=48)
    pair = eval_units(product, "pair", CFG)[0]
    views = {u["key"]: u for u in eval_units(product, "view", CFG)}
    assert tuple(pair) == PAIR_UNIT_KEYS
    assert torch.equal(pair["src_image"], views["p0008/v0"]["image"])
    assert torch.equal(pair["tgt_layout"], views["p0008/v1"]["layout"])
    assert torch.equal(pair["tgt_pose"], views["p0008/v1"]["pose"])
    assert pair["src_layout"].dtype == torch.int64 and pair["src_pose"].shape == (18, 37, 37)


def test_training_pairs_are_distinct_views_and_single_view_products_give_none():
    product = random_product(9, n_views=4, size=32)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        (src, tgt), = train_plan(product.view_ids, "pair", rng)
        assert src != tgt
        seen.add((src, tgt))
    assert len(seen) > 5  # ordered pairs, both directions
    (unit,) = train_units(product, "pair", CFG, rng)
    assert unit["src_image"].shape == (3, 37, 37) and "->" in unit["key"]
    assert train_units(random_product(10, n_views=1, size=32), "pair", CFG, rng) == []


def test_collate_stacks_tensors_and_lists_keys():
    product = random_product(11, n_views=3, size=32)
    batch = collate_units(eval_units(product, "view", CFG))
    assert batch["key"] == ["p0011/v0", "p0011/v1", "p0011/v2"]
    assert batch["layout"].shape == (3, 37, 37) and batch["layout"].dtype == torch.int64
    assert batch["patch_top"].shape == (3, 3, 37, 37)


def test_unknown_pair_mode_is_refused():
    with pytest.raises(ValueError, match="afn_eval_pairs"):
        eval_pairs(["a", "b"], "some")
