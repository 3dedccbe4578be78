"""Image value ranges in one place: the models and data streams work in [-1, 1]; pictures for people are [0, 1]
floats (grids, TensorBoard) or uint8 (PNG files, galleries, patch sampling).

uint8 levels are round-half-to-even of value × 255 after clamping, so a uint8 image read by the data stream
(x / 127.5 − 1) comes back bit for bit."""
from __future__ import annotations

import torch


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images → float32 [0, 1] (clamped)."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def unit_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] images → uint8 0..255 (clamped, rounded half to even), same shape and device. The float dtype
    is kept for the arithmetic, so float64 input rounds as float64."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def signed_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images → uint8 0..255, same shape and device. Equal bit for bit to ((x + 1) × 127.5) rounded and
    clamped: (x + 1) / 2 is exact, and × 255 then rounds the same real number as (x + 1) × 127.5."""
    return unit_to_uint8((images.float() + 1) / 2)
