"""Surface materials: fabric patterns, skin with a face, hair — all evaluated on body-frame surface coordinates.

A material maps hit points to albedo: `colour(body (n, 3) metres, around (n,), along (n,), circumference) →
(n, 3) float RGB in [0, 1]`. `around`/`along` are fabric coordinates of the hit primitive (metres), so a pattern
is fixed to the garment and every view of a product shows the same fabric.
"""
from __future__ import annotations

import colorsys

import numpy as np

PATTERNS = ("plain", "stripes", "checks", "dots", "gradient", "noise", "motif")
PATTERN_WEIGHTS = np.array([0.1, 0.2, 0.16, 0.16, 0.1, 0.13, 0.15])
SKIN_LIGHT, SKIN_DARK = np.array([0.96, 0.80, 0.68]), np.array([0.33, 0.20, 0.13])
HAIR_COLOURS = np.array([[0.07, 0.05, 0.04], [0.22, 0.13, 0.07], [0.42, 0.27, 0.15], [0.80, 0.64, 0.38],
                         [0.55, 0.22, 0.09], [0.68, 0.67, 0.66]])
NEUTRALS = np.array([[0.08, 0.08, 0.09], [0.93, 0.92, 0.89], [0.52, 0.52, 0.54], [0.80, 0.72, 0.58],
                     [0.12, 0.16, 0.32], [0.35, 0.24, 0.16], [0.30, 0.36, 0.22]])


def _hash(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice → uniform floats in [0, 1), deterministic (integer arithmetic only)."""
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791) ^ seed
    h &= 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 15
    return h.astype(np.float64) / 4294967296.0


def value_noise(p: np.ndarray, seed: int, octaves: int = 2) -> np.ndarray:
    """Smooth 3-D value noise of points p (n, 3) in lattice units → (n,) in [0, 1]."""
    total, weight, amp = np.zeros(len(p)), 0.0, 1.0
    for octave in range(octaves):
        q = p * (2.0 ** octave)
        base = np.floor(q).astype(np.int64)
        f = q - base
        f = f * f * (3 - 2 * f)
        acc = np.zeros(len(p))
        for corner in range(8):
            offset = np.array([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
            w = np.prod(np.where(offset[None, :] == 1, f, 1 - f), axis=1)
            c = base + offset[None, :]
            acc += w * _hash(c[:, 0], c[:, 1], c[:, 2], seed + 7919 * octave)
        total += amp * acc
        weight += amp
        amp *= 0.5
    return total / weight


def _snap(period: float, circumference: float) -> float:
    """Period around a tube adjusted so a whole number fits: the pattern closes without a seam."""
    return circumference / max(1, round(circumference / period))


def random_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.3:
        return NEUTRALS[rng.integers(len(NEUTRALS))] * rng.uniform(0.9, 1.08)
    hue, sat, val = rng.random(), rng.uniform(0.35, 0.9), rng.uniform(0.3, 0.92)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val))


def contrasting(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """A second colour that stands out against `colour` (lighter/darker, or another hue)."""
    hue, sat, val = colorsys.rgb_to_hsv(*np.clip(colour, 0, 1))
    if rng.random() < 0.5:
        val = val - 0.45 if val > 0.55 else val + 0.45
        return np.array(colorsys.hsv_to_rgb(hue, sat * rng.uniform(0.3, 1.0), np.clip(val, 0.05, 0.97)))
    hue = (hue + rng.uniform(0.25, 0.75)) % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.3, 0.9), rng.uniform(0.35, 0.95)))


class Plain:
    def __init__(self, colour):
        self.base = np.asarray(colour, float)

    def colour(self, body, around, along, circumference):
        return np.broadcast_to(self.base, (len(body), 3))


class Fabric:
    """A garment fabric: one of PATTERNS with random colours, scale (metres) and shape, drawn from `rng`."""

    def __init__(self, rng: np.random.Generator, avoid: tuple[str, ...] = ()):
        weights = PATTERN_WEIGHTS * np.array([p not in avoid for p in PATTERNS])   # garments of a product differ
        self.pattern = str(rng.choice(PATTERNS, p=weights / weights.sum()))
        self.c0 = random_colour(rng)
        self.c1 = contrasting(rng, self.c0)
        self.c2 = contrasting(rng, self.c1)
        self.period = float(np.exp(rng.uniform(np.log(0.045), np.log(0.14))))   # metres: bold enough for 64 px
        self.duty = rng.uniform(0.3, 0.6)
        self.angle = float(rng.choice([0.0, 90.0, 45.0, -45.0], p=[0.45, 0.25, 0.15, 0.15]))
        self.variant = int(rng.integers(3))
        self.seed = int(rng.integers(1 << 30))
        self.span = rng.uniform(0.45, 1.0)
        self.heather = rng.uniform(0.0, 0.12)

    def colour(self, body, around, along, circumference):
        kind = self.pattern
        if kind == "plain":
            shade = 1 + self.heather * (value_noise(body / (0.3 * self.period), self.seed, 1) - 0.5)
            return self.c0[None, :] * shade[:, None]
        if kind == "stripes":
            return self._stripes(around, along, circumference)
        if kind == "checks":
            p = _snap(self.period, circumference)
            a = (around / p) % 1 < self.duty
            b = (along / self.period) % 1 < self.duty
            if self.variant == 0:  # checkerboard
                return np.where(((np.floor(around / p) + np.floor(along / self.period)) % 2 == 0)[:, None],
                                self.c0, self.c1)
            mix = (a.astype(float) + b.astype(float))[:, None] / 2     # gingham: overlaps are darker
            return self.c0 * (1 - mix) + self.c1 * mix
        if kind == "dots":
            return self._grid_shapes(around, along, circumference, shape="dot")
        if kind == "motif":
            return self._grid_shapes(around, along, circumference, shape=("diamond", "cross", "triangle")[
                self.variant])
        if kind == "gradient":
            s = np.clip(along / self.span, 0, 1)[:, None]
            s = s * s * (3 - 2 * s)
            return self.c0 * (1 - s) + self.c1 * s
        noise = value_noise(body / (1.5 * self.period), self.seed, 2)
        if self.variant == 0:  # camouflage: three flat colours
            return np.where((noise < 0.42)[:, None], self.c0, np.where((noise < 0.58)[:, None], self.c1, self.c2))
        s = np.clip((noise - 0.25) * 2, 0, 1)[:, None]
        return self.c0 * (1 - s) + self.c1 * s

    def _stripes(self, around, along, circumference):
        if self.angle == 0.0:
            phase = along / self.period
        elif self.angle == 90.0:
            phase = around / _snap(self.period, circumference)
        else:  # diagonal: the around-period is snapped so stripes close around the tube
            p = _snap(self.period * np.sqrt(2), circumference)
            phase = around / p + np.sign(self.angle) * along / (self.period * np.sqrt(2))
        frac = phase % 1
        out = np.where((frac < self.duty)[:, None], self.c1, self.c0)
        if self.variant == 2:  # a thin accent line in the third colour
            out = np.where((np.abs(frac - (1 + self.duty) / 2) < 0.06)[:, None], self.c2, out)
        return out

    def _grid_shapes(self, around, along, circumference, shape: str):
        pu = _snap(self.period, circumference)
        cu, cv = around / pu, along / self.period
        row = np.floor(cv)
        cu = cu + 0.5 * (row % 2)   # staggered rows
        du, dv = cu % 1 - 0.5, cv % 1 - 0.5
        r = 0.18 + 0.22 * self.duty
        if shape == "dot":
            inside = du * du + dv * dv < r * r
        elif shape == "diamond":
            inside = np.abs(du) + np.abs(dv) < r * 1.2
        elif shape == "cross":
            w = r * 0.35
            inside = ((np.abs(du) < w) & (np.abs(dv) < r)) | ((np.abs(dv) < w) & (np.abs(du) < r))
        else:  # triangle pointing up (towards smaller `along`)
            inside = (dv < r * 0.7) & (np.abs(du) < (dv + r * 0.9) * 0.6)
        return np.where(inside[:, None], self.c1, self.c0)


class Hair:
    """Hair colour with strand-like streaks (noise stretched along the vertical)."""

    def __init__(self, colour, seed: int, height: float):
        self.base, self.seed, self.scale = np.asarray(colour, float), seed, height

    def colour(self, body, around, along, circumference):
        p = body / self.scale * np.array([90.0, 12.0, 90.0])
        streak = value_noise(p, self.seed, 1)
        return np.clip(self.base[None, :] * (0.75 + 0.5 * streak[:, None]) + 0.03, 0, 1)


class Face:
    """Skin with eyes, brows and a mouth painted at body-frame points (so they turn with the head)."""

    def __init__(self, skin, eyes: np.ndarray, mouth: np.ndarray, height: float, lips, iris):
        self.skin, self.eyes, self.mouth = np.asarray(skin, float), eyes, mouth
        self.eye_r, self.lips, self.iris = 0.0085 * height, np.asarray(lips, float), np.asarray(iris, float)
        self.mouth_w = 0.017 * height

    def colour(self, body, around, along, circumference):
        out = np.broadcast_to(self.skin, (len(body), 3)).copy()
        for eye in self.eyes:
            d = body - eye
            white = (d[:, 0] ** 2 + 1.8 * d[:, 1] ** 2 + d[:, 2] ** 2) < self.eye_r ** 2
            pupil = (d ** 2).sum(1) < (0.55 * self.eye_r) ** 2
            brow = ((np.abs(d[:, 1] - 1.7 * self.eye_r) < 0.3 * self.eye_r) & (np.abs(d[:, 0]) < 1.2 * self.eye_r)
                    & (np.abs(d[:, 2]) < 2 * self.eye_r))
            out[white] = (0.95, 0.95, 0.93)
            out[pupil] = self.iris
            out[brow] = self.skin * 0.45
        d = body - self.mouth
        near = (np.abs(d[:, 0]) < self.mouth_w) & (np.abs(d[:, 2]) < self.mouth_w)   # not through the head
        lip_height = 0.25 * self.eye_r * (1.0 + 1.2 * (1 - np.minimum(np.abs(d[:, 0]) / self.mouth_w, 1)))
        mouth = near & (np.abs(d[:, 1]) < lip_height)
        out[mouth] = self.lips
        return out


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    t = rng.beta(1.3, 1.3)
    return np.clip(SKIN_LIGHT * (1 - t) + SKIN_DARK * t + rng.normal(0, 0.015, 3), 0, 1)


def hair_colour(rng: np.random.Generator) -> np.ndarray:
    base = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=[0.3, 0.25, 0.18, 0.14, 0.07, 0.06])]
    return np.clip(base * rng.uniform(0.85, 1.15), 0, 1)
