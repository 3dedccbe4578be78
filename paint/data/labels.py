"""CIHP/LIP label set, garment groups, AFN's merged groups, and label-map conversions.

Label maps are single-channel integer arrays/tensors with values 0..19 and 255 = ignore.
"""
from __future__ import annotations

import numpy as np
import torch

NUM_CLASSES = 20
IGNORE = 255

CLASS_NAMES = (
    "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat", "socks", "pants",
    "torso-skin", "scarf", "skirt", "face", "left-arm", "right-arm", "left-leg", "right-leg", "left-shoe",
    "right-shoe",
)
CLASS_ID = {name: i for i, name in enumerate(CLASS_NAMES)}

# Garment regions that receive a texture patch (the original's TSN groups; socks are not a garment here).
GARMENT_GROUPS: dict[str, tuple[int, ...]] = {"top": (5, 6, 7), "bottom": (9, 12)}
GARMENT_CLASSES = (5, 6, 7, 9, 12)

# AFN's nine merged groups (the original's; docs/DESIGN.md, "The sample contract"), in channel order.
AFN_GROUPS: tuple[tuple[int, ...], ...] = (
    (2,), (10, 14, 15), (8, 16, 17), (1,), (5, 7), (6, 9, 12), (18, 19), (3, 13), (0, 4, 11),
)
NUM_AFN_GROUPS = len(AFN_GROUPS)
AFN_BACKGROUND_GROUP = next(i for i, classes in enumerate(AFN_GROUPS) if 0 in classes)

# One distinct colour per class for pictures (index 20 is the ignore colour).
PALETTE = np.array(
    [
        (0, 0, 0), (128, 0, 0), (254, 0, 0), (0, 85, 0), (169, 0, 51), (254, 85, 0), (0, 0, 85), (0, 119, 221),
        (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 254), (51, 169, 220),
        (0, 254, 254), (85, 254, 169), (169, 254, 85), (254, 254, 0), (254, 169, 0), (255, 255, 255),
    ],
    dtype=np.uint8,
)


def _lookup(classes: tuple[int, ...]) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(classes)] = True
    return table


_GARMENT_TABLES = {name: _lookup(classes) for name, classes in GARMENT_GROUPS.items()}
_AFN_TABLE = np.full(256, -1, dtype=np.int64)
for _g, _classes in enumerate(AFN_GROUPS):
    _AFN_TABLE[list(_classes)] = _g


def garment_mask(label: np.ndarray, region: str) -> np.ndarray:
    """(H, W) uint8 label map → (H, W) bool mask of the garment region ('top' or 'bottom')."""
    if region not in _GARMENT_TABLES:
        raise ValueError(f"unknown garment region {region!r}; choose one of {sorted(GARMENT_GROUPS)}")
    return _GARMENT_TABLES[region][np.asarray(label, dtype=np.uint8)]


def one_hot(label: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(…, H, W) integer labels → (…, C, H, W) float one-hot; ignore pixels (255) are all-zero."""
    label = label.long()
    valid = label != IGNORE
    hot = torch.nn.functional.one_hot(torch.where(valid, label, 0), num_classes)
    hot = hot * valid.unsqueeze(-1)
    return hot.movedim(-1, -3).float()


def afn_groups(label: torch.Tensor) -> torch.Tensor:
    """(…, H, W) integer labels → (…, 9, H, W) float masks of AFN's merged groups (ignore → all-zero)."""
    table = torch.as_tensor(_AFN_TABLE, device=label.device)
    group = table[label.long().clamp(0, 255)]
    valid = group >= 0
    hot = torch.nn.functional.one_hot(torch.where(valid, group, 0), NUM_AFN_GROUPS) * valid.unsqueeze(-1)
    return hot.movedim(-1, -3).float()


def colourise(label: np.ndarray) -> np.ndarray:
    """(H, W) label map → (H, W, 3) uint8 picture; ignore pixels white."""
    label = np.asarray(label).astype(np.int64)
    index = np.where(label == IGNORE, NUM_CLASSES, np.clip(label, 0, NUM_CLASSES))
    return PALETTE[index]
