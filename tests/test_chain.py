"""paint.chain.run_chain, the one LGN → TSN → AFN chain (the pipeline row and paint-design run it): shapes, one
design spread over several targets, target layouts given or laid out by LGN, and a bad source/target count."""
from __future__ import annotations

import pytest
import torch

from paint.chain import run_chain
from paint.data.patches import place_patch
from paint.data.units import PATCH_REGIONS
from paint.inference import untrained_model
from paint.stages import make_config

R = 64


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {s: untrained_model(s, make_config(s, "tiny")) for s in ("lgn", "tsn", "afn")}


def no_patches(labels):
    canvas, mask = place_patch(None, R)
    count = labels.shape[0]
    return ({r: canvas[None].expand(count, -1, -1, -1) for r in PATCH_REGIONS},
            {r: mask[None].expand(count, -1, -1, -1) for r in PATCH_REGIONS})


def test_one_design_rendered_to_every_target_view_with_lgn_layouts(models):
    poses = torch.rand(3, 18, R, R)
    code = torch.randn(1, models["lgn"].generator.nz)
    chain = run_chain(models, poses[:1], code, no_patches, poses[1:])
    assert chain.source_labels.shape == (1, R, R) and chain.target_labels.shape == (2, R, R)
    assert chain.design.shape == (1, 3, R, R) and chain.output.shape == (2, 3, R, R)
    # LGN laid every view out with the one code, in one pass: the same as sampling all poses at once
    together = models["lgn"].generator.sample(poses, code.expand(3, -1)).argmax(1)
    assert torch.equal(torch.cat([chain.source_labels, chain.target_labels]), together)
    alone = run_chain(models, poses[:1], code, no_patches, poses[:0])
    assert alone.output.shape == (0, 3, R, R) and torch.equal(alone.design, chain.design)


def test_given_target_layouts_are_used_and_counts_must_match(models):
    poses, layouts = torch.rand(2, 18, R, R), torch.randint(0, 20, (2, R, R))
    codes = torch.randn(2, models["lgn"].generator.nz)
    chain = run_chain(models, poses, codes, no_patches, poses.flip(0), layouts)
    assert torch.equal(chain.target_labels, layouts) and chain.output.shape == (2, 3, R, R)
    with pytest.raises(ValueError, match="2 sources for 3 targets"):
        run_chain(models, poses, codes, no_patches, torch.rand(3, 18, R, R))
