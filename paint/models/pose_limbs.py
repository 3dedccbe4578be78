"""Limb maps from pose maps: one channel per skeleton limb, a stick that fades linearly with the distance from the
segment joining its two joints.

Pose maps hold only small joint discs, so a network must learn from scratch that an arm fills the space between a
shoulder, an elbow and a wrist; giving it the sticks makes body parts nearly a local function of the input. Computed
in the network from the discs (not in the data pipeline), so the sample contract and every stream stay as they are.
"""
from __future__ import annotations

import torch

from paint.data.keypoints import LIMBS

LIMB_INDEX_A = tuple(a for a, _ in LIMBS)
LIMB_INDEX_B = tuple(b for _, b in LIMBS)
NUM_LIMBS = len(LIMBS)


def joint_centres(pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 18, H, W) disc maps → centres (B, 18, 2) as (x, y) in pixels, and presence (B, 18) (a non-empty disc)."""
    _, _, height, width = pose.shape
    mass = pose.sum((2, 3))
    ys = torch.arange(height, dtype=pose.dtype, device=pose.device)
    xs = torch.arange(width, dtype=pose.dtype, device=pose.device)
    cx = (pose.sum(2) * xs).sum(2) / mass.clamp_min(1e-6)
    cy = (pose.sum(3) * ys).sum(2) / mass.clamp_min(1e-6)
    return torch.stack([cx, cy], dim=-1), mass > 0


def limb_maps(pose: torch.Tensor, width: float) -> torch.Tensor:
    """(B, 18, H, W) disc maps → (B, NUM_LIMBS, H, W) in [0, 1]: max(0, 1 − d / width), d = distance to the limb's
    segment; a limb with a missing joint is all zero."""
    _, _, height, w = pose.shape
    centres, present = joint_centres(pose)
    a, b = centres[:, LIMB_INDEX_A], centres[:, LIMB_INDEX_B]              # (B, L, 2)
    both = (present[:, LIMB_INDEX_A] & present[:, LIMB_INDEX_B]).to(pose.dtype)
    ys = torch.arange(height, dtype=pose.dtype, device=pose.device)[:, None].expand(height, w)
    xs = torch.arange(w, dtype=pose.dtype, device=pose.device)[None, :].expand(height, w)
    points = torch.stack([xs, ys], dim=-1)                                   # (H, W, 2)
    ab = (b - a)[:, :, None, None]                                           # (B, L, 1, 1, 2)
    ap = points[None, None] - a[:, :, None, None]                            # (B, L, H, W, 2)
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    distance = (ap - t[..., None] * ab).norm(dim=-1)
    return (1 - distance / width).clamp_min(0) * both[:, :, None, None]
