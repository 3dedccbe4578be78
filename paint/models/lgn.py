"""LGN networks: pose maps + style code → 20-class layout logits, the garment-part encoder and the layout
discriminator (BicycleGAN-style diversity; our changes to the original: docs/DESIGN.md).

Fixes of the original kept in the modules: the prior is N(0, I) (`sample_code`); the part encoder takes SOFT
layouts and builds its part masks and edges differentiably (`part_tensors`), so a latent regression through
E(G(pose, z)) trains the generator; the generator returns logits and callers apply (log-)softmax.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from paint.data.keypoints import NUM_KEYPOINTS
from paint.data.labels import NUM_CLASSES
from paint.models.blocks import (ConditionalDiscriminator, Init, Norm, check_divisible, init_weights, make_norm)
from paint.models.pose_limbs import NUM_LIMBS, limb_maps

# The three parts whose shape the code describes (LGN's parts in the original), each three classes.
LGN_PARTS: dict[str, tuple[int, int, int]] = {"top": (5, 6, 7), "bottom": (8, 9, 12), "head": (1, 2, 13)}
PART_CHANNELS = 4  # 3 class masks + 1 edge


@dataclass
class LGNNetConfig:
    """LGN network sizes. Defaults are the original's widths (`paper`); `tiny()` is for CPU tests."""
    ngf: int = 64                    # generator width of the outermost level
    max_mult: int = 8                # widths ngf·2^level capped at ngf·max_mult
    num_downs: int = 0               # U-Net levels; 0 = down to 1×1 at the training resolution (8 at 256)
    nz_per_part: int = 8             # code size per part (top, bottom, head) → 3·nz_per_part in all
    code_injection: Literal["concat", "film", "both"] = "both"  # concat = the original's add-all;
    # film also scales/shifts every normalised level, which instance norm cannot erase (concat of a constant
    # code is mostly removed by instance norm)
    norm: Norm = "instance"
    nef: int = 64                    # part-encoder width
    encoder_blocks: int = 4          # residual down blocks of the part encoder
    ndf: int = 64                    # discriminator width (finest scale)
    d_layers: int = 3                # stride-2 layers per PatchGAN
    d_scales: int = 2
    d_halve_ndf_per_scale: bool = True  # original: 64 at full size, 32 at half size
    d_conditional: bool = True       # discriminator also sees the pose maps
    d_norm: Norm = "instance"
    d_spectral: bool = False
    init: Init = "xavier"
    init_gain: float = 0.02
    limb_width: float = 0.0          # > 0: the generator also reads limb sticks this wide (px at 256, scaled with
    # the input's size; paint/models/pose_limbs.py); 0 = joint discs only, as the original

    @property
    def nz(self) -> int:
        return self.nz_per_part * len(LGN_PARTS)

    @classmethod
    def paper(cls) -> "LGNNetConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "LGNNetConfig":
        return cls(ngf=8, nef=8, encoder_blocks=3, ndf=8, d_layers=2)


def depth_for(resolution: int, cfg: LGNNetConfig) -> int:
    """U-Net levels: cfg.num_downs, or log2(resolution) when 0 (bottleneck 1×1)."""
    if cfg.num_downs:
        return cfg.num_downs
    depth = int(math.log2(resolution))
    if 2 ** depth != resolution:
        raise ValueError(f"LGN: resolution {resolution} is not a power of two; set lgn num_downs explicitly")
    return depth


def size_multiple(cfg: LGNNetConfig, resolution: int) -> int:
    """Input sides must be multiples of this: the U-Net's and the part encoder's halvings."""
    return max(2 ** depth_for(resolution, cfg), 2 ** (cfg.encoder_blocks + 1))


class _Film(nn.Module):
    """x·(1 + γ(z)) + β(z), per channel."""

    def __init__(self, nz: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(nz, 2 * channels)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(z)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gamma) + beta


class _UNetLevel(nn.Module):
    """One U-Net level: LReLU → down conv → norm (→ FiLM) ... inner ... ReLU → up conv → norm (→ FiLM)."""

    def __init__(self, outer: int, inner: int, out: int, nz: int, cfg: LGNNetConfig,
                 sub: "_UNetLevel | None", outermost: bool, innermost: bool):
        super().__init__()
        concat = cfg.code_injection in ("concat", "both")
        film = cfg.code_injection in ("film", "both")
        self.concat, self.outermost, self.sub = concat, outermost, sub
        self.down_act = nn.Identity() if outermost else nn.LeakyReLU(0.2)
        down_norm = not (outermost or innermost)
        no_norm = cfg.norm == "none"  # a bias before a mean-removing norm only gets zero gradients
        self.down = nn.Conv2d(outer + (nz if concat else 0), inner, 4, 2, 1, bias=no_norm or not down_norm)
        self.down_norm = make_norm(cfg.norm, inner) if down_norm else nn.Identity()
        self.down_film = _Film(nz, inner) if film and down_norm else None
        up_in = inner if innermost else 2 * inner
        self.up = nn.ConvTranspose2d(up_in, out, 4, 2, 1, bias=outermost or no_norm)
        self.up_norm = nn.Identity() if outermost else make_norm(cfg.norm, out)
        self.up_film = _Film(nz, out) if film and not outermost else None

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = x
        if self.concat:
            h = torch.cat([h, z[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        h = self.down_norm(self.down(self.down_act(h)))
        if self.down_film is not None:
            h = self.down_film(h, z)
        if self.sub is not None:
            h = self.sub(h, z)
        h = self.up_norm(self.up(F.relu(h)))
        if self.up_film is not None:
            h = self.up_film(h, z)
        return h if self.outermost else torch.cat([h, x], dim=1)


class LayoutGenerator(nn.Module):
    """U-Net: pose maps (B, 18, H, W) {0, 1} + code z (B, nz) → layout logits (B, 20, H, W) (no softmax).

    H and W must be multiples of 2^levels. The code reaches every level (concatenated to each down conv's
    input as in the original's add-all, and/or as FiLM after each normalisation).
    """

    def __init__(self, cfg: LGNNetConfig, resolution: int):
        super().__init__()
        self.levels, self.nz = depth_for(resolution, cfg), cfg.nz
        widths = [cfg.ngf * min(2 ** i, cfg.max_mult) for i in range(self.levels)]
        level = None
        for i in reversed(range(self.levels)):
            outer = NUM_KEYPOINTS + (NUM_LIMBS if cfg.limb_width > 0 else 0) if i == 0 else widths[i - 1]
            out = NUM_CLASSES if i == 0 else widths[i - 1]
            level = _UNetLevel(outer, widths[i], out, self.nz, cfg, level,
                               outermost=i == 0, innermost=i == self.levels - 1)
        self.net, self.limb_width = level, cfg.limb_width

    def forward(self, pose: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        for side in pose.shape[-2:]:
            check_divisible(side, 2 ** self.levels, "LGN generator")
        if z.shape != (pose.shape[0], self.nz):
            raise ValueError(f"LGN generator: code must be ({pose.shape[0]}, {self.nz}), got {tuple(z.shape)}")
        if self.limb_width > 0:
            pose = torch.cat([pose, limb_maps(pose, self.limb_width * min(pose.shape[-2:]) / 256)], dim=1)
        return self.net(pose, z)

    def sample_code(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(batch, nz) codes from the prior N(0, I) on this module's device."""
        return sample_code(batch, self.nz, generator, next(self.parameters()).device)


def part_tensors(layout: torch.Tensor) -> torch.Tensor:
    """Layout probabilities or one-hot (B, 20, H, W) → part tensors (B, 3, 4, H, W), parts in LGN_PARTS order.

    Each part = its three class maps + the edge of their union (union − 3×3 erosion by max-pooling), all
    differentiable in the input so gradients reach whoever produced the layout.
    """
    parts = []
    for classes in LGN_PARTS.values():
        masks = layout[:, list(classes)]
        union = masks.sum(dim=1, keepdim=True).clamp(max=1.0)
        eroded = -F.max_pool2d(-union, 3, stride=1, padding=1)
        parts.append(torch.cat([masks, union - eroded], dim=1))
    return torch.stack(parts, dim=1)


class _DownResBlock(nn.Module):
    """norm → LReLU → conv3 → norm → LReLU → conv3 → avgpool2, plus avgpool2 → conv1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int, norm: Norm):
        super().__init__()
        self.body = nn.Sequential(
            make_norm(norm, in_ch), nn.LeakyReLU(0.2), nn.Conv2d(in_ch, in_ch, 3, padding=1, bias=norm == "none"),
            make_norm(norm, in_ch), nn.LeakyReLU(0.2), nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.AvgPool2d(2),
        )
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(in_ch, out_ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class PartEncoder(nn.Module):
    """One encoder shared by the three parts: part tensors → per-part (mu, logvar), concatenated.

    `encode_parts(layout (B, 20, H, W) soft or one-hot)` → (mu, logvar), each (B, 3·nz_per_part), parts in
    LGN_PARTS order. H and W must be multiples of 2^(encoder_blocks + 1).
    """

    def __init__(self, cfg: LGNNetConfig):
        super().__init__()
        widths = [cfg.nef * m for m in (1, 2, 3, 4)] + [cfg.nef * 4] * max(0, cfg.encoder_blocks - 3)
        layers: list[nn.Module] = [nn.Conv2d(PART_CHANNELS, widths[0], 4, 2, 1)]
        for i in range(cfg.encoder_blocks):
            layers.append(_DownResBlock(widths[i], widths[i + 1], cfg.norm))
        layers += [nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.mu = nn.Linear(widths[cfg.encoder_blocks], cfg.nz_per_part)
        self.logvar = nn.Linear(widths[cfg.encoder_blocks], cfg.nz_per_part)
        self.blocks = cfg.encoder_blocks

    def forward(self, parts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, P, 4, H, W) part tensors → (mu, logvar), each (B, P·nz_per_part)."""
        batch, count = parts.shape[:2]
        for side in parts.shape[-2:]:
            check_divisible(side, 2 ** (self.blocks + 1), "LGN part encoder")
        features = self.body(parts.flatten(0, 1))
        return self.mu(features).view(batch, -1), self.logvar(features).view(batch, -1)

    def encode_parts(self, layout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self(part_tensors(layout))


def sample_code(batch: int, nz: int, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> torch.Tensor:
    """Random codes from the prior N(0, I): (batch, nz)."""
    return torch.randn(batch, nz, generator=generator, device=device)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + σ·ε with ε ~ N(0, I) (the original drew ε from N(−1, 2²))."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class LayoutDiscriminator(ConditionalDiscriminator):
    """Multi-scale PatchGAN on layouts (B, 20, H, W) (probabilities or one-hot), optionally conditioned on the
    pose maps (B, 18, H, W)."""

    def __init__(self, cfg):
        super().__init__("LGN discriminator", NUM_CLASSES, NUM_KEYPOINTS, cfg.d_conditional, cfg.ndf, cfg.d_layers,
                         cfg.d_scales, cfg.d_norm, cfg.d_spectral, cfg.d_halve_ndf_per_scale)


def build_lgn_generator(cfg: LGNNetConfig, resolution: int) -> LayoutGenerator:
    return init_weights(LayoutGenerator(cfg, resolution), cfg.init, cfg.init_gain)


def build_lgn_encoder(cfg: LGNNetConfig) -> PartEncoder:
    return init_weights(PartEncoder(cfg), cfg.init, cfg.init_gain)


def build_lgn_discriminator(cfg: LGNNetConfig) -> LayoutDiscriminator:
    return init_weights(LayoutDiscriminator(cfg), cfg.init, cfg.init_gain)
