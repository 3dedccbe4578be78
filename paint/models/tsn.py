"""TSN networks: one-hot layout + a texture patch per garment region → RGB design, and its discriminator
(the original's TSN; our changes: docs/DESIGN.md, "Where we differ from the original").

Attentive texture transfer, coarse → fine: a partial-conv patch encoder gives patch features and validity masks
at several scales; a layout encoder gives per-pixel queries. At attention level k the queries of one garment
region attend to THAT region's valid patch positions at level k (masked softmax), and the attention weights copy
2×2 blocks of the patch features one level finer (the PEN-Net idea: match coarse, paste fine). A SPADE decoder
conditioned on the layout renders the image.

Region independence: convolutions leak across region borders, so the texture-dependent decoder runs once per
region with only that region's texture (regions folded into the batch) plus once with no texture, and the final
image takes each region's pixels from its own rendering (the rest from the texture-free one). A region's pixels
therefore never depend on another region's patch. Norms are per sample (instance) for the same reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from paint.data.labels import GARMENT_GROUPS, NUM_CLASSES
from paint.models.blocks import (ConditionalDiscriminator, ConvBlock, Init, Norm, PartialConv2d, SPADEResBlock,
                                 check_divisible, init_weights, masked_attention, masked_instance_norm,
                                 prior_logits, tile_patch)

REGIONS: tuple[str, ...] = tuple(GARMENT_GROUPS)  # ('top', 'bottom'): rendering passes 1..R, pass 0 = none


@dataclass
class TSNNetConfig:
    """TSN network sizes. Defaults follow the original (`paper`: cnum 32, six levels, SPADE hidden 128)."""
    cnum: int = 32                   # width at full resolution and level 1; level k ≥ 1 has cnum·2^(k−1)
    max_mult: int = 16               # width cap cnum·max_mult (original 512)
    num_downs: int = 6               # layout encoder levels; inputs must be multiples of 2^num_downs
    attn_levels: int = 4             # attention scales, coarse → fine
    attn_finest_level: int = 2       # finest level where queries meet keys (H/4: 64² queries at 256)
    attn_dim: int = 64               # query/key projection size
    spade_hidden: int = 128
    norm: Literal["instance", "none"] = "instance"  # per-sample only: batch norm would mix regions' passes
    spectral: bool = False           # spectral norm in the generator's decoder
    colour_prior: bool = True        # a region's rendering = residual (before its tanh) over its patch's mean colour
    texture_prior: bool = True       # ... over mean + gate·(patch tiled over the region − mean), the gate learnt
    texture_gate_bias: float = -4.0  # pre-sigmoid offset of that gate: ≈ 0.02 at step 0, so training must open it
    ndf: int = 64
    d_layers: int = 3
    d_scales: int = 2
    d_conditional: bool = True       # discriminator also sees the one-hot layout
    d_norm: Norm = "instance"
    d_spectral: bool = False
    init: Init = "normal"
    init_gain: float = 0.02

    @classmethod
    def paper(cls) -> "TSNNetConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "TSNNetConfig":
        return cls(cnum=8, max_mult=4, num_downs=4, attn_levels=3, attn_finest_level=1, attn_dim=16,
                   spade_hidden=16, ndf=8, d_layers=2)

    def width(self, level: int) -> int:
        return self.cnum * min(2 ** max(level - 1, 0), self.max_mult)

    @property
    def attention_levels(self) -> list[int]:
        """Levels where attention weights are computed, coarse first; each pastes features one level finer."""
        return list(range(self.attn_finest_level + self.attn_levels - 1, self.attn_finest_level - 1, -1))


def region_masks(layout: torch.Tensor) -> torch.Tensor:
    """One-hot or soft layout (B, 20, H, W) → garment region masks (B, R, H, W), regions in REGIONS order."""
    return torch.stack([layout[:, list(GARMENT_GROUPS[r])].sum(dim=1) for r in REGIONS], dim=1).clamp(0, 1)


def stacked_region_masks(layout: torch.Tensor) -> torch.Tensor:
    """Layout (B, 20, H, W) → garment region masks stacked like the canvases: (R·B, 1, H, W), region-major."""
    return region_masks(layout).transpose(0, 1).flatten(0, 1)[:, None]


def _pool_mask(mask: torch.Tensor, level: int) -> torch.Tensor:
    """Mask (N, 1, H, W) → level `level` (÷2^level): a cell counts if any of its pixels does."""
    return F.max_pool2d(mask, 2 ** level) if level else mask


def _mean_colour(canvas: torch.Tensor, valid: torch.Tensor, level: int) -> torch.Tensor:
    """Mean colour of the valid canvas pixels in each cell of level `level`: (N, 3, P/2^level, P/2^level)."""
    if level == 0:
        return canvas * valid
    size = 2 ** level
    share = F.avg_pool2d(valid, size)
    return F.avg_pool2d(canvas * valid, size) / share.clamp_min(1e-6) * (share > 0)


class PatchEncoder(nn.Module):
    """Partial-conv encoder of texture canvases: (N, 3, P, P) in [-1, 1] + validity (N, 1, P, P) →
    per level 0..depth features (N, C_k, P/2^k, P/2^k) (zero where invalid) and masks (N, 1, …)."""

    def __init__(self, cfg: TSNNetConfig, depth: int):
        super().__init__()
        self.norm = cfg.norm
        self.convs = nn.ModuleList(
            PartialConv2d(3 if k == 0 else cfg.width(k - 1), cfg.width(k), 3, stride=1 if k == 0 else 2)
            for k in range(depth + 1)
        )

    def forward(self, canvas: torch.Tensor, valid: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        features, masks = [], []
        x, mask = canvas, valid
        for conv in self.convs:
            x, mask = conv(x, mask)
            x = masked_instance_norm(x, mask) if self.norm == "instance" else x
            x = F.relu(x) * mask
            features.append(x)
            masks.append(mask)
        return features, masks


class TextureAttention(nn.Module):
    """One attention level k: region queries at level k attend to valid patch keys at level k; the weights
    copy 2×2 blocks of level-(k−1) patch features, giving texture features at level k−1."""

    def __init__(self, query_ch: int, key_ch: int, value_ch: int, dim: int):
        super().__init__()
        self.query = nn.Conv2d(query_ch, dim, 1)
        self.key = nn.Conv2d(key_ch, dim, 1)
        # The values carry the patch's mean colour too (+3 channels): the patch encoder's instance norm removes
        # a patch's overall colour, which the design must keep.
        self.fuse = nn.Sequential(nn.Conv2d(value_ch + 3, value_ch, 3, padding=1), nn.ReLU())

    def forward(self, queries: torch.Tensor, query_mask: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor,
                values_fine: torch.Tensor) -> torch.Tensor:
        """queries (N, Cq, h, w), query_mask (N, 1, h, w), keys (N, Ck, h', w'), key_mask (N, 1, h', w'),
        values_fine (N, Cv + 3, 2h', 2w') (features + mean patch colour) → (N, Cv, 2h, 2w)."""
        n, _, h, w = queries.shape
        q = self.query(queries).flatten(2).transpose(1, 2)
        k = self.key(keys).flatten(2).transpose(1, 2)
        v = F.pixel_unshuffle(values_fine, 2).flatten(2).transpose(1, 2)
        out = masked_attention(q, k, v, key_mask.flatten(1) > 0.5, query_mask.flatten(1) > 0.5)
        out = F.pixel_shuffle(out.transpose(1, 2).reshape(n, -1, h, w), 2)
        return self.fuse(out)


def size_multiple(cfg: TSNNetConfig) -> int:
    """Input sides must be multiples of this (one halving per layout encoder level)."""
    return 2 ** cfg.num_downs


class TextureGenerator(nn.Module):
    """forward(layout (B, 20, H, W) one-hot, patches {region: (B, 3, P, P) in [-1, 1]},
    masks {region: (B, 1, P, P) {0, 1}}) → design (B, 3, H, W) in [-1, 1].

    Regions are REGIONS ('top', 'bottom'); a missing key or an all-zero mask means no patch for that region.
    Canvases of any size P ≥ 1 (zero-padded internally to a multiple of 2^coarsest attention level); H, W
    multiples of 2^num_downs.
    """

    def __init__(self, cfg: TSNNetConfig):
        super().__init__()
        levels = cfg.attention_levels
        if not levels or cfg.attn_finest_level < 1 or levels[0] > cfg.num_downs:
            raise ValueError("TSN: need attn_levels ≥ 1 within levels 1..num_downs "
                             f"(attn_finest_level={cfg.attn_finest_level}, attn_levels={cfg.attn_levels}, "
                             f"num_downs={cfg.num_downs})")
        self.cfg, self.levels = cfg, levels
        w = cfg.width
        self.layout_encoder = nn.ModuleList(
            ConvBlock(NUM_CLASSES, w(0), 3, norm=cfg.norm) if k == 0
            else ConvBlock(w(k - 1), w(k), 4, 2, 1, norm=cfg.norm)
            for k in range(cfg.num_downs + 1)
        )
        self.patch_encoder = PatchEncoder(cfg, levels[0])
        # Queries at level k see the layout features and the texture pasted by the coarser level (if any).
        self.attention = nn.ModuleDict({
            str(k): TextureAttention(w(k) + (w(k) if i else 0), w(k), w(k - 1), cfg.attn_dim)
            for i, k in enumerate(levels)
        })
        textured = {k - 1 for k in levels}
        self.decoder = nn.ModuleList(
            SPADEResBlock(w(min(l + 1, cfg.num_downs)) + (w(l) if l in textured else 0), w(l), NUM_CLASSES,
                          cfg.spade_hidden, cfg.norm, cfg.spectral)
            for l in range(cfg.num_downs + 1)
        )
        self.to_rgb = nn.Conv2d(w(0), 3, 3, padding=1)
        self.texture_gate = nn.Conv2d(w(0), 1, 3, padding=1) if cfg.texture_prior else None

    def _canvases(self, patches: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], batch: int,
                  like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the regions' canvases as (R·B, …) in (region, sample) order, padded to a common side."""
        unknown = set(patches) ^ set(masks) | (set(patches) - set(REGIONS))
        if unknown:
            raise ValueError(f"TSN: patches and masks need the same region keys among {REGIONS}, got "
                             f"{sorted(patches)} and {sorted(masks)}")
        step = 2 ** self.levels[0]
        side = max([max(patches[r].shape[-2:]) for r in patches] + [step])
        side = -(-side // step) * step
        canvas = like.new_zeros(len(REGIONS), batch, 3, side, side)
        valid = like.new_zeros(len(REGIONS), batch, 1, side, side)
        for i, region in enumerate(REGIONS):
            if region in patches:
                image, mask = patches[region], masks[region]
                h, w = image.shape[-2:]
                valid[i, :, :, :h, :w] = mask
                canvas[i, :, :, :h, :w] = image * mask
        return canvas.flatten(0, 1), valid.flatten(0, 1)

    def textures(self, layout_features: list[torch.Tensor], canvas: torch.Tensor, valid: torch.Tensor,
                 regions: torch.Tensor) -> dict[int, torch.Tensor]:
        """Attended texture features per decoder level: {level: (R·B, C_level, H/2^level, W/2^level)}, from the
        regions' canvases and validity masks (R·B, 3 | 1, P, P) as `_canvases` stacks them and the region masks
        in the same order (`stacked_region_masks`)."""
        count = len(REGIONS)
        patch_features, patch_masks = self.patch_encoder(canvas, valid)
        textures: dict[int, torch.Tensor] = {}
        previous = None
        for k in self.levels:
            queries = layout_features[k].repeat(count, 1, 1, 1)
            if previous is not None:
                queries = torch.cat([queries, previous], dim=1)
            values = torch.cat([patch_features[k - 1], _mean_colour(canvas, valid, k - 1)], dim=1)
            pasted = self.attention[str(k)](queries, _pool_mask(regions, k), patch_features[k], patch_masks[k],
                                            values)
            previous = textures[k - 1] = pasted * _pool_mask(regions, k - 1)
        return textures

    def render(self, layout: torch.Tensor, patches: Mapping[str, torch.Tensor],
               masks: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """All renderings: (R+1, B, 3, H, W) in [-1, 1]; pass 0 has no texture, pass i has region i's only."""
        batch, count = layout.shape[0], len(REGIONS)
        for side in layout.shape[-2:]:
            check_divisible(side, size_multiple(self.cfg), "TSN generator")
        features = []
        x = layout
        for block in self.layout_encoder:
            x = block(x)
            features.append(x)
        canvas, valid = self._canvases(patches, masks, batch, layout)
        regions = stacked_region_masks(layout)
        textures = self.textures(features, canvas, valid, regions)
        x = features[-1]
        for level in reversed(range(self.cfg.num_downs + 1)):
            if level in textures:
                if x.shape[0] == batch:  # layers before the first texture are shared by all passes
                    x = x.repeat(count + 1, 1, 1, 1)
                texture = textures[level]
                x = torch.cat([x, torch.cat([texture.new_zeros(batch, *texture.shape[1:]), texture])], dim=1)
            x = self.decoder[level](x, layout)
            if level:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        logits = self.to_rgb(x)  # attention_levels is never empty, so every pass is here
        if self.cfg.colour_prior or self.texture_gate is not None:
            prior = patch_colour_prior(canvas, valid, regions) if self.cfg.colour_prior else x.new_zeros(
                x.shape[0], 3, *x.shape[-2:])
            if self.texture_gate is not None:
                gate = torch.sigmoid(self.texture_gate(x) + self.cfg.texture_gate_bias)
                prior = prior + gate * (tiled_patches(canvas, valid, regions) - prior)
            logits = logits + prior_logits(prior)
        rgb = torch.tanh(logits)
        return rgb.view(count + 1, batch, *rgb.shape[1:])

    def forward(self, layout: torch.Tensor, patches: Mapping[str, torch.Tensor],
                masks: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return composite(self.render(layout, patches, masks), layout)


def patch_colour_prior(canvas: torch.Tensor, valid: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Each region's patch mean colour painted into that region (`stacked_region_masks` order), for every
    rendering pass: (R+1)·B × 3 × H × W, pass 0 (no texture) all 0. Why: the decoder's instance norms wash out a
    patch's overall colour, and short runs rendered every garment grey; a residual over the mean keeps it."""
    batch = regions.shape[0] // len(REGIONS)
    means = (canvas * valid).sum((2, 3)) / valid.sum((2, 3)).clamp_min(1)          # (R·B, 3); no patch → 0
    prior = means[:, :, None, None] * regions
    return torch.cat([prior.new_zeros(batch, *prior.shape[1:]), prior])


def tiled_patches(canvas: torch.Tensor, valid: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """`tile_patch` for every stacked canvas (R·B, 3, P, P) + validity (R·B, 1, P, P) and region mask
    (R·B, 1, H, W), as rendering passes: ((R+1)·B, 3, H, W), pass 0 and passes without a patch all 0. A loop over
    the R·B canvases: each has its own crop and region box, and R·B is small."""
    batch = regions.shape[0] // len(REGIONS)
    tiles = regions.new_zeros(regions.shape[0] + batch, 3, *regions.shape[-2:])
    for i in range(regions.shape[0]):
        tile = tile_patch(canvas[i], valid[i, 0] > 0.5, regions[i, 0] > 0.5)
        if tile is not None:
            tiles[batch + i] = tile
    return tiles


def composite(renderings: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
    """(R+1, B, 3, H, W) renderings + layout (B, 20, H, W) → (B, 3, H, W): each garment region from its own
    pass, everything else from the texture-free pass 0."""
    regions = region_masks(layout).transpose(0, 1)[:, :, None]  # (R, B, 1, H, W)
    rest = (1 - regions.sum(dim=0, keepdim=True)).clamp(0, 1)
    return (torch.cat([rest, regions]) * renderings).sum(dim=0)


class TSNDiscriminator(ConditionalDiscriminator):
    """Multi-scale PatchGAN on designs (B, 3, H, W), optionally conditioned on the layout (B, 20, H, W)."""

    def __init__(self, cfg):
        super().__init__("TSN discriminator", 3, NUM_CLASSES, cfg.d_conditional, cfg.ndf, cfg.d_layers, cfg.d_scales,
                         cfg.d_norm, cfg.d_spectral)


def build_tsn_generator(cfg: TSNNetConfig) -> TextureGenerator:
    return init_weights(TextureGenerator(cfg), cfg.init, cfg.init_gain)


def build_tsn_discriminator(cfg: TSNNetConfig) -> TSNDiscriminator:
    return init_weights(TSNDiscriminator(cfg), cfg.init, cfg.init_gain)
