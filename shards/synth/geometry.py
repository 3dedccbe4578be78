"""3-D primitives of the synthetic people and their analytic intersection with orthographic camera rays.

Body frame (metres): +x = the person's left, +y = up (feet at y = 0), +z = forward (the way the person faces).
A primitive is an affine image of a simple local shape:
  * ellipsoid: the unit sphere scaled by `scale` (the semi-axes), rotated by `rot`, moved to `origin`;
  * tube: a tapered round tube along local z from 0 to `length`, radius r0 → r1, optionally squashed across
    (`scale` = (sx, sy, 1) turns round sections into ellipses), each end either open or closed by a half-ellipsoid
    cap of height `cap0` / `cap1` (0 = open, so one can look into a sleeve or under a skirt).
`clip` cuts surface away (necklines, an open coat, the face opening of the hair): a clipped front surface lets the
ray go on to the primitive's far (inner) surface, which is what a real garment shows there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# Candidate kinds, kept per pixel so that normals can be recomputed for the winning surface only.
SIDE, CAP0, CAP1, SPHERE = 0, 1, 2, 3


@dataclass
class Primitive:
    kind: str                       # "ellipsoid" | "tube"
    origin: np.ndarray              # (3,) body-frame position of the local origin, metres
    rot: np.ndarray                 # (3, 3) columns = local x, y, z axes in the body frame
    scale: np.ndarray               # (3,) local → body scale per axis
    label: int                      # CIHP class of every pixel it wins
    material: int                   # index into the product's materials
    length: float = 0.0             # tube: local z runs 0..length
    r0: float = 0.0                 # tube radius at z = 0 (before squashing)
    r1: float = 0.0                 # tube radius at z = length
    cap0: float = 0.0               # cap height at z = 0; 0 = open end
    cap1: float = 0.0               # cap height at z = length; 0 = open end
    clip: Callable[[np.ndarray], np.ndarray] | None = None   # (n, 3) body points → (n,) True = cut away
    v0: float = 0.0                 # texture height offset, so chained pieces continue one pattern
    around_radius: float = 0.0      # texture: radius turning angles into metres (0 = the mean radius); shared
                                    # by the pieces of one garment so patterns line up across their joins
    part: str = ""                  # body part it belongs to ("trunk", "head", "neck", "l_arm", …): keypoints
                                    # hidden only by their own part get a generous depth tolerance

    def linear(self) -> np.ndarray:
        """(3, 3) local → body linear map."""
        return self.rot * self.scale[None, :]

    def reach(self) -> tuple[np.ndarray, np.ndarray]:
        """Ellipsoids (centres (k, 3) in local coords, semi-axes (k, 3)) whose union bounds the primitive."""
        if self.kind == "ellipsoid":
            return np.zeros((1, 3)), np.ones((1, 3))
        return (np.array([[0.0, 0.0, 0.0], [0.0, 0.0, self.length]]),
                np.array([[self.r0, self.r0, max(self.cap0, 1e-6)], [self.r1, self.r1, max(self.cap1, 1e-6)]]))


def axis_frame(axis: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rotation whose local z is `axis` and local x is `ref` made perpendicular to it (fallback: down)."""
    z = axis / np.linalg.norm(axis)
    x = ref - np.dot(ref, z) * z
    if np.linalg.norm(x) < 0.3 * np.linalg.norm(ref):
        down = np.array([0.0, -1.0, 0.0])
        x = down - np.dot(down, z) * z
        if np.linalg.norm(x) < 1e-6:
            x = np.array([0.0, 0.0, 1.0]) - z[2] * z
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def ellipsoid(centre, radii, label: int, material: int, rot: np.ndarray | None = None, clip=None) -> Primitive:
    return Primitive("ellipsoid", np.asarray(centre, float), np.eye(3) if rot is None else rot,
                     np.asarray(radii, float), label, material, clip=clip)


def tube(p0, p1, r0: float, r1: float, label: int, material: int, cap0: float = -1.0, cap1: float = -1.0,
         squash: float = 1.0, ref=(0.0, 0.0, 1.0), clip=None, v0: float = 0.0) -> Primitive:
    """Tapered tube from body point p0 (radius r0) to p1 (radius r1); caps default to round (height = radius).

    `squash` scales the section along local x (= `ref`, forward by default, so the texture seam is at the back).
    """
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    rot = axis_frame(p1 - p0, np.asarray(ref, float))
    return Primitive("tube", p0, rot, np.array([squash, 1.0, 1.0]), label, material,
                     length=float(np.linalg.norm(p1 - p0)), r0=r0, r1=r1,
                     cap0=r0 if cap0 < 0 else cap0, cap1=r1 if cap1 < 0 else cap1, clip=clip, v0=v0)


def _quadratic(a: float, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both roots (near, far) of a t² + b t + c = 0 per element; NaN where there is none."""
    if abs(a) < 1e-12:
        nan = np.full_like(b, np.nan)
        return nan, nan
    disc = b * b - 4.0 * a * c
    root = np.sqrt(np.where(disc >= 0, disc, np.nan))
    t1, t2 = (-b - root) / (2 * a), (-b + root) / (2 * a)
    return np.fmin(t1, t2), np.fmax(t1, t2)


def candidates(prim: Primitive, o: tuple[np.ndarray, ...], d: np.ndarray,
               to_body: Callable | None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of rays o + t·d (local coords, o = 3 arrays of one shape) → (t, kind); t = inf for a miss.

    Far surfaces are considered when an end is open or when `to_body` (local → body points) is given for
    clipping, so one sees into sleeves and through clipped openings.
    """
    ox, oy, oz = o
    dx, dy, dz = (float(v) for v in d)
    need_far = to_body is not None
    hits: list[tuple[np.ndarray, int]] = []
    if prim.kind == "ellipsoid":
        near, far = _quadratic(dx * dx + dy * dy + dz * dz, 2 * (ox * dx + oy * dy + oz * dz),
                               ox * ox + oy * oy + oz * oz - 1.0)
        hits = [(near, SPHERE)] + ([(far, SPHERE)] if need_far else [])
    else:
        k = (prim.r1 - prim.r0) / prim.length
        q, w = prim.r0 + k * oz, k * dz
        rad2, cross = ox * ox + oy * oy, ox * dx + oy * dy
        near, far = _quadratic(dx * dx + dy * dy - w * w, 2 * (cross - q * w), rad2 - q * q)
        for t in (near, far):
            z = oz + t * dz
            hits.append((np.where((z >= 0) & (z <= prim.length), t, np.nan), SIDE))
        open_end = prim.cap0 <= 0 or prim.cap1 <= 0
        for kind, r, h, z_end in ((CAP0, prim.r0, prim.cap0, 0.0), (CAP1, prim.r1, prim.cap1, prim.length)):
            if h <= 0:
                continue
            rel = oz - z_end
            near, far = _quadratic((dx * dx + dy * dy) / (r * r) + dz * dz / (h * h),
                                   2 * (cross / (r * r) + rel * dz / (h * h)),
                                   rad2 / (r * r) + rel * rel / (h * h) - 1.0)
            outside = (lambda z: z <= 0) if kind == CAP0 else (lambda z, L=prim.length: z >= L)
            for t in ((near, far) if need_far or open_end else (near,)):
                hits.append((np.where(outside(oz + t * dz), t, np.nan), kind))
        if not (need_far or open_end):
            hits = [h for i, h in enumerate(hits) if i != 1]   # the far side root cannot be the first hit
    ts = np.stack([np.where(np.isnan(t), np.inf, t) for t, _ in hits])
    if to_body is not None:
        flat = ts.reshape(len(ts), -1)
        oxf, oyf, ozf = (np.ravel(a) for a in (ox, oy, oz))
        for i in range(len(flat)):
            idx = np.flatnonzero(np.isfinite(flat[i]))
            if idx.size:
                t = flat[i][idx]
                cut = prim.clip(to_body(oxf[idx] + t * dx, oyf[idx] + t * dy, ozf[idx] + t * dz))
                flat[i][idx[cut]] = np.inf
    best = np.argmin(ts, axis=0)
    kinds = np.array([kind for _, kind in hits])[best]
    return np.take_along_axis(ts, best[None], axis=0)[0], kinds


def local_gradient(prim: Primitive, p: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Outward normal direction in local coordinates for hit points p (n, 3) of the given kinds."""
    if prim.kind == "ellipsoid":
        return p.copy()
    g = np.empty_like(p)
    k = (prim.r1 - prim.r0) / prim.length
    side = kinds == SIDE
    g[side, 0], g[side, 1] = p[side, 0], p[side, 1]
    g[side, 2] = -k * (prim.r0 + k * p[side, 2])
    for kind, r, h, z_end in ((CAP0, prim.r0, prim.cap0, 0.0), (CAP1, prim.r1, prim.cap1, prim.length)):
        m = kinds == kind
        if m.any():
            g[m, 0], g[m, 1] = p[m, 0] / (r * r), p[m, 1] / (r * r)
            g[m, 2] = (p[m, 2] - z_end) / (h * h)
    return g


def surface_uv(prim: Primitive, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Fabric coordinates of local hit points p (n, 3): (around, along) in metres and the circumference.

    `around` is angle × mean radius (seam at local −x, the back), `along` runs down the tube from `v0`, so the
    pattern sits on the garment and is the same seen from any camera.
    """
    radius = (prim.r0 + prim.r1) / 2 if prim.kind == "tube" else float(np.mean(prim.scale[:2]))
    radius = prim.around_radius or radius
    around = np.arctan2(p[:, 1], p[:, 0]) * radius
    along = (p[:, 2] if prim.kind == "tube" else -p[:, 2] * prim.scale[2]) + prim.v0
    return around, along, 2 * np.pi * radius
