"""Training losses shared by the stages: adversarial, L1, VGG19 perceptual/style, cross-entropy, KL, flow smoothness.

Every function returns an unweighted scalar; the weights (adversarial 0.1, style 250, …) live in the stages' typed
configs and are applied by the stages. Fixes over the original PAINT code (docs/DESIGN.md lists them all):
GAN losses average over the whole batch and over every discriminator scale (the original used only the last
sample); VGG inputs are ImageNet-normalised; VGG layers are named by their true position; cross-entropy works on
logits (no log of softmax + 1e-5) and ignores 255 pixels; the KL term is against N(0, I).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from paint.data.labels import IGNORE
from paint.weights import WeightsError, is_official, load_state_dict, resolve_weights, sha256_of

log = logging.getLogger(__name__)

GanKind = Literal["hinge", "lsgan"]
GAN_KINDS: tuple[str, ...] = ("hinge", "lsgan")
# A discriminator's output: one score map, or one per scale (a scale given as a list of intermediate features
# followed by its score, pix2pixHD-style, counts by its last entry).
Scores = Tensor | Sequence[Tensor] | Sequence[Sequence[Tensor]]


# ----------------------------------------------------------------------------------------------------------- GAN
def _scales(scores: Scores) -> list[Tensor]:
    if isinstance(scores, Tensor):
        return [scores]
    out = [s if isinstance(s, Tensor) else s[-1] for s in scores]
    if not out:
        raise ValueError("discriminator returned no scores")
    return out


def _check_kind(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise ValueError(f"unknown GAN loss {kind!r}; choose one of {list(GAN_KINDS)}")


def discriminator_loss(real: Scores, fake: Scores, kind: GanKind) -> Tensor:
    """Discriminator loss from scores on real and (detached) fake inputs; scalar, averaged over scales.

    Scores are raw logits of any shape (B, 1, h, w) per scale; every element of every sample counts.
    hinge: E[relu(1 − D(real))] + E[relu(1 + D(fake))];  lsgan: ½(E[(D(real) − 1)²] + E[D(fake)²]).
    """
    _check_kind(kind)
    real_scales, fake_scales = _scales(real), _scales(fake)
    if len(real_scales) != len(fake_scales):
        raise ValueError(f"real and fake scores have {len(real_scales)} and {len(fake_scales)} scales")
    terms = []
    for r, f in zip(real_scales, fake_scales):
        r, f = r.float(), f.float()
        if kind == "hinge":
            terms.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
        else:
            terms.append(0.5 * ((r - 1).square().mean() + f.square().mean()))
    return torch.stack(terms).mean()


def generator_loss(fake: Scores, kind: GanKind) -> Tensor:
    """Generator's adversarial loss from the discriminator's scores on fakes; scalar, averaged over scales.

    hinge: −E[D(fake)];  lsgan: E[(D(fake) − 1)²].
    """
    _check_kind(kind)
    terms = []
    for f in _scales(fake):
        f = f.float()
        terms.append(-f.mean() if kind == "hinge" else (f - 1).square().mean())
    return torch.stack(terms).mean()


class AdversarialLoss:
    """The chosen GAN loss as a pair of phases: `.d(real, fake)` for the D step, `.g(fake)` for the G step."""

    def __init__(self, kind: GanKind):
        _check_kind(kind)
        self.kind = kind

    def d(self, real: Scores, fake: Scores) -> Tensor:
        return discriminator_loss(real, fake, self.kind)

    def g(self, fake: Scores) -> Tensor:
        return generator_loss(fake, self.kind)


# ---------------------------------------------------------------------------------------------- reconstruction
def l1_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute difference; with `mask`, the mean over valid pixels only.

    pred, target: (B, C, H, W), any range. mask: (B, 1 or C, H, W), 1 = valid (soft weights allowed);
    an all-zero mask gives 0.
    """
    diff = (pred.float() - target.float()).abs()
    if mask is None:
        return diff.mean()
    weight = mask.float().expand_as(diff)
    return (diff * weight).sum() / weight.sum().clamp_min(torch.finfo(torch.float32).eps)


def pixel_cross_entropy(logits: Tensor, target: Tensor, class_weights: Sequence[float] | Tensor | None = None,
                        ignore_index: int = IGNORE) -> Tensor:
    """Per-pixel cross-entropy on logits, mean over non-ignored pixels (weighted mean with class weights).

    logits: (B, C, H, W) raw scores. target: (B, H, W) or (B, 1, H, W) integer labels 0..C−1, `ignore_index`
    (255) = not counted. class_weights: C numbers or None. Same value as torch's F.cross_entropy(mean); 0 when
    every pixel is ignored (torch would give NaN).
    """
    if target.dim() == logits.dim():
        target = target.squeeze(1)
    target = target.long()
    weight = None
    if class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=torch.float32, device=logits.device)
        if weight.shape != (logits.shape[1],):
            raise ValueError(f"class_weights has {weight.numel()} entries for {logits.shape[1]} classes")
    total = F.cross_entropy(logits.float(), target, weight=weight, ignore_index=ignore_index, reduction="sum")
    valid = target != ignore_index
    if weight is None:
        count = valid.sum().float()
    else:
        count = weight[torch.where(valid, target, 0)].mul(valid).sum()
    return total / count.clamp_min(torch.finfo(torch.float32).eps)


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, I)), summed over latent dims, mean over the batch.

    mu, logvar: (B, D) or (B, D, …). Returns a scalar ≥ 0 (0 for mu = 0, logvar = 0).
    """
    per_dim = -0.5 * (1 + logvar.float() - mu.float().square() - logvar.float().exp())
    return per_dim.flatten(1).sum(1).mean()


def latent_regression_loss(z_recovered: Tensor, z_drawn: Tensor) -> Tensor:
    """L1 between the latent recovered by the encoder and the latent the generator was given; (B, D) each."""
    return (z_recovered.float() - z_drawn.float()).abs().mean()


def flow_smoothness(flow: Tensor, guide: Tensor | None = None, edge_sharpness: float | None = None) -> Tensor:
    """Total variation of a flow field, optionally edge-aware.

    flow: (B, 2, H, W) in any unit. guide: (B, C, H', W') image or one-hot layout whose edges may carry flow
    discontinuities; resized to (H, W) if needed. With a guide, each difference is weighted by
    exp(−edge_sharpness · mean_c |∂guide|). Returns mean |∂x flow| + mean |∂y flow| (weighted); 0 for a
    constant flow.
    """
    flow = flow.float()
    dx = (flow[..., :, 1:] - flow[..., :, :-1]).abs()
    dy = (flow[..., 1:, :] - flow[..., :-1, :]).abs()
    if guide is None:
        return dx.mean() + dy.mean()
    if edge_sharpness is None:
        raise ValueError("flow_smoothness with a guide needs edge_sharpness (from the stage config)")
    guide = guide.float()
    if guide.shape[-2:] != flow.shape[-2:]:
        guide = F.interpolate(guide, size=flow.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    gx = (guide[..., :, 1:] - guide[..., :, :-1]).abs().mean(1, keepdim=True)
    gy = (guide[..., 1:, :] - guide[..., :-1, :]).abs().mean(1, keepdim=True)
    return (dx * torch.exp(-edge_sharpness * gx)).mean() + (dy * torch.exp(-edge_sharpness * gy)).mean()


# -------------------------------------------------------------------------------------------------------- VGG19
Backbone = Literal["imagenet", "random"]
BACKBONES: tuple[str, ...] = ("imagenet", "random")
PERCEPTUAL_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
STYLE_LAYERS: tuple[str, ...] = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
_VGG19_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block (torchvision config "E")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_relu_indices() -> dict[str, int]:
    """'reluB_K' → index of that ReLU in torchvision's vgg19().features (conv, relu per layer; a pool per block)."""
    names, index = {}, 0
    for block, convs in enumerate(_VGG19_BLOCKS, start=1):
        for k in range(1, convs + 1):
            names[f"relu{block}_{k}"] = index + 1
            index += 2
        index += 1  # max-pool closing the block
    return names


VGG19_RELU_INDEX = vgg19_relu_indices()


class VGG19Features(nn.Module):
    """Frozen VGG19 trunk returning named ReLU activations; only layers up to the deepest requested are built.

    backbone "imagenet": torchvision's ImageNet weights via paint.weights (explicit `weights_path`, else the torch
    hub cache; never downloaded). backbone "random": a deterministic Kaiming-initialised random-feature network
    (seeded by `seed`) for offline runs, announced by a warning; its filters still respond to texture statistics.
    Input: (B, 3, H, W) images in [−1, 1]; mapped to [0, 1] and ImageNet-normalised inside.
    """

    def __init__(self, layers: Sequence[str], backbone: Backbone = "imagenet",
                 weights_path: str | os.PathLike | None = None, seed: int = 0, path_option: str | None = None):
        super().__init__()
        unknown = [name for name in layers if name not in VGG19_RELU_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG19 layer {unknown[0]!r}; known: {', '.join(VGG19_RELU_INDEX)}")
        if backbone not in BACKBONES:
            raise ValueError(f"unknown VGG backbone {backbone!r}; choose one of {list(BACKBONES)}")
        self.layers = tuple(dict.fromkeys(layers))
        self.backbone = backbone
        self.weights_file: Path | None = None
        self.weights_sha256: str | None = None
        depth = max((VGG19_RELU_INDEX[name] for name in self.layers), default=-1)
        # Built on the meta device so torchvision's own random init (and its 100M-parameter classifier) costs
        # nothing; weights=None keeps torchvision from ever downloading.
        with torch.device("meta"):
            trunk = torchvision.models.vgg19(weights=None).features[: depth + 1]
        self.trunk = trunk.to_empty(device="cpu")
        if backbone == "imagenet":
            self._load_imagenet(weights_path, path_option)
        else:
            self._init_random(seed)
        self.trunk.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def _load_imagenet(self, weights_path, path_option) -> None:
        path = resolve_weights("vgg19", weights_path, path_option=path_option)
        state = load_state_dict(path)
        wanted = {}
        for key, param in self.trunk.state_dict().items():
            source = f"features.{key}"
            if source not in state:
                raise WeightsError(f"weight file {str(path)!r} lacks {source!r}; it is not a torchvision VGG19 "
                                   f"state dict")
            if tuple(state[source].shape) != tuple(param.shape):
                raise WeightsError(f"weight file {str(path)!r}: {source!r} has shape {tuple(state[source].shape)}, "
                                   f"VGG19 needs {tuple(param.shape)}")
            wanted[key] = state[source]
        self.trunk.load_state_dict(wanted, strict=True)
        self.weights_file = path
        self.weights_sha256 = sha256_of(path)
        if is_official("vgg19", path) is False:
            log.warning("VGG19 weights %s are not torchvision's official file (sha256 %s…)", path,
                        self.weights_sha256[:12])

    def _init_random(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        for module in self.trunk:
            if isinstance(module, nn.Conv2d):
                # He init keeps activation scale through 16 ReLU layers, so deep features neither vanish nor explode.
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu", generator=generator)
                nn.init.zeros_(module.bias)
        log.warning("VGG19 perceptual/style losses use a RANDOM-feature backbone (Kaiming init, seed %d), not "
                    "ImageNet weights; values are not comparable with ImageNet-VGG runs", seed)

    def describe(self) -> str:
        """One line for run logs: which backbone and which weights."""
        if self.backbone == "random":
            return "vgg19 random-feature backbone (kaiming init)"
        return f"vgg19 imagenet {self.weights_file} sha256={self.weights_sha256}"

    def train(self, mode: bool = True) -> VGG19Features:
        return super().train(False)  # always a fixed feature extractor

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """(B, 3, H, W) in [−1, 1] → {layer name: (B, C, H/2^k, W/2^k) activation} for the requested layers."""
        x = ((images + 1) / 2 - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        wanted = {VGG19_RELU_INDEX[name]: name for name in self.layers}
        out: dict[str, Tensor] = {}
        for index, module in enumerate(self.trunk):
            x = module(x)
            if index in wanted:
                out[wanted[index]] = x
        return out


def gram_matrix(features: Tensor) -> Tensor:
    """(B, C, H, W) → (B, C, C) Gram matrix F·Fᵀ / (C·H·W), computed in float32 even under autocast."""
    b, c, h, w = features.shape
    with torch.autocast(device_type=features.device.type, enabled=False):
        flat = features.float().reshape(b, c, h * w)
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def _layer_weights(layers: Sequence[str], weights: Sequence[float] | None, what: str) -> tuple[float, ...]:
    if weights is None:
        return tuple(1.0 for _ in layers)  # unweighted sum over layers
    if len(weights) != len(layers):
        raise ValueError(f"{what}: {len(weights)} layer weights for {len(layers)} layers {list(layers)}")
    return tuple(float(w) for w in weights)


class VGGLoss(nn.Module):
    """Perceptual and Gram-style losses from one pass of a frozen VGG19 over each image.

    perceptual = Σ_l w_l · mean|φ_l(fake) − φ_l(real)| over `perceptual_layers` (default relu1_1 … relu5_1);
    style = Σ_l w_l · mean|G(φ_l(fake)) − G(φ_l(real))| over `style_layers` (default relu2_2, relu3_4, relu4_4,
    relu5_2), G = gram_matrix. Layer weights default to 1 each; an empty layer list gives a 0 term.
    Real features are computed without gradient. See VGG19Features for `backbone`/`weights_path`.
    """

    def __init__(self, backbone: Backbone = "imagenet", weights_path: str | os.PathLike | None = None,
                 perceptual_layers: Sequence[str] = PERCEPTUAL_LAYERS,
                 perceptual_weights: Sequence[float] | None = None,
                 style_layers: Sequence[str] = STYLE_LAYERS, style_weights: Sequence[float] | None = None,
                 seed: int = 0, path_option: str | None = None):
        super().__init__()
        self.perceptual = dict(zip(perceptual_layers, _layer_weights(perceptual_layers, perceptual_weights,
                                                                      "perceptual loss")))
        self.style = dict(zip(style_layers, _layer_weights(style_layers, style_weights, "style loss")))
        self.features = VGG19Features(list(perceptual_layers) + list(style_layers), backbone, weights_path, seed,
                                      path_option)

    def describe(self) -> str:
        return self.features.describe()

    def forward(self, fake: Tensor, real: Tensor) -> dict[str, Tensor]:
        """fake, real: (B, 3, H, W) in [−1, 1] → {"perceptual": scalar, "style": scalar} (float32, ≥ 0)."""
        fake_features = self.features(fake)
        with torch.no_grad():
            real_features = self.features(real)
        zero = fake.new_zeros((), dtype=torch.float32)
        perceptual = sum((w * (fake_features[name].float() - real_features[name].float()).abs().mean()
                          for name, w in self.perceptual.items()), zero)
        style = sum((w * (gram_matrix(fake_features[name]) - gram_matrix(real_features[name])).abs().mean()
                     for name, w in self.style.items()), zero)
        return {"perceptual": perceptual, "style": style}
