"""OpenPose COCO-18 keypoints and their 18-channel pose maps."""
from __future__ import annotations

import numpy as np
import torch

NUM_KEYPOINTS = 18
KEYPOINT_NAMES = (
    "nose", "neck", "r-shoulder", "r-elbow", "r-wrist", "l-shoulder", "l-elbow", "l-wrist", "r-hip", "r-knee",
    "r-ankle", "l-hip", "l-knee", "l-ankle", "r-eye", "l-eye", "r-ear", "l-ear",
)
# Limbs drawn on pose overlays (pairs of keypoint indices).
LIMBS = (
    (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# The original draws radius-4 discs at 256 px; the radius scales with the map's size.
DISC_RADIUS_AT_256 = 4.0


def pose_maps(keypoints: np.ndarray, size: tuple[int, int], radius: float | None = None,
              min_confidence: float = 0.0) -> torch.Tensor:
    """(18, 3) keypoints [x, y, confidence] in pixels of a map of `size` = (H, W) → (18, H, W) float in {0, 1}.

    Each joint with confidence > `min_confidence` is a filled disc of `radius` pixels (default: 4 px at 256,
    scaled with min(H, W)); missing joints give an empty channel. Pixel centres are at integer coordinates.
    """
    height, width = size
    if radius is None:
        radius = max(1.0, DISC_RADIUS_AT_256 * min(height, width) / 256.0)
    kp = np.asarray(keypoints, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)[None, :, None]
    xs = np.arange(width, dtype=np.float32)[None, None, :]
    dist2 = (xs - kp[:, 0, None, None]) ** 2 + (ys - kp[:, 1, None, None]) ** 2
    present = (kp[:, 2] > min_confidence)[:, None, None]
    return torch.from_numpy(((dist2 <= radius * radius) & present).astype(np.float32))


def scale_keypoints(keypoints: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Rescale (18, 3) keypoints from an image of (H, W) = from_size to to_size; confidence unchanged.

    Coordinates follow the pixel-centre convention, so a point at the centre of the image stays there.
    """
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    kp[:, 0] = (kp[:, 0] + 0.5) * sx - 0.5
    kp[:, 1] = (kp[:, 1] + 0.5) * sy - 0.5
    return kp
