"""Pictures for grids: layouts and pose maps as RGB in [0, 1]."""
from __future__ import annotations

import torch

from paint.data.labels import AFN_GROUPS, IGNORE, NUM_CLASSES, PALETTE

_PALETTE = torch.from_numpy(PALETTE).float() / 255.0
# AFN group colours: the colour of each group's first class.
_GROUP_PALETTE = _PALETTE[[classes[0] for classes in AFN_GROUPS]]


def layout_picture(labels_or_scores: torch.Tensor) -> torch.Tensor:
    """(B, H, W) labels or (B, 20, H, W) scores/probabilities → (B, 3, H, W) in [0, 1] (ignore = white)."""
    labels = labels_or_scores.argmax(1) if labels_or_scores.dim() == 4 else labels_or_scores.long()
    index = torch.where(labels == IGNORE, NUM_CLASSES, labels.clamp(0, NUM_CLASSES))
    return _PALETTE.to(labels.device)[index].permute(0, 3, 1, 2)


def groups_picture(groups: torch.Tensor) -> torch.Tensor:
    """(B, 9, H, W) AFN group masks → (B, 3, H, W) in [0, 1]."""
    return torch.einsum("bghw,gc->bchw", groups.float(), _GROUP_PALETTE.to(groups.device)).clamp(0, 1)


def pose_picture(pose: torch.Tensor) -> torch.Tensor:
    """(B, 18, H, W) pose maps → (B, 3, H, W): joints in distinct colours on black."""
    count = pose.shape[1]
    hues = torch.linspace(0, 1, count + 1, device=pose.device)[:count]
    colours = torch.stack([(hues * 6 - k).remainder(6).sub(3).abs().sub(1).clamp(0, 1) for k in (0, 2, 4)], 1)
    return torch.einsum("bkhw,kc->bchw", pose.float(), colours).clamp(0, 1)


def patch_picture(canvas: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, 3, P, P) patch canvas in [-1, 1] + (B, 1, P, P) mask → picture with invalid pixels grey."""
    return (((canvas.float() + 1) / 2) * mask + 0.5 * (1 - mask)).clamp(0, 1)
