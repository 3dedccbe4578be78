"""Outfits: a random top + bottom or a dress (either optionally under a coat), built as 3-D shells and tubes.

Garments are layered from the skin outwards. Every layer is built around the current outermost surface
(`Envelope`: trunk half-width per height, plus the limbs' outer tubes) with a margin, so inner layers never
poke through outer ones in any view. Trunk shells share the body's depth/width ratio, which turns
containment into a 1-D comparison of half-widths.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shards.synth.body import GARMENT_MATERIAL, SOCKS, Person
from shards.synth.geometry import Primitive, tube
from shards.synth.textures import Fabric

LABEL = {"top": 5, "dress": 6, "coat": 7, "pants": 9, "shorts": 9, "skirt": 12}


@dataclass
class Outfit:
    top: str | None          # "t-shirt" | "long-sleeve" | None (dress)
    bottom: str | None       # "pants" | "shorts" | "skirt" | None (dress)
    dress_sleeves: str | None  # "none" | "short" | "long" for a dress
    coat: bool
    fabrics: dict[str, Fabric]   # "upper" (top or dress), "bottom", "coat"

    @property
    def roomy(self) -> bool:
        """Wide below the waist (coat, dress, skirt): arms then hang further out so hands stay outside."""
        return self.coat or self.top is None or self.bottom == "skirt"

    @property
    def category(self) -> str:
        if self.top is None:
            return "COATS-DRESSES" if self.coat else "DRESSES"
        return f"{'COATS' if self.coat else 'TOPS'}-{self.bottom.upper().rstrip('S')}S"

    def description(self) -> str:
        parts = [f"{self.fabrics['upper'].pattern} {self.top or 'dress'}"]
        if self.bottom:
            parts.append(f"{self.fabrics['bottom'].pattern} {self.bottom}")
        if self.coat:
            parts.append(f"{self.fabrics['coat'].pattern} coat")
        return ", ".join(parts)

    def material(self, key: str) -> int:
        return GARMENT_MATERIAL + list(self.fabrics).index(key)


def sample_outfit(rng: np.random.Generator) -> Outfit:
    """One product's clothes: 70 % top + bottom, 30 % dress; coats over either sometimes; distinct fabrics."""
    if rng.random() < 0.7:
        top = str(rng.choice(["t-shirt", "long-sleeve"]))
        bottom = str(rng.choice(["pants", "shorts", "skirt"], p=[0.45, 0.25, 0.3]))
        coat, sleeves = bool(rng.random() < 0.3), None
        keys = ["upper", "bottom"]
    else:
        top, bottom, coat = None, None, bool(rng.random() < 0.2)
        sleeves = str(rng.choice(["none", "short", "long"], p=[0.4, 0.35, 0.25]))
        keys = ["upper"]
    fabrics: dict[str, Fabric] = {}
    for key in keys + (["coat"] if coat else []):
        fabrics[key] = Fabric(rng, avoid=tuple(f.pattern for f in fabrics.values()))
    return Outfit(top, bottom, sleeves, coat, fabrics)


class Envelope:
    """The outermost surface so far: trunk half-width profile(s) and, per limb, an outer polyline of tubes."""

    def __init__(self, person: Person):
        self.person = person
        self.profiles: list[tuple[np.ndarray, np.ndarray]] = []
        self.cap_top = person.cap_top
        self.limbs = {(side, limb): ([person.joints[n] for n in person.limb_chain(side, limb)],
                                     [person.radius[n] for n in person.limb_chain(side, limb)])
                      for side in ("l", "r") for limb in ("arm", "leg")}

    def trunk(self, y) -> np.ndarray:
        r = self.person.trunk_at(y)
        for ys, rx in self.profiles:
            inside = (np.asarray(y) <= ys[0]) & (np.asarray(y) >= ys[-1])
            r = np.maximum(r, np.where(inside, np.interp(y, ys[::-1], rx[::-1]), 0.0))
        return r

    def knots(self, top: float, bottom: float, step: float) -> np.ndarray:
        ys = [top, bottom, *self.person.trunk_y, *(y for ys, _ in self.profiles for y in ys)]
        ys += list(np.arange(bottom, top, step))    # dense knots keep legs and flares inside between joints
        ys = np.unique([y for y in ys if bottom <= y <= top])
        return ys[::-1]

    def legs(self, y: np.ndarray, margin: float) -> np.ndarray:
        """Half-width a trunk shell needs at heights y (k,) to hold both legs' outer tubes plus margin."""
        ratio, need = self.person.ratio, np.zeros(len(y))
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        for side in ("l", "r"):
            points, radii = self.limbs[side, "leg"]
            for (a, ra), (b, rb) in zip(zip(points[:-1], radii[:-1]), zip(points[1:], radii[1:])):
                s = np.clip((a[1] - y) / max(a[1] - b[1], 1e-9), 0, 1)
                span = (y <= a[1] + ra) & (y >= b[1])
                r = (ra + s * (rb - ra) + margin)[:, None]
                # The leg's round section must fit the shell's ellipse: test points around it.
                x = a[0] + s[:, None] * (b[0] - a[0]) + r * np.cos(angles)
                z = (a[2] + s[:, None] * (b[2] - a[2]) + r * np.sin(angles)) / ratio
                need = np.maximum(need, np.where(span, np.hypot(x, z).max(1), 0.0))
        return need


def _concave_majorant(ys: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Smallest profile ≥ r (over ys, top → bottom) whose flare never increases downwards: clean A-lines
    and pencil shapes instead of ledges where an inner layer or a leg pushes the garment out."""
    s = ys[0] - ys
    hull: list[int] = []
    for i in range(len(s)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (r[b] - r[a]) * (s[i] - s[a]) <= (r[i] - r[a]) * (s[b] - s[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    return np.interp(s, s[hull], r[hull])


def _simplify(ys: np.ndarray, rx: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop knots where the profile is straight to within `tolerance` (metres): fewer tubes, same shape."""
    keep, start = [0], 0
    for end in range(2, len(ys)):
        line = np.interp(ys[start:end + 1][::-1], [ys[end], ys[start]], [rx[end], rx[start]])[::-1]
        if np.abs(line - rx[start:end + 1]).max() > tolerance:
            keep.append(end - 1)
            start = end - 1
    keep.append(len(ys) - 1)
    return ys[keep], rx[keep]


def _shell(env: Envelope, ys: np.ndarray, rx: np.ndarray, label: int, material: int, cap_top: float,
           cap_bottom: float, clip) -> list[Primitive]:
    """A trunk garment as tubes between consecutive knots (top → bottom); texture height runs from the top."""
    ys, rx = _simplify(ys, rx, 0.001 * env.person.height)
    prims = []
    for i in range(len(ys) - 1):
        prims.append(tube((0, ys[i], 0), (0, ys[i + 1], 0), rx[i], rx[i + 1], label, material,
                          squash=env.person.ratio, cap0=cap_top if i == 0 else 0.0,
                          cap1=cap_bottom if i == len(ys) - 2 else 0.0, clip=clip, v0=ys[0] - ys[i]))
        prims[-1].part = "trunk"
        prims[-1].around_radius = float(np.mean(rx))
    env.profiles.append((ys, rx))
    return prims


def _limb_cover(env: Envelope, side: str, limb: str, reach: float, margin: float, widths, flare: float,
                label: int, material: int, v0: float = 0.0) -> list[Primitive]:
    """Sleeve or trouser leg over the limb's current outer tubes, to `reach` (0..1 of the limb's length)."""
    points, radii = env.limbs[side, limb]
    widths = list(widths) + [widths[-1]] * (len(radii) - len(widths))
    radii = [max(r + margin, w) for r, w in zip(radii, widths)]
    lengths = [float(np.linalg.norm(b - a)) for a, b in zip(points[:-1], points[1:])]
    remaining, covered_p, covered_r, prims = reach * sum(lengths), [points[0]], [radii[0]], []
    for i, seg in enumerate(lengths):
        if remaining <= 1e-6:
            break
        f = min(1.0, remaining / seg)
        end = points[i] + f * (points[i + 1] - points[i])
        r_end = radii[i] + f * (radii[i + 1] - radii[i])
        last = remaining <= seg + 1e-9
        if last:
            r_end *= flare
        prims.append(tube(points[i], end, radii[i], r_end, label, material, cap1=0.0 if last else r_end,
                          v0=v0 + sum(lengths[:i])))
        prims[-1].part = f"{side}_{limb}"
        prims[-1].around_radius = float(np.mean(radii))
        covered_p.append(end)
        covered_r.append(r_end)
        remaining -= seg
    # Outer layers wrap what is covered now; the bare rest of the limb keeps its own radii.
    rest_p = [p for p, c in zip(points, np.cumsum([0] + lengths)) if c > reach * sum(lengths) + 1e-6]
    rest_r = [r for r, c in zip(env.limbs[side, limb][1], np.cumsum([0] + lengths))
              if c > reach * sum(lengths) + 1e-6]
    env.limbs[side, limb] = (covered_p + rest_p, covered_r + rest_r)
    return prims


def _neckline(top: float, width: float, front: float, back: float, v_shape: bool):
    def cut(p: np.ndarray) -> np.ndarray:
        s = np.clip(1 - np.abs(p[:, 0]) / width, 0, 1) if v_shape else np.sqrt(np.clip(1 - (p[:, 0] / width) ** 2,
                                                                                       0, 1))
        depth = np.where(p[:, 2] > 0, front, back)
        return (s > 0) & (p[:, 1] > top - depth * s)
    return cut


def _upper_shell(env, rng, y_top, y_hem, label, material, margin, flare_from=None, flare=0.0, clip=None,
                 sleeveless=False) -> list[Primitive]:
    """Top, dress or coat body: follows the envelope from the shoulders, flares below `flare_from` if given."""
    person, h = env.person, env.person.height
    ys = env.knots(y_top, y_hem, 0.04 * h)
    rx = env.trunk(ys) + margin / person.ratio
    if flare_from is not None:
        start = float(env.trunk(flare_from)) + margin / person.ratio
        below = ys < flare_from
        rx = np.where(below, np.maximum(rx, start + flare * (flare_from - ys)), rx)
        rx = np.where(below, np.maximum(rx, env.legs(ys, margin)), rx)
        from_waist = ys <= flare_from
        rx[from_waist] = _concave_majorant(ys[from_waist], rx[from_waist])
    cap = env.cap_top + margin
    neck = _neckline(y_top + cap, rng.uniform(0.045, 0.07) * h, cap + rng.uniform(0.012, 0.07) * h, 0.6 * cap,
                     bool(rng.random() < 0.35))
    cuts = [neck] + ([clip] if clip else [])
    if sleeveless:
        strap, hole = rng.uniform(0.05, 0.07) * h, y_top - rng.uniform(0.04, 0.07) * h
        cuts.append(lambda p: (np.abs(p[:, 0]) > strap) & (p[:, 1] > hole))
    env.cap_top = cap
    return _shell(env, ys, rx, label, material, cap, 0.0, lambda p: np.logical_or.reduce([c(p) for c in cuts]))


def _sleeves(env, rng, reach, margin, label, material, loose=1.0) -> list[Primitive]:
    prims = []
    flare = rng.uniform(1.0, 1.4) if reach < 0.5 else rng.uniform(1.0, 1.2)
    for side in ("l", "r"):
        prims += _limb_cover(env, side, "arm", reach, margin, (0, 0, 0), flare * loose, label, material)
    return prims


def garment_primitives(person: Person, outfit: Outfit, rng: np.random.Generator):
    """Primitives of the outfit (plus socks sometimes) → (list, back_depth(y) for hair lying on the clothes)."""
    h, env, prims = person.height, Envelope(person), []
    y_sh, y_waist = person.trunk_y[0], person.trunk_y[2]
    margin = 0.011 * h
    flare = 0.2 if outfit.coat else 0.5      # a coat must hold the skirt: keep it from becoming a tent
    if outfit.top is not None:
        tucked = outfit.bottom != "skirt" and rng.random() < 0.35
        y_bottom = y_waist + rng.uniform(-0.015, 0.02) * h      # waistband of the bottom garment
        top_hem = (y_bottom - 0.03 * h) if tucked else y_waist - rng.uniform(0.03, 0.1) * h
        build_top = lambda: _top(env, rng, outfit.top, top_hem, margin, outfit.material("upper"))  # noqa: E731
        build_bottom = lambda: _bottom(env, rng, outfit.bottom, y_bottom, margin,  # noqa: E731
                                       outfit.material("bottom"), flare)
        for build in ((build_top, build_bottom) if tucked else (build_bottom, build_top)):
            prims += build()
    else:
        prims += _dress(env, rng, outfit.dress_sleeves, margin, outfit.material("upper"), flare)
    if outfit.coat:
        prims += _coat(env, rng, 0.017 * h, outfit.material("coat"))
    if outfit.bottom != "pants" and rng.random() < 0.35:
        prims += _socks(person, rng)
    back = lambda y: person.ratio * float(env.trunk(min(y, y_sh)))  # noqa: E731
    return prims, back


def _top(env: Envelope, rng, kind: str, hem: float, margin: float, material: int) -> list[Primitive]:
    prims = _upper_shell(env, rng, env.person.trunk_y[0], hem, LABEL["top"], material,
                         margin + rng.uniform(0, 0.01) * env.person.height)
    reach = rng.uniform(0.16, 0.3) if kind == "t-shirt" else rng.uniform(0.92, 0.99)
    return prims + _sleeves(env, rng, reach, margin, LABEL["top"], material)


def _bottom(env: Envelope, rng, kind: str, y_top: float, margin: float, material: int,
            max_flare: float) -> list[Primitive]:
    """Skirt, or pants/shorts: a seat from the waistband to the crotch plus two legs."""
    person, h = env.person, env.person.height
    if kind == "skirt":
        return _skirt(env, rng, y_top, y_top - rng.uniform(0.13, 0.38) * h, margin, material, max_flare)
    ys = env.knots(y_top, person.trunk_y[-1], 0.04 * h)
    prims = _shell(env, ys, env.trunk(ys) + margin / person.ratio, LABEL[kind], material, 0.0,
                   person.cap_bottom + margin, None)
    reach = rng.uniform(0.94, 1.0) if kind == "pants" else rng.uniform(0.22, 0.45)
    width = rng.uniform(0.0, 1.0) ** 2 * 0.07 * h     # most legs slim, some wide
    flare = rng.uniform(1.0, 1.35)
    for side in ("l", "r"):
        prims += _limb_cover(env, side, "leg", reach, margin, (0, width, width), flare, LABEL[kind], material,
                             v0=y_top - person.joints[f"{side}_hip"][1])
    return prims


def _dress(env: Envelope, rng, sleeves: str, margin: float, material: int, max_flare: float) -> list[Primitive]:
    y_waist, h = env.person.trunk_y[2], env.person.height
    prims = _upper_shell(env, rng, env.person.trunk_y[0], y_waist - rng.uniform(0.15, 0.42) * h, LABEL["dress"],
                         material, margin, flare_from=y_waist, flare=rng.uniform(0.03, 0.8 * max_flare),
                         sleeveless=sleeves == "none")
    if sleeves != "none":
        reach = rng.uniform(0.16, 0.3) if sleeves == "short" else rng.uniform(0.9, 0.99)
        prims += _sleeves(env, rng, reach, margin, LABEL["dress"], material)
    return prims


def _coat(env: Envelope, rng, margin: float, material: int) -> list[Primitive]:
    """A coat over everything, usually open at the front in a V that shows the clothes beneath."""
    y_waist, h = env.person.trunk_y[2], env.person.height
    lapel = y_waist + rng.uniform(-0.05, 0.1) * h
    half, slope = rng.uniform(0.01, 0.03) * h, rng.uniform(0.4, 1.0)
    opening = None
    if rng.random() < 0.7:
        opening = lambda p: (p[:, 2] > 0) & (  # noqa: E731
            np.abs(p[:, 0]) < half + slope * np.clip(p[:, 1] - lapel, 0, None))
    prims = _upper_shell(env, rng, env.person.trunk_y[0], y_waist - rng.uniform(0.15, 0.35) * h, LABEL["coat"],
                         material, margin, flare_from=y_waist, flare=rng.uniform(0.02, 0.2), clip=opening)
    return prims + _sleeves(env, rng, rng.uniform(0.95, 1.0), margin, LABEL["coat"], material, loose=1.05)


def _skirt(env: Envelope, rng, y_top: float, y_hem: float, margin: float, material: int,
           max_flare: float) -> list[Primitive]:
    person = env.person
    ys = env.knots(y_top, y_hem, 0.04 * person.height)
    start = float(env.trunk(y_top)) + margin / person.ratio
    rx = np.maximum(env.trunk(ys) + margin / person.ratio, start + rng.uniform(0.03, max_flare) * (y_top - ys))
    rx = _concave_majorant(ys, np.maximum(rx, env.legs(ys, margin)))
    return _shell(env, ys, rx, LABEL["skirt"], material, 0.0, 0.0, None)


def _socks(person: Person, rng) -> list[Primitive]:
    """Socks from the ankle up the shin; the leg tube stays inside them."""
    prims, reach = [], rng.uniform(0.15, 0.6)
    for side in ("l", "r"):
        knee, ankle = person.joints[f"{side}_knee"], person.joints[f"{side}_ankle"]
        top = ankle + reach * (knee - ankle)
        r_top = person.radius[f"{side}_ankle"] + reach * (person.radius[f"{side}_knee"] -
                                                          person.radius[f"{side}_ankle"])
        prims.append(tube(ankle, top, person.radius[f"{side}_ankle"] * 1.15, r_top * 1.1, 8, SOCKS,
                          cap1=0.0))
        prims[-1].part = f"{side}_leg"
    return prims
