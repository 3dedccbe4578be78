"""Building blocks shared by the three stages: conv blocks, residual and SPADE blocks, partial convolution,
masked attention, PatchGAN discriminators and weight initialisation.

Every block works on (B, C, H, W) float tensors. Norm choices are 'instance' (no affine, per sample), 'batch'
or 'none'; 'instance' keeps samples independent of each other, which TSN relies on.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Norm = Literal["instance", "batch", "none"]
Activation = Literal["relu", "lrelu", "none"]
Init = Literal["normal", "xavier"]


def make_norm(kind: Norm, channels: int) -> nn.Module:
    """Normalisation layer by name; instance norm has no affine part (SPADE-style modulation supplies it)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose instance, batch or none")


def make_activation(kind: Activation) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "lrelu":
        return nn.LeakyReLU(0.2)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {kind!r}; choose relu, lrelu or none")


def maybe_spectral(layer: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(layer) if enabled else layer


class ConvBlock(nn.Sequential):
    """conv (or transposed conv) → norm → activation. Bias is dropped when a norm with a mean removal follows."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, padding: int | None = None,
                 norm: Norm = "instance", act: Activation = "relu", spectral: bool = False,
                 transpose: bool = False, padding_mode: str = "zeros"):
        if padding is None:
            padding = (kernel - 1) // 2
        bias = norm == "none"
        if transpose:
            conv = nn.ConvTranspose2d(in_ch, out_ch, kernel, stride, padding, bias=bias)
        else:
            conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=bias, padding_mode=padding_mode)
        super().__init__(maybe_spectral(conv, spectral), make_norm(norm, out_ch), make_activation(act))


class ResBlock(nn.Module):
    """x + (conv3 → norm → act → conv3 → norm)(x); channels unchanged."""

    def __init__(self, channels: int, norm: Norm = "instance", act: Activation = "relu", spectral: bool = False,
                 padding_mode: str = "zeros"):
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(channels, channels, 3, norm=norm, act=act, spectral=spectral, padding_mode=padding_mode),
            ConvBlock(channels, channels, 3, norm=norm, act="none", spectral=spectral, padding_mode=padding_mode),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: norm(x)·(1 + γ(cond)) + β(cond), cond nearest-resized to x.

    `cond` (B, Cc, H', W') may have fewer rows than x when x holds k copies of the batch stacked as (k, B):
    γ and β are then computed once per sample and repeated, which saves work in TSN's per-region decoding.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 128, norm: Norm = "instance"):
        super().__init__()
        self.norm = make_norm(norm, channels)
        self.shared = nn.Sequential(nn.Conv2d(cond_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        cond = F.interpolate(cond, size=x.shape[-2:], mode="nearest")
        hidden = self.shared(cond)
        gamma, beta = self.gamma(hidden), self.beta(hidden)
        if gamma.shape[0] != x.shape[0]:
            copies = x.shape[0] // gamma.shape[0]
            gamma, beta = gamma.repeat(copies, 1, 1, 1), beta.repeat(copies, 1, 1, 1)
        return self.norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """SPADE residual block: two (SPADE → LReLU → conv3) steps plus a (learned if in ≠ out) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, cond_channels: int, hidden: int = 128, norm: Norm = "instance",
                 spectral: bool = False):
        super().__init__()
        mid = min(in_ch, out_ch)
        self.norm0 = SPADE(in_ch, cond_channels, hidden, norm)
        self.conv0 = maybe_spectral(nn.Conv2d(in_ch, mid, 3, padding=1), spectral)
        self.norm1 = SPADE(mid, cond_channels, hidden, norm)
        self.conv1 = maybe_spectral(nn.Conv2d(mid, out_ch, 3, padding=1), spectral)
        self.skip = None
        if in_ch != out_ch:
            self.skip_norm = SPADE(in_ch, cond_channels, hidden, norm)
            self.skip = maybe_spectral(nn.Conv2d(in_ch, out_ch, 1, bias=False), spectral)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.skip is None else self.skip(self.skip_norm(x, cond))
        y = self.conv0(self.act(self.norm0(x, cond)))
        y = self.conv1(self.act(self.norm1(y, cond)))
        return shortcut + y


class PartialConv2d(nn.Module):
    """Convolution over valid pixels only (partial convolution).

    forward(x (B, C, H, W), mask (B, 1, H, W) in {0, 1}) → (y, new_mask): the window sum over valid inputs is
    rescaled by window size / number of valid inputs, so invalid (zero) canvas pixels do not dim the features;
    y is zero where the window held no valid input, and new_mask marks windows with at least one valid input.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, padding: int | None = None):
        super().__init__()
        padding = (kernel - 1) // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=True)
        self.register_buffer("ones", torch.ones(1, 1, kernel, kernel), persistent=False)
        self.window = kernel * kernel

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        conv = self.conv
        with torch.no_grad():
            count = F.conv2d(mask, self.ones, stride=conv.stride, padding=conv.padding)
            new_mask = (count > 0).to(x.dtype)
            scale = self.window / count.clamp(min=1.0) * new_mask
        raw = F.conv2d(x * mask, conv.weight, None, conv.stride, conv.padding)
        y = (raw * scale + conv.bias.view(1, -1, 1, 1)) * new_mask
        return y, new_mask


def masked_instance_norm(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Instance norm whose statistics come from valid pixels only; (B, C, H, W), mask (B, 1, H, W) → masked
    normalised features (zero where invalid, and everywhere for a sample with no valid pixel)."""
    count = mask.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    mean = (x * mask).sum(dim=(2, 3), keepdim=True) / count
    var = (((x - mean) * mask) ** 2).sum(dim=(2, 3), keepdim=True) / count
    return (x - mean) * torch.rsqrt(var + eps) * mask


def masked_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_mask: torch.Tensor,
                     query_mask: torch.Tensor | None = None, scale: float | None = None) -> torch.Tensor:
    """Scaled dot-product attention with key and query validity masks.

    query (B, Nq, D), key (B, Nk, D), value (B, Nk, Cv), key_mask (B, Nk) and query_mask (B, Nq) bool or {0, 1}
    → (B, Nq, Cv). Masked keys get −inf before the softmax, so the weights renormalise over valid keys only;
    rows with no valid key, and masked queries, output exact zeros (never NaN, gradients stay finite).
    """
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    key_mask = key_mask.bool()
    has_key = key_mask.any(dim=-1, keepdim=True)  # (B, 1)
    # −inf on masked keys; a sample with no valid key keeps finite scores (no NaN) and is zeroed below.
    bias = torch.zeros(key_mask.shape, dtype=query.dtype, device=query.device)
    bias = bias.masked_fill(~key_mask & has_key, float("-inf"))
    # Fused attention (memory-efficient kernels on GPU: no (Nq × Nk) score matrix kept at 256 px).
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias[:, None, :], scale=scale)
    out = out * has_key[:, :, None].to(out.dtype)
    if query_mask is not None:
        out = out * query_mask.to(out.dtype)[:, :, None]
    return out

class PatchDiscriminator(nn.Module):
    """PatchGAN: `n_layers` stride-2 4×4 convs, one stride-1 conv, then a 1-channel stride-1 conv.

    (B, C, H, W) → (B, 1, h, w) patch logits (no sigmoid). Widths ndf·2^i capped at 8·ndf; no norm on the first
    layer, as in pix2pix.
    """

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, norm: Norm = "instance",
                 spectral: bool = False):
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(in_ch, ndf, 4, 2, 1, norm="none", act="lrelu", spectral=spectral)]
        width = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers.append(ConvBlock(width, out, 4, stride, 1, norm=norm, act="lrelu", spectral=spectral))
            width = out
        layers.append(maybe_spectral(nn.Conv2d(width, 1, 4, 1, 1), spectral))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiScaleDiscriminator(nn.Module):
    """`num_scales` PatchGANs on the input and 2×, 4×, … average-pooled copies.

    (B, C, H, W) → list of (B, 1, h_s, w_s) logits, finest scale first. `halve_ndf_per_scale` narrows each
    coarser discriminator by 2 (the original LGN: 64 then 32).
    """

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, num_scales: int = 2,
                 norm: Norm = "instance", spectral: bool = False, halve_ndf_per_scale: bool = False):
        super().__init__()
        self.scales = nn.ModuleList(
            PatchDiscriminator(in_ch, max(1, ndf // (2 ** s if halve_ndf_per_scale else 1)), n_layers, norm,
                               spectral)
            for s in range(num_scales)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, disc in enumerate(self.scales):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(disc(x))
        return outputs


def init_weights(module: nn.Module, kind: Init = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights N(0, gain) ('normal') or Xavier-normal with `gain` ('xavier'), biases 0;
    affine norm weights N(1, gain). Spectral-normalised layers get their underlying weight initialised."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") \
                else layer.weight
            with torch.no_grad():
                if kind == "normal":
                    nn.init.normal_(weight, 0.0, gain)
                elif kind == "xavier":
                    nn.init.xavier_normal_(weight, gain=gain)
                else:
                    raise ValueError(f"unknown init {kind!r}; choose normal or xavier")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)) and layer.weight is not None:
            with torch.no_grad():
                nn.init.normal_(layer.weight, 1.0, gain)
                nn.init.zeros_(layer.bias)
    return module


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def check_divisible(size: int, factor: int, what: str) -> None:
    """Raise a one-line ValueError when an input side is not a multiple of a network's total downsampling."""
    if size % factor:
        raise ValueError(f"{what}: input side {size} must be a multiple of {factor}; resize the data "
                         f"(data.resolution) or lower the network depth")


class ConditionalDiscriminator(nn.Module):
    """Multi-scale PatchGAN on x (B, C, H, W), optionally conditioned on y (B, C_cond, H, W) by concatenation.
    forward(x, condition=None) → list of (B, 1, h, w) logits, finest first."""

    def __init__(self, what: str, in_ch: int, cond_ch: int, conditional: bool, ndf: int, n_layers: int,
                 num_scales: int, norm: Norm, spectral: bool, halve_ndf_per_scale: bool = False):
        super().__init__()
        self.what, self.conditional = what, conditional
        self.net = MultiScaleDiscriminator(in_ch + (cond_ch if conditional else 0), ndf, n_layers, num_scales,
                                           norm, spectral, halve_ndf_per_scale)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> list[torch.Tensor]:
        if self.conditional:
            if condition is None:
                raise ValueError(f"{self.what} is conditional (d_conditional=true): pass its condition")
            x = torch.cat([x, condition], dim=1)
        return self.net(x)


PRIOR_LIMIT = 0.95  # keeps atanh finite and the output's tanh off saturation (white backdrops are near 1)


def prior_logits(colours: torch.Tensor) -> torch.Tensor:
    """Colours in [-1, 1] → the pre-tanh values a tanh maps back to them (within ±PRIOR_LIMIT): what a generator
    adds to its last conv's output so that it renders a residual over a colour prior."""
    return torch.atanh(colours.clamp(-PRIOR_LIMIT, PRIOR_LIMIT))


def tile_patch(canvas: torch.Tensor, valid: torch.Tensor, region: torch.Tensor) -> torch.Tensor | None:
    """Patch canvas (3, P, P) in [-1, 1] with (P, P) bool validity, tiled over the (H, W) bool region from its
    bounding-box corner (invalid patch pixels: the patch's mean) → (3, H, W), 0 outside the region; None when the
    patch or the region is empty. The inputs give no position for the patch, so the corner is as good as any."""
    if not bool(valid.any()) or not bool(region.any()):
        return None
    rows, cols = valid.any(1).nonzero()[:, 0], valid.any(0).nonzero()[:, 0]
    crop = canvas[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ok = valid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    crop = torch.where(ok, crop, crop[:, ok].mean(dim=1)[:, None, None])
    top, left = region.any(1).nonzero()[0, 0], region.any(0).nonzero()[0, 0]
    ys = (torch.arange(region.shape[0], device=canvas.device) - top) % crop.shape[1]
    xs = (torch.arange(region.shape[1], device=canvas.device) - left) % crop.shape[2]
    return crop[:, ys][:, :, xs] * region
