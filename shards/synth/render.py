"""Orthographic z-buffer ray casting of primitives into an RGB image, a label map and keypoints.

Camera frame: x right, y up, z towards the camera; a view is a yaw of the camera about the body's vertical axis.
Rays start at z = RAY_START and travel along −z, so a smaller ray parameter t means nearer to the camera.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shards.synth.geometry import Primitive, candidates, local_gradient, surface_uv

RAY_START = 10.0
LIGHT = np.array([-0.35, 0.55, 0.76]) / np.linalg.norm([-0.35, 0.55, 0.76])   # camera frame, upper left front
AMBIENT, DIFFUSE, INSIDE_DARKENING = 0.42, 0.62, 0.55


@dataclass
class Frame:
    """The square window of the camera plane that becomes the image: left edge, top edge and width (metres)."""
    left: float
    top: float
    width: float

    def pixel(self, x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Camera-plane coordinates → pixel coordinates of a size × size image (pixel centres at integers)."""
        return (x - self.left) * size / self.width - 0.5, (self.top - y) * size / self.width - 0.5


def view_rotation(yaw_degrees: float) -> np.ndarray:
    """(3, 3) body → camera rotation for a camera moved `yaw` degrees around the person (90 = their left side)."""
    a = np.radians(yaw_degrees)
    return np.array([[np.cos(a), 0.0, -np.sin(a)], [0.0, 1.0, 0.0], [np.sin(a), 0.0, np.cos(a)]])


def _camera_maps(prim: Primitive, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    linear = rot @ prim.linear()
    return linear, np.linalg.inv(linear), rot @ prim.origin


def _pixel_box(prim: Primitive, linear: np.ndarray, centre: np.ndarray, frame: Frame, n: int):
    """Row and column ranges of the pixels the primitive can cover, or None when it is outside the image."""
    centres, axes = prim.reach()
    cam = centre[None, :] + centres @ linear.T
    half_x = np.sqrt(((linear[0][None, :] * axes) ** 2).sum(1))
    half_y = np.sqrt(((linear[1][None, :] * axes) ** 2).sum(1))
    c0, r0 = frame.pixel((cam[:, 0] - half_x).min(), (cam[:, 1] + half_y).max(), n)
    c1, r1 = frame.pixel((cam[:, 0] + half_x).max(), (cam[:, 1] - half_y).min(), n)
    c0, r0 = max(int(np.floor(c0)), 0), max(int(np.floor(r0)), 0)
    c1, r1 = min(int(np.ceil(c1)) + 1, n), min(int(np.ceil(r1)) + 1, n)
    return None if c0 >= c1 or r0 >= r1 else (r0, r1, c0, c1)


def _grid(frame: Frame, n: int) -> tuple[np.ndarray, np.ndarray]:
    step = frame.width / n
    return frame.left + (np.arange(n) + 0.5) * step, frame.top - (np.arange(n) + 0.5) * step


def _local_rays(inverse: np.ndarray, centre: np.ndarray, xs: np.ndarray, ys: np.ndarray):
    """Local ray origins (3 arrays of shape (len(ys), len(xs))) and the common local direction."""
    base = inverse @ (np.array([0.0, 0.0, RAY_START]) - centre)
    origin = tuple(inverse[i, 0] * xs[None, :] + inverse[i, 1] * ys[:, None] + base[i] for i in range(3))
    return origin, -inverse[:, 2]


def rasterise(prims: list[Primitive], rot: np.ndarray, frame: Frame, n: int):
    """Depth pass → (t (n, n) float, inf = background; primitive index (n, n), −1 = none; surface kind (n, n))."""
    depth = np.full((n, n), np.inf)
    owner = np.full((n, n), -1, dtype=np.int32)
    kinds = np.zeros((n, n), dtype=np.int8)
    xs, ys = _grid(frame, n)
    for index, prim in enumerate(prims):
        linear, inverse, centre = _camera_maps(prim, rot)
        box = _pixel_box(prim, linear, centre, frame, n)
        if box is None:
            continue
        r0, r1, c0, c1 = box
        origin, direction = _local_rays(inverse, centre, xs[c0:c1], ys[r0:r1])
        to_body = None
        if prim.clip is not None:
            to_body = lambda x, y, z, p=prim: np.stack([x, y, z], 1) @ p.linear().T + p.origin  # noqa: E731
        t, kind = candidates(prim, origin, direction, to_body)
        window = depth[r0:r1, c0:c1]
        nearer = t < window
        window[nearer] = t[nearer]
        owner[r0:r1, c0:c1][nearer] = index
        kinds[r0:r1, c0:c1][nearer] = kind[nearer]
    return depth, owner, kinds


def shade(prims: list[Primitive], materials: list, rot: np.ndarray, frame: Frame, depth: np.ndarray,
          owner: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Colour pass over the winners of `rasterise` → (n, n, 3) float RGB in [0, 1] (background pixels 0)."""
    n = depth.shape[0]
    rgb = np.zeros((n * n, 3))
    flat = owner.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(len(prims) + 1))
    xs, ys = _grid(frame, n)
    for index, prim in enumerate(prims):
        pix = order[bounds[index]:bounds[index + 1]]
        if len(pix) == 0:
            continue
        linear, inverse, centre = _camera_maps(prim, rot)
        rows, cols = np.divmod(pix, n)
        base = inverse @ (np.array([0.0, 0.0, RAY_START]) - centre)
        t = depth.ravel()[pix]
        local = np.stack([inverse[i, 0] * xs[cols] + inverse[i, 1] * ys[rows] + base[i] - t * inverse[i, 2]
                          for i in range(3)], 1)
        normal = local_gradient(prim, local, kinds.ravel()[pix]) @ inverse
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
        inside = normal[:, 2] < 0
        normal[inside] *= -1
        body = local @ prim.linear().T + prim.origin
        around, along, circumference = surface_uv(prim, local)
        albedo = materials[prim.material].colour(body, around, along, circumference)
        light = AMBIENT + DIFFUSE * np.clip(normal @ LIGHT, 0, None)
        light *= 0.8 + 0.2 * normal[:, 2]          # soft darkening towards the silhouette
        light[inside] *= INSIDE_DARKENING
        rgb[pix] = albedo * light[:, None]
    return rgb.reshape(n, n, 3)


def backdrop(frame: Frame, n: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Near-white studio backdrop: vertical gradient and a gentle vignette → (n, n, 3) float RGB."""
    xs, ys = _grid(frame, n)
    h = (frame.top - ys) / frame.width
    rgb = top[None, None, :] * (1 - h[:, None, None]) + bottom[None, None, :] * h[:, None, None]
    cx = (xs - frame.left) / frame.width - 0.5
    return rgb * (1 - 0.05 * (cx[None, :, None] ** 2 + (h[:, None, None] - 0.5) ** 2))


def floor_shadow(rgb: np.ndarray, frame: Frame, feet_x: float, width: float) -> np.ndarray:
    """Darken the backdrop (n, n, 3) with a soft elliptic shadow on the floor line y = 0 under the feet."""
    n = rgb.shape[0]
    xs, ys = _grid(frame, n)
    rows = np.flatnonzero(np.abs(ys) < 0.4 * width)     # the shadow is negligible further away
    shadow = np.exp(-(((xs[None, :] - feet_x) / width) ** 2) - (ys[rows, None] / (0.12 * width)) ** 2)
    out = rgb.copy()
    out[rows] *= 1 - 0.22 * shadow[:, :, None]
    return out


def downsample(rgb: np.ndarray, labels: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Average colours over factor × factor blocks; labels take the blocks' most frequent value (crisp)."""
    if factor == 1:
        return rgb, labels
    rgb = sum(rgb[i::factor, j::factor] for i in range(factor) for j in range(factor)) / (factor * factor)
    subs = [labels[i::factor, j::factor] for i in range(factor) for j in range(factor)]
    counts = np.stack([sum((a == b).astype(np.int8) for b in subs) for a in subs])
    best = np.argmax(counts, axis=0)
    return rgb, np.take_along_axis(np.stack(subs), best[None], axis=0)[0]


def project_keypoints(joints: np.ndarray, own_parts: list, own_tolerance: np.ndarray, other_tolerance: float,
                      facing: np.ndarray, rot: np.ndarray, frame: Frame, size: int, depth: np.ndarray,
                      owner: np.ndarray, parts: list[str]) -> np.ndarray:
    """Body-frame joints (18, 3) → (18, 3) [x, y, confidence] in pixels of a size × size image.

    The nearest surface at a joint's pixel (`depth`, `owner` from `rasterise`, `parts` per primitive) hides the
    joint when it lies in front of it by more than `own_tolerance` (18,) metres if its part is one of the joint's
    `own_parts`, else by more than `other_tolerance`. Confidence: 1 visible; 0.5 hidden; 0 when `facing` (18,) is
    False (face points on the far side of the head) or off the image, and then x = y = 0 as OpenPose writes.
    """
    cam = joints @ rot.T
    x, y = frame.pixel(cam[:, 0], cam[:, 1], size)
    n = depth.shape[0]
    col = np.floor((x + 0.5) * n / size).astype(int)
    row = np.floor((y + 0.5) * n / size).astype(int)
    inside = (x >= -0.5) & (x < size - 0.5) & (y >= -0.5) & (y < size - 0.5)
    conf = np.where(inside & facing, 1.0, 0.0)
    row, col = np.clip(row, 0, n - 1), np.clip(col, 0, n - 1)
    front = owner[row, col]
    own = np.array([f >= 0 and parts[f] in mine for f, mine in zip(front, own_parts)])
    hidden = depth[row, col] < (RAY_START - cam[:, 2]) - np.where(own, own_tolerance, other_tolerance)
    conf = np.where((conf > 0) & hidden, 0.5, conf)
    out = np.stack([x, y, conf], 1)
    out[conf == 0, :2] = 0.0
    return out.astype(np.float32)
