"""Losses: VGG weights through the real loading path, perceptual/style behaviour, GAN/CE/KL/L1/TV values."""
import hashlib
import logging
import math
import os

import pytest
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

from paint.losses import (PERCEPTUAL_LAYERS, STYLE_LAYERS, VGG19_RELU_INDEX, AdversarialLoss, VGG19Features,
                          VGGLoss, discriminator_loss, flow_smoothness, generator_loss, gram_matrix,
                          kl_to_standard_normal, l1_loss, latent_regression_loss, pixel_cross_entropy)
from paint.weights import MissingWeightsError, WeightsError

VGG_FILE = "vgg19-dcbb9e9d.pth"


@pytest.fixture(scope="module")
def vgg_state():
    """torchvision vgg19(weights=None)'s feature keys and shapes with random (He-scaled) values.

    The classifier (400 MB of float32) is left out: nothing reads it, and the file stays ~80 MB.
    """
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in torchvision.models.vgg19(weights=None).state_dict().items()}
    generator = torch.Generator().manual_seed(7)
    state = {}
    for key, shape in shapes.items():
        if key.startswith("features."):
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
            scale = math.sqrt(2 / fan_in) if len(shape) > 1 else 0.01
            state[key] = torch.randn(shape, generator=generator) * scale
    return state


@pytest.fixture(scope="module")
def vgg_file(vgg_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "elsewhere.pth"
    torch.save(vgg_state, path)
    return path


@pytest.fixture
def cached_vgg(vgg_file, tmp_path, monkeypatch):
    """A TORCH_HOME whose hub cache holds the generated VGG19 file under torchvision's name."""
    target = tmp_path / "torch_home" / "hub" / "checkpoints" / VGG_FILE
    target.parent.mkdir(parents=True)
    os.link(vgg_file, target)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return target


@pytest.fixture(scope="module")
def random_vgg():
    return VGGLoss("random")


def _assert_matches(loss: VGGLoss, state: dict) -> None:
    trunk = loss.features.trunk.state_dict()
    assert trunk, "no parameters were loaded"
    for key, value in trunk.items():
        assert torch.equal(value, state[f"features.{key}"]), key
    assert len(loss.features.trunk) == VGG19_RELU_INDEX["relu5_2"] + 1  # truncated at relu5_2


def test_imagenet_backbone_loads_the_cached_file(cached_vgg, vgg_state):
    loss = VGGLoss("imagenet")
    _assert_matches(loss, vgg_state)
    assert loss.features.weights_file == cached_vgg.resolve()
    assert loss.features.weights_sha256 == hashlib.sha256(cached_vgg.read_bytes()).hexdigest()
    assert loss.features.weights_sha256 in loss.describe()
    assert not any(p.requires_grad for p in loss.parameters())


def test_missing_vgg_weights_fail_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(MissingWeightsError) as err:
        VGGLoss("imagenet", path_option="loss.vgg_weights")
    assert VGG_FILE in str(err.value) and "\n" not in str(err.value) and "loss.vgg_weights" in str(err.value)


def test_explicit_path_and_safetensors(vgg_file, vgg_state, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    _assert_matches(VGGLoss("imagenet", weights_path=vgg_file), vgg_state)
    st = tmp_path / "vgg19.safetensors"
    save_file(vgg_state, str(st))
    loss = VGGLoss("imagenet", weights_path=str(st))
    _assert_matches(loss, vgg_state)
    assert loss.features.weights_file == st.resolve()


def test_file_without_vgg_layers_is_refused(vgg_state, tmp_path):
    partial = {k: v for k, v in vgg_state.items() if k != "features.28.weight"}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match="lacks 'features.28.weight'"):
        VGGLoss("imagenet", weights_path=tmp_path / "partial.pth")


def test_layer_names_are_torchvision_positions():
    assert {k: VGG19_RELU_INDEX[k] for k in PERCEPTUAL_LAYERS + STYLE_LAYERS} == {
        "relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29,
        "relu2_2": 8, "relu3_4": 17, "relu4_4": 26, "relu5_2": 31}
    with torch.device("meta"):
        features = torchvision.models.vgg19(weights=None).features
    for name, index in VGG19_RELU_INDEX.items():
        assert isinstance(features[index], torch.nn.ReLU), name
        assert isinstance(features[index - 1], torch.nn.Conv2d), name
        block = 1 + sum(isinstance(m, torch.nn.MaxPool2d) for m in features[:index])
        assert name.startswith(f"relu{block}_"), name


def test_inputs_are_imagenet_normalised(random_vgg):
    features = VGG19Features(["relu1_1"], "random")
    assert len(features.trunk) == 2  # built only as deep as needed
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    conv = features.trunk[0]
    expected = F.relu(F.conv2d(((x + 1) / 2 - mean) / std, conv.weight, conv.bias, padding=1))
    torch.testing.assert_close(features(x)["relu1_1"], expected)


def test_random_backbone_is_deterministic_and_announced(caplog):
    with caplog.at_level(logging.WARNING, logger="paint.losses"):
        a = VGG19Features(["relu2_1"], "random")
    assert any("RANDOM" in record.getMessage() for record in caplog.records)
    b = VGG19Features(["relu2_1"], "random")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert "random" in a.describe()
    # He init keeps deep features alive
    deep = VGG19Features(["relu5_2"], "random")(torch.rand(1, 3, 64, 64) * 2 - 1)["relu5_2"]
    assert deep.std() > 0.1


def test_vgg_losses_zero_for_identical_positive_otherwise(random_vgg):
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    same = random_vgg(x, x.clone())
    assert same["perceptual"].item() == 0 and same["style"].item() == 0
    other = random_vgg(x, torch.rand(2, 3, 64, 64) * 2 - 1)
    assert other["perceptual"] > 0 and other["style"] > 0


def test_gradient_flows_to_fake_only(random_vgg):
    fake = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    real = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    out = random_vgg(fake, real)
    (out["perceptual"] + out["style"]).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None


def _blocks(cell: int, seed: int, size: int = 96) -> torch.Tensor:
    """A colour texture of random cell×cell blocks, (1, 3, size, size) in [−0.8, 0.8]."""
    cells = torch.rand(1, 3, size // cell, size // cell, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return F.interpolate(cells, size=(size, size), mode="nearest") * 0.8


def test_style_prefers_same_texture_over_different_one(random_vgg):
    texture = _blocks(4, seed=3)
    reference, shifted = texture[..., :64, :64], texture[..., 5:69, 5:69]  # same texture, other crop
    x = torch.arange(64).float()
    wave = torch.sin(2 * math.pi * x / 8).view(1, -1).expand(64, 64)
    stripes = (0.8 * torch.stack([wave, 0.5 * wave, -wave])).unsqueeze(0)
    near = random_vgg(shifted, reference)["style"]
    for other in (_blocks(8, seed=4)[..., :64, :64], stripes):
        assert near < 0.6 * random_vgg(other, reference)["style"]


def test_layer_weights_scale_terms():
    one = VGGLoss("random", perceptual_layers=("relu1_1",), style_layers=("relu2_2",))
    three = VGGLoss("random", perceptual_layers=("relu1_1",), perceptual_weights=(3.0,),
                    style_layers=("relu2_2",), style_weights=(3.0,))
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    x, y = one(a, b), three(a, b)
    torch.testing.assert_close(y["perceptual"], 3 * x["perceptual"])
    torch.testing.assert_close(y["style"], 3 * x["style"])
    assert VGGLoss("random", style_layers=())(a, b)["style"].item() == 0
    with pytest.raises(ValueError, match="2 layer weights for 1 layers"):
        VGGLoss("random", perceptual_layers=("relu1_1",), perceptual_weights=(1.0, 2.0))


def test_gram_matrix_values_and_float32_under_autocast(random_vgg):
    feat = torch.ones(1, 2, 2, 2)
    torch.testing.assert_close(gram_matrix(feat), torch.full((1, 2, 2), 0.5))  # 4 / (2·2·2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gram_matrix(feat.bfloat16()).dtype == torch.float32
        out = random_vgg(torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1)
    assert out["style"].dtype == torch.float32 and torch.isfinite(out["style"])


# ---------------------------------------------------------------------------------------------------- GAN losses
def test_hinge_and_lsgan_values():
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[-2.0], [0.5]])
    # hinge D: mean(relu(1-real)) + mean(relu(1+fake)) = (0+1)/2 + (0+1.5)/2
    assert discriminator_loss(real, fake, "hinge").item() == pytest.approx(1.25)
    assert generator_loss(fake, "hinge").item() == pytest.approx(0.75)  # -mean(fake)
    # LSGAN D: ½(mean((real-1)²) + mean(fake²)) = ½((1+1)/2 + (4+0.25)/2)
    assert discriminator_loss(real, fake, "lsgan").item() == pytest.approx(0.5 * (1 + 2.125))
    assert generator_loss(fake, "lsgan").item() == pytest.approx((9 + 0.25) / 2)
    adv = AdversarialLoss("lsgan")
    assert adv.d(real, fake).item() == pytest.approx(0.5 * (1 + 2.125))
    with pytest.raises(ValueError, match="unknown GAN loss"):
        AdversarialLoss("wgan")


def test_gan_losses_average_over_scales():
    a, b = torch.full((2, 1, 4, 4), 0.5), torch.full((2, 1, 2, 2), -1.0)
    assert generator_loss([a, b], "hinge").item() == pytest.approx((-0.5 + 1.0) / 2)
    # pix2pixHD-style scales (intermediate features, then score) count by their score
    assert generator_loss([[torch.zeros(2, 8, 4, 4), a], [b]], "hinge").item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="scales"):
        discriminator_loss([a, b], [a], "hinge")


@pytest.mark.parametrize("kind", ["hinge", "lsgan"])
def test_gan_losses_use_every_sample(kind):
    real, fake = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    changed = fake.clone()
    changed[0] += 3.0  # sample 0 (the original looked only at the last one)
    assert generator_loss(changed, kind) != generator_loss(fake, kind)
    assert discriminator_loss(real, changed, kind) != discriminator_loss(real, fake, kind)


# ------------------------------------------------------------------------------------------ other reconstruction
def test_l1_plain_and_masked():
    a = torch.zeros(1, 3, 4, 4)
    b = torch.zeros(1, 3, 4, 4)
    assert l1_loss(a, b).item() == 0
    b[..., :2, :] = 2.0
    assert l1_loss(a, b).item() == pytest.approx(1.0)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    assert l1_loss(a, b, mask).item() == pytest.approx(2.0)  # mean over valid pixels only
    assert l1_loss(a, b, 1 - mask).item() == 0
    assert l1_loss(a, b, torch.zeros(1, 1, 4, 4)).item() == 0


def test_cross_entropy_matches_torch_and_ignores_255():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 20, 8, 8, generator=generator)
    target = torch.randint(0, 20, (2, 8, 8), generator=generator)
    target[0, :3] = 255
    weights = torch.rand(20, generator=generator) + 0.5
    for w in (None, weights):
        expected = F.cross_entropy(logits, target, weight=w, ignore_index=255)
        torch.testing.assert_close(pixel_cross_entropy(logits, target, w), expected)
    torch.testing.assert_close(pixel_cross_entropy(logits, target.unsqueeze(1), weights.tolist()),
                               F.cross_entropy(logits, target, weight=weights, ignore_index=255))
    moved = logits.clone()
    moved[0, :, :3] = 100 * torch.randn(20, 3, 8, generator=generator)
    torch.testing.assert_close(pixel_cross_entropy(moved, target), pixel_cross_entropy(logits, target))
    assert pixel_cross_entropy(logits, torch.full((2, 8, 8), 255)).item() == 0
    with pytest.raises(ValueError, match="3 entries for 20 classes"):
        pixel_cross_entropy(logits, target, [1.0, 2.0, 3.0])


def test_kl_and_latent_regression():
    assert kl_to_standard_normal(torch.zeros(4, 8), torch.zeros(4, 8)).item() == 0
    # mu = 1, logvar = 0 → ½·mu² per dimension, 3 dimensions
    assert kl_to_standard_normal(torch.ones(2, 3), torch.zeros(2, 3)).item() == pytest.approx(1.5)
    assert kl_to_standard_normal(torch.zeros(2, 3), torch.full((2, 3), 1.0)).item() > 0
    assert latent_regression_loss(torch.zeros(2, 8), torch.full((2, 8), -0.5)).item() == pytest.approx(0.5)


def test_flow_smoothness():
    constant = torch.full((2, 2, 16, 16), 3.7)
    assert flow_smoothness(constant).item() == 0
    ramp = torch.arange(16).float().view(1, 1, 1, 16).expand(1, 2, 16, 16)
    assert flow_smoothness(ramp).item() == pytest.approx(1.0)  # |∂x| = 1 everywhere, |∂y| = 0
    # a flow that jumps where the layout has an edge is penalised less when edge-aware
    jump = torch.zeros(1, 2, 16, 16)
    jump[..., 8:] = 4.0
    layout = torch.zeros(1, 2, 32, 32)
    layout[:, 0, :, :16], layout[:, 1, :, 16:] = 1, 1
    plain = flow_smoothness(jump)
    aware = flow_smoothness(jump, layout, edge_sharpness=10.0)
    assert aware < 0.1 * plain
    with pytest.raises(ValueError, match="edge_sharpness"):
        flow_smoothness(jump, layout)
