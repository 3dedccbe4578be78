"""The networks of the three stages: shapes and ranges, the guarantees the stages rely on (masked attention,
TSN region independence, AFN warping, LGN code diversity), gradients to every parameter, and paper sizes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from paint.config import ConfigError, from_dict
from paint.data.labels import GARMENT_GROUPS, afn_groups, one_hot
from paint.models import afn, lgn, tsn
from paint.models.blocks import (MultiScaleDiscriminator, PartialConv2d, count_parameters, init_weights,
                                 masked_attention)

RES, BATCH = 64, 2

# Parameter counts of the original networks, counted from the original PAINT code's layer definitions (weights + biases;
# TSN/AFN are approximate where the reference leaves kernel sizes or module sharing open).
ORIGINAL_PARAMETERS = {
    "LGN G (8-level U-Net, add-all)": 55_614_868, "LGN E (E_ResNet)": 2_591_056,
    "LGN D (2 scales, ndf 64/32; ×2 in the original)": 3_485_090,
    "TSN G (InpaintGenerator)": 50_235_811, "TSN D (NLayer, BN)": 2_766_529,
    "AFN G (flow + image columns)": 69_626_371, "AFN D2 (24-ch input)": 2_786_241,
}


def seeded(seed: int = 0) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def person_labels(batch: int = BATCH, size: int = RES) -> torch.Tensor:
    """(B, H, W) label maps: face, a top garment, a bottom garment, arms, some ignore pixels."""
    s = size // 64
    labels = torch.zeros(batch, size, size, dtype=torch.long)
    labels[:, 4 * s:12 * s, 26 * s:38 * s] = 13
    labels[:, 12 * s:34 * s, 18 * s:46 * s] = 5
    labels[:, 14 * s:34 * s, 12 * s:18 * s] = 14
    labels[:, 34 * s:58 * s, 20 * s:44 * s] = 9
    labels[:, 58 * s:62 * s, 20 * s:44 * s] = 18
    labels[:, 0, :2] = 255
    return labels


def patch_canvas(canvas: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random texture of height×width centred on a canvas, with its validity mask (B, 1, P, P)."""
    g = torch.Generator().manual_seed(seed)
    image, mask = torch.zeros(BATCH, 3, canvas, canvas), torch.zeros(BATCH, 1, canvas, canvas)
    top, left = (canvas - height) // 2, (canvas - width) // 2
    image[:, :, top:top + height, left:left + width] = torch.rand(BATCH, 3, height, width, generator=g) * 2 - 1
    mask[:, :, top:top + height, left:left + width] = 1
    return image, mask


def weighted_sum(*outputs: torch.Tensor) -> torch.Tensor:
    """Sum of outputs with fixed random weights (a plain sum of instance-normalised maps has zero gradient)."""
    g = torch.Generator().manual_seed(1)
    return sum((t * torch.randn(t.shape, generator=g)).sum() for t in outputs)


def assert_all_gradients(**modules: torch.nn.Module) -> None:
    for name, module in modules.items():
        for pname, p in module.named_parameters():
            assert p.grad is not None, f"{name}.{pname} received no gradient (dead parameter)"
            assert torch.isfinite(p.grad).all(), f"{name}.{pname} has a non-finite gradient"
            assert p.grad.abs().max() > 0, f"{name}.{pname} received an all-zero gradient"


# --- blocks ---------------------------------------------------------------------------------------------------

def test_masked_attention_renormalises_over_valid_keys_and_never_nans():
    seeded()
    query = torch.randn(3, 10, 8, requires_grad=True)
    key, value = torch.randn(3, 7, 8, requires_grad=True), torch.randn(3, 7, 5, requires_grad=True)
    key_mask = torch.tensor([[1, 1, 0, 0, 1, 0, 0], [0] * 7, [1] * 7], dtype=torch.bool)
    query_mask = torch.rand(3, 10) > 0.3
    out = masked_attention(query, key, value, key_mask, query_mask)
    for b in (0, 2):
        keep = key_mask[b]
        weights = torch.softmax(query[b] @ key[b, keep].T / 8 ** 0.5, dim=-1)
        expected = (weights @ value[b, keep]) * query_mask[b, :, None]
        torch.testing.assert_close(out[b], expected)
    assert torch.equal(out[1], torch.zeros(10, 5))  # no valid key → zeros
    out.sum().backward()
    for t in (query, key, value):
        assert torch.isfinite(t.grad).all()
    assert key.grad[0, 2].abs().max() == 0 and value.grad[0, 3].abs().max() == 0  # masked keys ignored


def test_partial_conv_ignores_invalid_pixels():
    seeded()
    conv = init_weights(PartialConv2d(3, 4, 3, stride=2), "normal", 0.5)
    x, mask = torch.randn(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)
    mask[..., 2:5, 1:6] = 1
    y, new_mask = conv(x, mask)
    y2, _ = conv(torch.where(mask > 0, x, torch.randn_like(x) * 100), mask)
    torch.testing.assert_close(y, y2)
    assert new_mask.shape == (1, 1, 4, 4) and new_mask.sum() > 0
    assert (y * (1 - new_mask)).abs().max() == 0


def test_multiscale_discriminator_returns_one_logit_map_per_scale():
    disc = MultiScaleDiscriminator(5, ndf=8, n_layers=2, num_scales=3)
    outputs = disc(torch.randn(2, 5, 64, 64))
    assert [o.shape for o in outputs] == [(2, 1, 14, 14), (2, 1, 6, 6), (2, 1, 2, 2)]


def test_net_configs_work_with_the_config_system():
    cfg = from_dict(tsn.TSNNetConfig, {"cnum": 16, "norm": "none"})
    assert cfg.cnum == 16 and cfg.attn_dim == tsn.TSNNetConfig().attn_dim
    with pytest.raises(ConfigError):
        from_dict(lgn.LGNNetConfig, {"code_injection": "add"})
    with pytest.raises(ConfigError):
        from_dict(afn.AFNNetConfig, {"widht": 3})


def test_config_variants_build_and_run():
    seeded()
    cfg = lgn.LGNNetConfig.tiny()
    cfg.norm, cfg.code_injection, cfg.d_spectral, cfg.init = "batch", "film", True, "normal"
    generator, disc = lgn.build_lgn_generator(cfg, 32), lgn.build_lgn_discriminator(cfg)
    assert generator.levels == 5
    logits = generator(torch.rand(2, 18, 32, 32), generator.sample_code(2))
    assert len(disc(logits.softmax(1), torch.rand(2, 18, 32, 32))) == 2
    cfg = tsn.TSNNetConfig.tiny()
    cfg.norm, cfg.spectral, cfg.d_conditional = "none", True, False
    design = tsn.build_tsn_generator(cfg)(torch.rand(1, 20, 32, 32), {}, {})
    assert design.shape == (1, 3, 32, 32) and len(tsn.build_tsn_discriminator(cfg)(design)) == cfg.d_scales
    cfg = afn.AFNNetConfig.tiny()
    cfg.use_target_pose, cfg.padding_mode, cfg.warp_padding = True, "zeros", "border"
    out = afn.build_afn_generator(cfg)(torch.rand(1, 3, 32, 32), torch.rand(1, 9, 32, 32),
                                       torch.rand(1, 9, 32, 32), torch.rand(1, 18, 32, 32))
    assert out.image.shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="multiple of"):
        generator(torch.rand(1, 18, 48, 48), generator.sample_code(1))


# --- LGN ------------------------------------------------------------------------------------------------------

def test_lgn_outputs_logits_and_codes_change_the_layout():
    g = seeded()
    cfg = lgn.LGNNetConfig.tiny()
    generator = lgn.build_lgn_generator(cfg, RES)
    pose = (torch.rand(BATCH, 18, RES, RES, generator=g) > 0.97).float()
    with torch.no_grad():
        first = generator(pose, generator.sample_code(BATCH, g))
        second = generator(pose, generator.sample_code(BATCH, g))
    assert first.shape == (BATCH, 20, RES, RES)
    assert not torch.allclose(first.softmax(1).sum(1), first.sum(1))  # logits, not probabilities
    changed = (first.argmax(1) != second.argmax(1)).float().mean().item()
    assert changed > 0.2, f"only {changed:.1%} of pixels change with the code"


def test_lgn_prior_is_standard_normal():
    codes = lgn.sample_code(20000, 24, torch.Generator().manual_seed(0))
    assert codes.shape == (20000, 24)
    assert abs(codes.mean().item()) < 0.02 and abs(codes.std().item() - 1) < 0.02


def test_lgn_part_tensors_are_masks_plus_differentiable_edges():
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[0, 4:12, 4:12] = 6
    parts = lgn.part_tensors(one_hot(labels))
    assert parts.shape == (1, 3, 4, 16, 16)
    top = parts[0, 0]
    assert torch.equal(top[1], (labels[0] == 6).float())  # the 'dress' channel of the top part
    ring = torch.zeros(16, 16)
    ring[4:12, 4:12], ring[5:11, 5:11] = 1, 0
    assert torch.equal(top[3], ring)
    assert parts[0, 1].sum() == 0 and parts[0, 2].sum() == 0
    soft = torch.rand(1, 20, 16, 16, requires_grad=True)
    lgn.part_tensors(soft.softmax(1))[..., 3, :, :].sum().backward()
    assert soft.grad.abs().sum() > 0


def test_lgn_gradients_reach_every_parameter_and_the_latent_regression_trains_g():
    g = seeded()
    cfg = lgn.LGNNetConfig.tiny()
    generator, encoder = lgn.build_lgn_generator(cfg, RES), lgn.build_lgn_encoder(cfg)
    disc = lgn.build_lgn_discriminator(cfg)
    pose = (torch.rand(BATCH, 18, RES, RES, generator=g) > 0.95).float()
    # Latent regression alone: E(softmax(G(pose, z))) must give G a gradient (dead in the original).
    z = generator.sample_code(BATCH, g)
    mu, _ = encoder.encode_parts(generator(pose, z).softmax(1))
    (mu - z).abs().mean().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in generator.net.down.parameters())
    for module in (generator, encoder):
        module.zero_grad(set_to_none=True)
    mu, logvar = encoder.encode_parts(one_hot(person_labels()))
    assert mu.shape == logvar.shape == (BATCH, cfg.nz)
    logits = generator(pose, lgn.reparameterize(mu, logvar))
    weighted_sum(logits, logvar, *disc(logits.softmax(1), pose)).backward()
    assert_all_gradients(G=generator, E=encoder, D=disc)


# --- TSN ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tsn_net():
    seeded()
    return tsn.build_tsn_generator(tsn.TSNNetConfig.tiny()).eval()


@pytest.mark.parametrize("size", [(8, 5, 5), (96, 17, 93), (64, 64, 64), (128, 120, 110), None],
                         ids=["5x5", "17x93", "64x64", "larger-than-region", "absent"])
def test_tsn_accepts_any_patch_size_and_absent_patches(tsn_net, size):
    layout = one_hot(person_labels())
    if size is None:
        patches, masks = {}, {}
    else:
        image, mask = patch_canvas(*size)
        patches, masks = {"top": image, "bottom": image}, {"top": mask, "bottom": torch.zeros_like(mask)}
    with torch.no_grad():
        design = tsn_net(layout, patches, masks)
    assert design.shape == (BATCH, 3, RES, RES)
    assert torch.isfinite(design).all() and design.abs().max() <= 1


def test_tsn_region_pixels_depend_only_on_their_own_patch(tsn_net):
    labels = person_labels()
    layout = one_hot(labels)
    top_image, top_mask = patch_canvas(48, 20, 30, seed=1)
    bottom_a, mask_a = patch_canvas(48, 16, 16, seed=2)
    bottom_b, mask_b = patch_canvas(40, 30, 9, seed=3)
    with torch.no_grad():
        first = tsn_net(layout, {"top": top_image, "bottom": bottom_a}, {"top": top_mask, "bottom": mask_a})
        second = tsn_net(layout, {"top": top_image, "bottom": bottom_b}, {"top": top_mask, "bottom": mask_b})
    region = torch.isin(labels, torch.tensor(GARMENT_GROUPS["top"])).float()[:, None]
    eroded = -F.max_pool2d(-region, 5, stride=1, padding=2) > 0.5  # 2 px erosion
    change = (first - second).abs().amax(dim=1, keepdim=True)
    assert eroded.sum() > 100
    assert change[eroded].max() < 1e-4
    bottom = torch.isin(labels, torch.tensor(GARMENT_GROUPS["bottom"]))[:, None]
    assert change[bottom].max() > 1e-3  # the bottom patch does matter where it belongs


def test_tsn_ignores_canvas_pixels_outside_the_mask(tsn_net):
    layout = one_hot(person_labels())
    image, mask = patch_canvas(32, 12, 20)
    noisy = torch.where(mask > 0, image, torch.rand_like(image) * 2 - 1)
    with torch.no_grad():
        clean = tsn_net(layout, {"top": image}, {"top": mask})
        dirty = tsn_net(layout, {"top": noisy}, {"top": mask})
    torch.testing.assert_close(clean, dirty)


def test_tsn_gradients_reach_every_parameter():
    seeded()
    cfg = tsn.TSNNetConfig.tiny()
    generator, disc = tsn.build_tsn_generator(cfg), tsn.build_tsn_discriminator(cfg)
    layout = one_hot(person_labels())
    top, top_mask = patch_canvas(40, 30, 30, seed=1)
    bottom, bottom_mask = patch_canvas(40, 20, 36, seed=2)
    design = generator(layout, {"top": top, "bottom": bottom}, {"top": top_mask, "bottom": bottom_mask})
    weighted_sum(design, *disc(design, layout)).backward()
    assert_all_gradients(G=generator, D=disc)


# --- AFN ------------------------------------------------------------------------------------------------------

def test_warp_with_zero_flow_is_identity_and_integer_flow_shifts():
    seeded()
    features = torch.randn(2, 5, 13, 17)
    torch.testing.assert_close(afn.warp(features, torch.zeros(2, 2, 13, 17)), features, atol=1e-5, rtol=0)
    flow = torch.zeros(2, 2, 13, 17)
    flow[:, 0], flow[:, 1] = 3, -2  # out(x, y) = in(x + 3, y − 2)
    shifted = afn.warp(features, flow)
    torch.testing.assert_close(shifted[:, :, 2:, :-3], features[:, :, :-2, 3:], atol=1e-5, rtol=0)
    assert shifted[:, :, :2].abs().max() == 0 and shifted[..., -3:].abs().max() == 0  # outside → zeros


def test_afn_outputs_image_flows_and_visibility():
    g = seeded()
    cfg = afn.AFNNetConfig.tiny()
    generator, disc = afn.build_afn_generator(cfg), afn.build_afn_discriminator(cfg)
    source = torch.rand(BATCH, 3, RES, RES, generator=g) * 2 - 1
    source_layout, target_layout = afn_groups(person_labels()), afn_groups(person_labels().flip(-1))
    out = generator(source, source_layout, target_layout)
    assert out.image.shape == out.warped.shape == (BATCH, 3, RES, RES)
    assert out.image.abs().max() <= 1
    sizes = [RES // 2 ** k for k in cfg.flow_levels]
    assert len(out.flows) == len(out.visibility) >= 3
    assert [f.shape for f in out.flows] == [(BATCH, 2, s, s) for s in sizes]
    assert [v.shape for v in out.visibility] == [(BATCH, 1, s, s) for s in sizes]
    assert all(((v > 0) & (v < 1)).all() for v in out.visibility)
    weighted_sum(out.image, out.warped, *out.flows, *out.visibility, *disc(out.image, target_layout)).backward()
    assert_all_gradients(G=generator, D=disc)


# --- paper sizes at 256 px ------------------------------------------------------------------------------------

def test_paper_configs_run_at_256_and_report_parameter_counts():
    g = seeded()
    size = 256
    labels = person_labels(1, size)
    pose = (torch.rand(1, 18, size, size, generator=g) > 0.99).float()
    counts = {}
    with torch.no_grad():
        cfg = lgn.LGNNetConfig.paper()
        generator, encoder = lgn.build_lgn_generator(cfg, size), lgn.build_lgn_encoder(cfg)
        disc = lgn.build_lgn_discriminator(cfg)
        assert generator.levels == 8
        assert generator(pose, generator.sample_code(1, g)).shape == (1, 20, size, size)
        assert encoder.encode_parts(one_hot(labels))[0].shape == (1, 24)
        assert [d.shape for d in disc(one_hot(labels), pose)] == [(1, 1, 30, 30), (1, 1, 14, 14)]
        counts.update({"LGN G": generator, "LGN E": encoder, "LGN D": disc})
        concat_only = lgn.LayoutGenerator(lgn.LGNNetConfig(code_injection="concat"), size)
        counts["LGN G (code_injection=concat)"] = concat_only

        cfg = tsn.TSNNetConfig.paper()
        generator, disc = tsn.build_tsn_generator(cfg), tsn.build_tsn_discriminator(cfg)
        image, mask = patch_canvas(size, 50, 40)
        design = generator(one_hot(labels), {"top": image[:1]}, {"top": mask[:1]})
        assert design.shape == (1, 3, size, size)
        assert disc(design, one_hot(labels))[0].shape == (1, 1, 30, 30)
        counts.update({"TSN G": generator, "TSN D": disc})

        cfg = afn.AFNNetConfig.paper()
        generator, disc = afn.build_afn_generator(cfg), afn.build_afn_discriminator(cfg)
        groups = afn_groups(labels)
        out = generator(torch.zeros(1, 3, size, size), groups, groups)
        assert out.image.shape == (1, 3, size, size)
        assert [f.shape[-1] for f in out.flows] == [32, 64, 128]
        counts.update({"AFN G": generator, "AFN D": disc})
    print("\nparameters (paper configs):")
    for name, module in counts.items():
        print(f"  {name:32s} {count_parameters(module):>12,d}")
    print("original PAINT code:")
    for name, value in ORIGINAL_PARAMETERS.items():
        print(f"  {name:48s} {value:>12,d}")
    # LGN keeps the original's architecture: counts agree up to the biases dropped before norms.
    assert abs(count_parameters(concat_only) / ORIGINAL_PARAMETERS["LGN G (8-level U-Net, add-all)"] - 1) < 0.001
    assert abs(count_parameters(counts["LGN E"]) / ORIGINAL_PARAMETERS["LGN E (E_ResNet)"] - 1) < 0.001
