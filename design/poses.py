"""Poses for the design tool: named presets shipped with the project, or a user's keypoint JSON whose other views
are derived from the nearest preset view.

A preset (design/poses/<name>.json, written by shards/make_pose_presets.py) holds COCO-18 keypoints
[x, y, confidence] for several views of one person, in pixels of its stated canvas. A user's file is OpenPose
(COCO-18 or BODY_25) or PAINT-style JSON for ONE view, in pixels of a canvas of `canvas` = (H, W) (default
256 × 256, PAINT's resolution); a non-square canvas is letterboxed into a square (centred) first.

Other views of a user's pose: every view of every preset is fitted to the user's joints by a uniform scale and
an offset (least squares over the joints both show); the view that fits best is taken to be the user's view,
and the preset's other views, moved by that same scale and offset, become the other views, in the preset's
order. A preset view's joints never change the user's own view.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from paint.data.keypoints import NUM_KEYPOINTS, KeypointError, parse_keypoint_json, scale_keypoints
from design.errors import DesignError

PRESET_DIR = Path(__file__).with_name("poses")
DEFAULT_CANVAS = (256, 256)     # (H, W): PAINT's keypoint files are pixels of Fashion-Gen's 256 × 256 images
MIN_JOINTS = 4                  # joints a user's pose must show (and share with a preset view to be matched)


@dataclass
class PoseSet:
    """Keypoints of one person in several views on a square canvas."""
    views: dict[str, np.ndarray]    # view name → (18, 3) float32 [x, y, confidence], in view order
    side: int                       # canvas side (pixels) the keypoints are in
    record: dict = field(default_factory=dict)   # what was used and how (for the design's JSON)

    def at(self, resolution: int, count: int) -> list[tuple[str, np.ndarray]]:
        """The first `count` (≤ len(views)) views as (name, (18, 3) keypoints in pixels of a resolution ×
        resolution image)."""
        size = (resolution, resolution)
        return [(name, scale_keypoints(kp, (self.side, self.side), size))
                for name, kp in list(self.views.items())[:count]]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def _letterbox(pose: np.ndarray, canvas: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Keypoints of an (H, W) canvas → keypoints of the max(H, W) square with that canvas centred in it."""
    height, width = canvas
    side = max(height, width)
    out = np.array(pose, dtype=np.float32, copy=True)
    out[:, 0] += (side - width) / 2
    out[:, 1] += (side - height) / 2
    return out, side


def _pose_array(values, where: str) -> np.ndarray:
    try:
        pose = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise DesignError(f"{where}: keypoints must be numbers [x, y, confidence]") from None
    if pose.shape != (NUM_KEYPOINTS, 3) or not np.isfinite(pose).all():
        raise DesignError(f"{where}: expected {NUM_KEYPOINTS} finite [x, y, confidence] triples")
    return pose


def _multi_view(data: dict, where: str) -> tuple[dict[str, np.ndarray], int]:
    """A preset-format object {"canvas": [H, W], "views": {name: [[x, y, c] × 18]}} → (views, square side)."""
    views, canvas = data.get("views"), data.get("canvas", list(DEFAULT_CANVAS))
    if not isinstance(views, dict) or not views:
        raise DesignError(f"{where}: 'views' must map view names to keypoint lists")
    if not (isinstance(canvas, list) and len(canvas) == 2 and all(isinstance(v, int) and v > 0 for v in canvas)):
        raise DesignError(f"{where}: 'canvas' must be [height, width] in pixels")
    out, side = {}, max(canvas)
    for name, values in views.items():
        out[str(name)], side = _letterbox(_pose_array(values, f"{where} view {name!r}"), tuple(canvas))
    return out, side


@lru_cache(maxsize=None)
def _preset(name: str) -> tuple[dict[str, np.ndarray], int, str]:
    data = json.loads((PRESET_DIR / f"{name}.json").read_text())
    views, side = _multi_view(data, f"pose preset {name!r}")
    return views, side, data.get("description", "")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DesignError(f"pose file {str(path)!r} is not valid JSON (line {exc.lineno}: {exc.msg}); give an "
                          f"OpenPose or PAINT keypoint JSON") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DesignError(f"pose file {str(path)!r} cannot be read ({type(exc).__name__}: {exc})") from None


def _fit(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, float] | None:
    """Uniform scale s and offset t with s·source + t ≈ target over the joints both show → (s, t, relative RMS
    error), or None when they share fewer than MIN_JOINTS joints or the fit is degenerate."""
    common = (source[:, 2] > 0) & (target[:, 2] > 0)
    if common.sum() < MIN_JOINTS:
        return None
    a, b = source[common, :2].astype(np.float64), target[common, :2].astype(np.float64)
    ac, bc = a - a.mean(0), b - b.mean(0)
    spread = float((ac ** 2).sum())
    scale = float((ac * bc).sum()) / spread if spread > 0 else 0.0
    if scale <= 0:
        return None
    offset = b.mean(0) - scale * a.mean(0)
    error = np.sqrt(((scale * a + offset - b) ** 2).sum(1).mean() / max((bc ** 2).sum(1).mean(), 1e-9))
    return scale, offset, float(error)


def derive_views(pose: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """One view's (18, 3) keypoints → (all views in the same pixels, record of the match); see the module docstring
    for the rule. The fit maps preset pixels to the pose's pixels, so it absorbs any difference in canvas size."""
    best = None
    for name in preset_names():
        for view, keypoints in _preset(name)[0].items():
            fit = _fit(keypoints, pose)
            if fit is not None and (best is None or fit[2] < best[0]):
                best = (fit[2], name, view, fit[0], fit[1])
    if best is None:
        raise DesignError(f"the pose shares fewer than {MIN_JOINTS} joints with every preset view; give a pose "
                          f"with shoulders and hips")
    error, name, matched, scale, offset = best
    views = {matched: pose}
    for view, keypoints in _preset(name)[0].items():
        if view != matched:
            moved = np.array(keypoints, dtype=np.float32, copy=True)
            moved[:, :2] = np.where(moved[:, 2:] > 0, moved[:, :2] * scale + offset, 0.0)
            views[view] = moved
    record = {"derived_from": name, "matched_view": matched, "fit_scale": round(scale, 4),
              "fit_offset": [round(float(v), 2) for v in offset], "fit_error": round(error, 4)}
    return views, record


def pose_from_data(data, where: str, canvas: tuple[int, int] | None = None, source: dict | None = None) -> PoseSet:
    """Parsed pose JSON (a single-view OpenPose/PAINT object, or the presets' multi-view format) → PoseSet.
    `where` names the input in messages (e.g. "pose file 'a.json'"); `source` starts the record."""
    source = dict(source or {"kind": "upload"})
    if isinstance(data, dict) and "views" in data:      # a multi-view file in the presets' own format
        views, side = _multi_view(data, where)
        return PoseSet(views, side, {**source, "views_given": list(views)})
    try:
        pose, people = parse_keypoint_json(data, lenient=True)
    except KeypointError as exc:
        raise DesignError(f"{where}: {exc}") from None
    shown = pose[pose[:, 2] > 0]
    if len(shown) < MIN_JOINTS:
        raise DesignError(f"{where} shows {len(shown)} joints; at least {MIN_JOINTS} are needed")
    height, width = canvas or DEFAULT_CANVAS
    if ((shown[:, 0] < -1) | (shown[:, 0] > width) | (shown[:, 1] < -1) | (shown[:, 1] > height)).any():
        raise DesignError(f"{where} has joints outside the {width}x{height} canvas; give the size of the image "
                          f"its keypoints belong to (paint-design --pose-size WxH, the studio's pose_canvas)")
    pose, side = _letterbox(pose, (height, width))
    views, record = derive_views(pose)
    return PoseSet(views, side, {**source, "canvas": [height, width], "people": people, **record})


def preset_pose(name: str) -> PoseSet:
    """A shipped preset by name → PoseSet (DesignError naming the presets when there is none of that name)."""
    if name not in preset_names():
        raise DesignError(f"unknown pose preset {name!r}; presets: {', '.join(preset_names())}")
    views, side, description = _preset(name)
    return PoseSet(dict(views), side, {"kind": "preset", "preset": name, "description": description})


def load_pose(spec: str, canvas: tuple[int, int] | None = None) -> PoseSet:
    """A preset name or a pose JSON file → PoseSet. `canvas` = (H, W) of the image a single-view file's
    keypoints belong to (default 256 × 256); presets state their own. DesignError (one line) for a missing,
    unreadable or malformed pose."""
    path = Path(spec)
    if path.is_file():
        return pose_from_data(_read_json(path), f"pose file {str(path)!r}", canvas,
                              {"kind": "file", "path": str(path)})
    if spec in preset_names():
        if canvas is not None:
            raise DesignError("--pose-size applies to pose files; presets state their own canvas")
        return preset_pose(spec)
    if path.suffix.lower() == ".json" or len(path.parts) > 1:
        raise DesignError(f"pose file {spec!r} does not exist; give a keypoint JSON or a preset "
                          f"({', '.join(preset_names())})")
    raise DesignError(f"unknown pose {spec!r}: not a file and not a preset; presets: {', '.join(preset_names())}")
