"""Checks and range conversion shared by the image metrics.

Images come in as float (B, 3, H, W) tensors in a value range the caller names once per metric:
(-1, 1) (the generators' tanh output and the data streams' images, the default) or (0, 1).
"""
from __future__ import annotations

import torch

ValueRange = tuple[float, float]
KNOWN_RANGES: tuple[ValueRange, ...] = ((-1.0, 1.0), (0.0, 1.0))


def check_value_range(value_range: ValueRange) -> ValueRange:
    """Return `value_range` as floats; raise ValueError unless it is (-1, 1) or (0, 1)."""
    low, high = (float(v) for v in value_range)
    if (low, high) not in KNOWN_RANGES:
        raise ValueError(f"value_range {value_range!r} is not supported; use (-1, 1) or (0, 1)")
    return low, high


def check_images(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Refuse anything but a floating (B, 3, H, W) tensor; returns it unchanged."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{what} must be a (B, 3, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"{what} must be float in the metric's value_range, got dtype {images.dtype}")
    return images


def check_pair(fake: torch.Tensor, real: torch.Tensor) -> None:
    """Paired metrics need the same (B, 3, H, W) shape on both sides."""
    check_images(fake, "fake images")
    check_images(real, "real images")
    if fake.shape != real.shape:
        raise ValueError(f"fake and real images differ in shape: {tuple(fake.shape)} vs {tuple(real.shape)}; "
                         f"resize one side to the other before scoring")


def to_unit(images: torch.Tensor, value_range: ValueRange) -> torch.Tensor:
    """(B, 3, H, W) float in `value_range` → float in [0, 1] (clamped: out-of-range values are saturated)."""
    low, high = value_range
    return ((images - low) / (high - low)).clamp(0.0, 1.0)


def to_signed(images: torch.Tensor, value_range: ValueRange) -> torch.Tensor:
    """(B, 3, H, W) float in `value_range` → float in [-1, 1] (clamped)."""
    return to_unit(images, value_range) * 2.0 - 1.0
