"""AFN networks: source image + source layout + target layout → target view, with multi-scale appearance flow,
and its discriminator (the original's AFN; our changes: docs/DESIGN.md, "Where we differ from the original").

Two columns as in the original: a layout column (U-Net over source and target layouts, optionally the target
pose) that predicts flows and visibility, and an image column that encodes the source, backward-warps its
features with the flows and decodes the target. Unlike the original, flows are refined coarse → fine (each scale
= 2× the upsampled coarser flow + a predicted residual) and a visibility mask per scale blends warped appearance
with generated content. With `pixel_blend` (default) a last full-resolution mask blends the source *pixels*, warped
by the finest flow, with the decoded image: at initialisation the output already carries half the source's
appearance. With `colour_prior` (default) the decoded image is a residual (before its tanh) over a colour prior:
each group's mean source colour painted into the target layout, so a view the source does not show (the back of
a front view) starts from the garment's colour rather than from grey. Without the two, 200 CPU steps gave
dark-grey body silhouettes whatever the source's colours. Warping is `grid_sample` with align_corners=False;
no custom CUDA op.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from paint.data.keypoints import NUM_KEYPOINTS
from paint.data.labels import AFN_BACKGROUND_GROUP, AFN_GROUPS, GARMENT_CLASSES, NUM_AFN_GROUPS
from paint.models.blocks import (ConditionalDiscriminator, ConvBlock, Init, Norm, ResBlock, check_divisible,
                                 init_weights, prior_logits, tile_patch)


# AFN groups made of garments (upper-clothes and coat; dress, pants and skirt): the ones the texture prior tiles.
AFN_GARMENT_GROUPS = tuple(i for i, classes in enumerate(AFN_GROUPS) if set(classes) <= set(GARMENT_CLASSES))


@dataclass
class AFNNetConfig:
    """AFN network sizes. Defaults are the original's (`paper`: dim 64, 2 residual blocks, flows at 1/8, 1/4,
    1/2 of the image — 32, 64, 128 px at 256)."""
    dim: int = 64                    # level k width: dim·2^k / 2 capped at dim·max_mult (32 … 512 at paper)
    max_mult: int = 8
    num_downs: int = 4               # encoder levels; inputs must be multiples of 2^num_downs
    flow_scales: int = 3             # flows at levels num_downs−1 … num_downs−flow_scales (≥ 3 recommended)
    res_blocks: int = 2              # residual blocks per decoder level of the image column
    use_target_pose: bool = False    # layout column also sees the target pose maps (18 ch)
    norm: Norm = "instance"          # image column
    flow_norm: Norm = "none"         # layout column (the original used none)
    padding_mode: Literal["zeros", "reflect"] = "reflect"
    warp_padding: Literal["zeros", "border"] = "zeros"  # what warping samples outside the source
    pixel_blend: bool = True         # output = mask · warped source pixels + (1 − mask) · decoded image
    colour_prior: bool = True        # decoded image = residual over each group's mean source colour (target layout)
    texture_prior: bool = True       # ... over mean + gate·(the source garment tiled over the target's − mean)
    texture_gate_bias: float = -4.0  # pre-sigmoid offset of that gate: ≈ 0.02 at step 0, so training must open it
    ndf: int = 64
    d_layers: int = 3
    d_scales: int = 1
    d_conditional: bool = True       # discriminator also sees the target layout (9 groups)
    d_norm: Norm = "instance"
    d_spectral: bool = False
    init: Init = "normal"
    init_gain: float = 0.02

    @classmethod
    def paper(cls) -> "AFNNetConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "AFNNetConfig":
        return cls(dim=16, max_mult=4, num_downs=3, flow_scales=3, res_blocks=1, ndf=8, d_layers=2)

    def width(self, level: int) -> int:
        return min(self.dim * 2 ** level // 2, self.dim * self.max_mult)

    @property
    def flow_levels(self) -> list[int]:
        """Levels that carry a flow, coarse first."""
        return list(range(self.num_downs - 1, self.num_downs - 1 - self.flow_scales, -1))


class AFNOutput(NamedTuple):
    image: torch.Tensor              # (B, 3, H, W) in [-1, 1]
    flows: list[torch.Tensor]        # coarse → fine, (B, 2, h, w) in pixels of that scale; 0 = x, 1 = y
    visibility: list[torch.Tensor]   # coarse → fine, (B, 1, h, w) in (0, 1): 1 = take the warped source
    warped: torch.Tensor             # (B, 3, H, W): the source image warped by the finest flow (for losses/visuals)
    blend: torch.Tensor | None       # (B, 1, H, W) in (0, 1): 1 = output the warped source pixel (pixel_blend)


def warp(features: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Backward warp: out[:, :, y, x] = features sampled bilinearly at (x + flow_x, y + flow_y).

    features (B, C, H, W); flow (B, 2, H, W) in pixels, channel 0 = x, 1 = y. Pixel centres are at integer
    coordinates, matching grid_sample(align_corners=False). Zero flow returns the input; positions outside
    the source read zeros (or the border, with padding_mode='border').
    """
    if flow.shape[-2:] != features.shape[-2:] or flow.shape[1] != 2:
        raise ValueError(f"warp: flow {tuple(flow.shape)} does not fit features {tuple(features.shape)}")
    _, _, height, width = features.shape
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device).view(1, height, 1)
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, 1, width)
    grid_x = (2 * (xs + flow[:, 0]) + 1) / width - 1
    grid_y = (2 * (ys + flow[:, 1]) + 1) / height - 1
    grid = torch.stack([grid_x, grid_y], dim=-1)
    return F.grid_sample(features, grid.to(features.dtype), mode="bilinear", padding_mode=padding_mode,
                         align_corners=False)


def upsample_flow(flow: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Flow (B, 2, h, w) in pixels → (B, 2, h·factor, w·factor) in pixels of the finer scale."""
    if factor == 1:
        return flow
    return F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=False) * factor


def _encoder(in_ch: int, cfg: AFNNetConfig, norm: Norm) -> nn.ModuleList:
    """Level 0: 7×7 conv at full size; level k: 4×4 stride-2 conv + 3×3 conv. Returns one module per level."""
    pad = cfg.padding_mode
    return nn.ModuleList(
        ConvBlock(in_ch, cfg.width(0), 7, norm=norm, padding_mode=pad) if k == 0 else nn.Sequential(
            ConvBlock(cfg.width(k - 1), cfg.width(k), 4, 2, 1, norm=norm, padding_mode=pad),
            ConvBlock(cfg.width(k), cfg.width(k), 3, norm=norm, padding_mode=pad))
        for k in range(cfg.num_downs + 1)
    )


def _run(levels: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    features = []
    for level in levels:
        x = level(x)
        features.append(x)
    return features


def size_multiple(cfg: AFNNetConfig) -> int:
    """Input sides must be multiples of this (one halving per encoder level)."""
    return 2 ** cfg.num_downs


class FlowGenerator(nn.Module):
    """forward(source_image (B, 3, H, W) in [-1, 1], source_layout (B, 9, H, W), target_layout (B, 9, H, W),
    target_pose (B, 18, H, W) or None) → AFNOutput. Layouts are AFN's 9 merged groups (labels.afn_groups)."""

    def __init__(self, cfg: AFNNetConfig):
        super().__init__()
        if not 1 <= cfg.flow_scales <= cfg.num_downs:
            raise ValueError(f"AFN: flow_scales must be within 1..num_downs ({cfg.num_downs}), "
                             f"got {cfg.flow_scales}")
        self.cfg = cfg
        w, pad = cfg.width, cfg.padding_mode
        layout_in = 2 * NUM_AFN_GROUPS + (NUM_KEYPOINTS if cfg.use_target_pose else 0)
        self.layout_encoder = _encoder(layout_in, cfg, cfg.flow_norm)
        self.image_encoder = _encoder(3, cfg, cfg.norm)
        levels = range(cfg.num_downs - 1, -1, -1)
        self.layout_decoder = nn.ModuleDict({str(k): nn.Sequential(
            ConvBlock(w(k + 1) + w(k), w(k), 3, norm=cfg.flow_norm, padding_mode=pad),
            ConvBlock(w(k), w(k), 3, norm=cfg.flow_norm, padding_mode=pad)) for k in levels})
        # Flow head input: layout features + source features warped by the upsampled coarser flow.
        self.flow_heads = nn.ModuleDict({str(k): nn.Sequential(
            ConvBlock(2 * w(k), w(k), 3, norm="none", act="lrelu", padding_mode=pad),
            nn.Conv2d(w(k), 3, 3, padding=1)) for k in cfg.flow_levels})
        n = cfg.num_downs
        self.bottleneck = nn.Sequential(ConvBlock(2 * w(n), w(n), 3, norm=cfg.norm, padding_mode=pad),
                                        *[ResBlock(w(n), cfg.norm, padding_mode=pad) for _ in range(cfg.res_blocks)])
        self.merge = nn.ModuleDict({str(k): ConvBlock(w(k + 1) + w(k), w(k), 3, norm=cfg.norm, padding_mode=pad)
                                    for k in levels})
        self.refine = nn.ModuleDict({str(k): nn.Sequential(
            *[ResBlock(w(k), cfg.norm, padding_mode=pad) for _ in range(cfg.res_blocks)]) for k in levels})
        self.to_rgb = nn.Conv2d(w(0), 3, 3, padding=1, padding_mode=pad)
        self.to_blend = nn.Conv2d(w(0), 1, 3, padding=1, padding_mode=pad) if cfg.pixel_blend else None
        self.texture_gate = nn.Conv2d(w(0), 1, 3, padding=1, padding_mode=pad) if cfg.texture_prior else None

    def forward(self, source_image: torch.Tensor, source_layout: torch.Tensor, target_layout: torch.Tensor,
                target_pose: torch.Tensor | None = None) -> AFNOutput:
        cfg = self.cfg
        for side in source_image.shape[-2:]:
            check_divisible(side, size_multiple(cfg), "AFN generator")
        layout_in = [source_layout, target_layout]
        if cfg.use_target_pose:
            if target_pose is None:
                raise ValueError("AFN generator uses the target pose (use_target_pose=true): pass target_pose")
            layout_in.append(target_pose)
        f = _run(self.layout_encoder, torch.cat(layout_in, dim=1))
        e = _run(self.image_encoder, source_image)
        n = cfg.num_downs
        u = f[n]
        x = self.bottleneck(torch.cat([e[n], f[n]], dim=1))
        flows, visibility, flow = [], [], None
        for k in range(n - 1, -1, -1):
            u = self.layout_decoder[str(k)](torch.cat([_up(u), f[k]], dim=1))
            x = self.merge[str(k)](torch.cat([_up(x), u], dim=1))
            if str(k) in self.flow_heads:
                prior = torch.zeros_like(u[:, :2]) if flow is None else upsample_flow(flow)
                head = self.flow_heads[str(k)](torch.cat([u, warp(e[k], prior, cfg.warp_padding)], dim=1))
                flow = prior + head[:, :2]
                vis = torch.sigmoid(head[:, 2:])
                x = vis * warp(e[k], flow, cfg.warp_padding) + (1 - vis) * x
                flows.append(flow)
                visibility.append(vis)
            x = self.refine[str(k)](x)
        logits = self.to_rgb(x)
        if cfg.colour_prior or self.texture_gate is not None:
            prior = region_colours(source_image, source_layout, target_layout) if cfg.colour_prior \
                else torch.zeros_like(source_image)
            if self.texture_gate is not None:
                gate = torch.sigmoid(self.texture_gate(x) + cfg.texture_gate_bias)
                prior = prior + gate * (garment_textures(source_image, source_layout, target_layout, prior) - prior)
            logits = logits + prior_logits(prior)
        image = torch.tanh(logits)
        finest = cfg.flow_levels[-1]
        warped = warp(source_image, upsample_flow(flow, 2 ** finest), cfg.warp_padding)
        blend = None
        if self.to_blend is not None:
            blend = torch.sigmoid(self.to_blend(x))
            image = blend * warped + (1 - blend) * image
        return AFNOutput(image, flows, visibility, warped, blend)


def region_colours(image: torch.Tensor, source_groups: torch.Tensor, target_groups: torch.Tensor) -> torch.Tensor:
    """Each group's mean source colour painted into the target layout.

    image (B, 3, H, W); source_groups, target_groups (B, G, H, W) one-hot group masks (all-zero = ignore).
    A group the source lacks takes the mean of the source's whole person (everything but the background);
    ignored target pixels get 0. Returns (B, 3, H, W).
    """
    area = source_groups.sum((2, 3))                                          # (B, G)
    sums = torch.einsum("bchw,bghw->bgc", image, source_groups)
    person = source_groups.sum(1, keepdim=True) - source_groups[:, AFN_BACKGROUND_GROUP:AFN_BACKGROUND_GROUP + 1]
    person_mean = (image * person).sum((2, 3)) / person.sum((2, 3)).clamp(min=1)       # (B, 3)
    means = torch.where(area.unsqueeze(-1) > 0, sums / area.clamp(min=1).unsqueeze(-1), person_mean.unsqueeze(1))
    return torch.einsum("bgc,bghw->bchw", means, target_groups)


def garment_textures(image: torch.Tensor, source_groups: torch.Tensor, target_groups: torch.Tensor,
                     fill: torch.Tensor) -> torch.Tensor:
    """Each garment group's source pixels (its bounding box; other pixels in it: their mean) tiled over that
    group's target region from its corner; `fill` (B, 3, H, W) wherever a garment group is absent from either
    layout and outside the garments. A loop over B × garment groups: each has its own boxes, and both are small.
    Why: the colour prior alone is flat, so other views lost the garment's pattern (stripes came out flat)."""
    out = fill.clone()
    for b in range(image.shape[0]):
        for group in AFN_GARMENT_GROUPS:
            target = target_groups[b, group] > 0.5
            tiled = tile_patch(image[b], source_groups[b, group] > 0.5, target)
            if tiled is not None:
                out[b] = torch.where(target, tiled, out[b])
    return out


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class AFNDiscriminator(ConditionalDiscriminator):
    """PatchGAN on target views (B, 3, H, W), conditioned on the target layout (B, 9, H, W) by default."""

    def __init__(self, cfg):
        super().__init__("AFN discriminator", 3, NUM_AFN_GROUPS, cfg.d_conditional, cfg.ndf, cfg.d_layers, cfg.d_scales,
                         cfg.d_norm, cfg.d_spectral)


def build_afn_generator(cfg: AFNNetConfig) -> FlowGenerator:
    return init_weights(FlowGenerator(cfg), cfg.init, cfg.init_gain)


def build_afn_discriminator(cfg: AFNNetConfig) -> AFNDiscriminator:
    return init_weights(AFNDiscriminator(cfg), cfg.init, cfg.init_gain)
