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


# OpenPose BODY_25 holds COCO-18's joints plus MidHip (8) and six foot points (19–24), in another order.
BODY25_TO_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)


class KeypointError(ValueError):
    """A keypoint JSON cannot be read as COCO-18: `reason` is a short count key ("malformed keypoints",
    "no person"), the message says what exactly is wrong."""

    def __init__(self, detail: str, reason: str = "malformed keypoints"):
        super().__init__(detail)
        self.reason = reason


def _openpose_person(flat, lenient: bool) -> np.ndarray:
    values = np.asarray(flat, dtype=np.float64).reshape(-1)
    if values.size == 75 and lenient:
        return values.reshape(25, 3)[list(BODY25_TO_COCO18)]
    if values.size == 75:
        raise KeypointError("25 joints (BODY_25); PAINT needs COCO-18: run OpenPose with --model_pose COCO")
    if values.size != NUM_KEYPOINTS * 3:
        raise KeypointError(f"pose_keypoints_2d has {values.size} numbers, expected {NUM_KEYPOINTS * 3}"
                            + (" (COCO-18) or 75 (BODY_25)" if lenient else ""))
    return values.reshape(NUM_KEYPOINTS, 3)


def _openpose(data: dict, lenient: bool) -> tuple[np.ndarray, int]:
    people = data["people"]
    if not isinstance(people, list):
        raise KeypointError("'people' is not a list")
    if not people:
        raise KeypointError("OpenPose found nobody in the image", reason="no person")
    poses = []
    for person in people:
        flat = person.get("pose_keypoints_2d", person.get("pose_keypoints")) if isinstance(person, dict) else None
        if flat is None:
            raise KeypointError("a person has no 'pose_keypoints_2d'")
        poses.append(_openpose_person(flat, lenient))
    # Several detections: the most confident one is the model (the others are usually background people).
    best = max(poses, key=lambda pose: float(pose[:, 2].sum()))
    return best, len(people)


def _paint_style(data: dict, lenient: bool) -> np.ndarray:
    pose = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    for joint in range(NUM_KEYPOINTS):
        point = data.get(str(joint))
        if point is None and lenient:
            continue
        if not isinstance(point, list) or len(point) < 2:
            raise KeypointError(f"joint {joint!r} missing or not a list [x, y, ...]")
        x, y = float(point[0]), float(point[1])
        # PAINT stores missing joints near (0, 0); the original draws a joint only if x > 1 or y > 1.
        missing = (x <= 1 and y <= 1) or (lenient and (x < 0 or y < 0))
        pose[joint] = (x, y, 0.0 if missing else 1.0)
    return pose


def parse_keypoint_json(data, lenient: bool = False) -> tuple[np.ndarray, int]:
    """A parsed keypoint JSON → ((18, 3) float32 [x, y, confidence] COCO-18, people found); KeypointError else.

    OpenPose (`{"people": [{"pose_keypoints_2d": [x, y, c, …]}]}`, the most confident person) or PAINT-style
    (`{"0": [x, y], …}`, a joint near (0, 0) is missing). Strict (shard import): COCO-18 only and every PAINT-style
    joint listed. `lenient` (user poses): BODY_25 is mapped to COCO-18, and PAINT-style joints may be absent or
    negative (= missing). Coordinates stay as given (pixels of whatever image they came from).
    """
    if not isinstance(data, dict):
        raise KeypointError(f"top level is {type(data).__name__}, expected an object")
    try:
        if "people" in data:
            pose, people = _openpose(data, lenient)
        else:
            pose, people = _paint_style(data, lenient), 1
    except KeypointError:
        raise
    except (TypeError, ValueError) as exc:   # a value that is no number, a list of the wrong length, …
        raise KeypointError(str(exc)) from None
    if not np.isfinite(pose).all():
        raise KeypointError("NaN or infinity")
    if (pose[:, 2] < 0).any() or (pose[:, 2] > 1).any():
        raise KeypointError("confidence outside [0, 1]")
    return pose.astype(np.float32), people
