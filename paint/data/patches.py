"""Texture patches for TSN: sample a patch from a garment region, and place a patch of any size on a canvas.

A patch is a rectangle of image pixels (any size, from a few pixels up to the whole region, square or not) with a
validity mask: only pixels of the garment region count as texture. TSN receives a fixed-size canvas with the patch
centred on it plus the validity mask, so a batch can hold patches of different sizes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image


@dataclass
class Patch:
    pixels: np.ndarray           # (h, w, 3) uint8
    valid: np.ndarray            # (h, w) bool: texture pixels (inside the garment region)
    box: tuple[int, int, int, int]  # (top, left, height, width) in the source image


def region_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (top, left, height, width) of a boolean mask, or None when it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def crop_patch(image: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> Patch:
    """Cut `box` = (top, left, height, width) out of an (H, W, 3) image and its (H, W) region mask."""
    top, left, height, width = box
    window = (slice(top, top + height), slice(left, left + width))
    return Patch(pixels=image[window].copy(), valid=mask[window].copy(), box=box)


def sample_patch(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, min_frac: float = 0.2,
                 max_frac: float = 1.0, min_side: int = 3, min_valid: float = 0.6, tries: int = 8) -> Patch | None:
    """Random patch of a garment region, or None when the region is empty.

    Height and width are drawn independently as fractions in [min_frac, max_frac] of the region's bounding box
    (at least `min_side` pixels), so patches range from a few pixels to the whole region and need not be square.
    The box lies inside the region's bounding box; of `tries` draws the first whose valid fraction reaches
    `min_valid` is kept, else the draw with the largest valid fraction.
    """
    bbox = region_box(mask)
    if bbox is None:
        return None
    top0, left0, bh, bw = bbox
    best, best_fraction = None, -1.0
    for _ in range(tries):
        height = int(np.clip(round(bh * rng.uniform(min_frac, max_frac)), min(min_side, bh), bh))
        width = int(np.clip(round(bw * rng.uniform(min_frac, max_frac)), min(min_side, bw), bw))
        top = top0 + int(rng.integers(0, bh - height + 1))
        left = left0 + int(rng.integers(0, bw - width + 1))
        patch = crop_patch(image, mask, (top, left, height, width))
        fraction = float(patch.valid.mean())
        if fraction >= min_valid:
            return patch
        if fraction > best_fraction:
            best, best_fraction = patch, fraction
    return best


def fit_within(pixels: np.ndarray, valid: np.ndarray, canvas: int) -> tuple[np.ndarray, np.ndarray]:
    """Shrink a patch (aspect kept, antialiased) so both sides are ≤ canvas; smaller patches are unchanged."""
    height, width = valid.shape
    scale = min(1.0, canvas / height, canvas / width)
    if scale >= 1.0:
        return pixels, valid
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))
    small_valid = np.asarray(Image.fromarray(valid.astype(np.uint8) * 255).resize(size, Image.Resampling.BOX))
    return small, small_valid >= 128


def place_patch(patch: Patch | None, canvas: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch → ((3, canvas, canvas) float in [-1, 1], (1, canvas, canvas) float {0, 1} validity mask).

    The patch is centred on the canvas (shrunk first if it does not fit); invalid and empty positions are 0 in
    both tensors. A missing patch (None) gives an all-zero canvas and mask.
    """
    image = torch.zeros(3, canvas, canvas)
    valid_mask = torch.zeros(1, canvas, canvas)
    if patch is None or not patch.valid.any():
        return image, valid_mask
    pixels, valid = fit_within(patch.pixels, patch.valid, canvas)
    height, width = valid.shape
    top, left = (canvas - height) // 2, (canvas - width) // 2
    valid_t = torch.from_numpy(valid.astype(np.float32))
    pixels_t = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1.0
    image[:, top:top + height, left:left + width] = pixels_t * valid_t
    valid_mask[0, top:top + height, left:left + width] = valid_t
    return image, valid_mask
