"""A random person: posed 3-D skeleton, body shape, head with face and hair, and the COCO-18 keypoints.

All lengths are fractions of the person's height h (metres), taken from rough human proportions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from shards.synth.geometry import Primitive, axis_frame, ellipsoid, tube

# Material slots shared by every product; garments' fabrics follow from GARMENT_MATERIAL on.
SKIN, FACE, HAIR, SHOES, SOCKS, GARMENT_MATERIAL = 0, 1, 2, 3, 4, 5
UP, FORWARD = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
# Per COCO-18 keypoint: the body parts whose surface may cover it without hiding it (the joint is inside them)
# and how far (× h) in front of the joint that surface may be; any other part hides it beyond OTHER_TOLERANCE.
_OWN = [("head",), ("trunk", "neck", "head", "l_arm", "r_arm"), ("trunk", "r_arm"), ("r_arm",), ("r_arm",),
        ("trunk", "l_arm"), ("l_arm",), ("l_arm",), ("trunk", "r_leg"), ("r_leg",), ("r_leg",),
        ("trunk", "l_leg"), ("l_leg",), ("l_leg",), ("head",), ("head",), ("head",), ("head",)]
_OWN_TOLERANCE = np.array([0.05, 0.2, 0.1, 0.07, 0.08, 0.1, 0.07, 0.08, 0.1, 0.07, 0.13, 0.1, 0.07, 0.13,
                           0.05, 0.05, 0.05, 0.05])
OTHER_TOLERANCE = 0.02
_PART_OF_LABEL = {14: "l_arm", 15: "r_arm", 16: "l_leg", 17: "r_leg", 18: "l_leg", 19: "r_leg", 13: "head",
                  2: "head", 10: "trunk"}
HAIR_STYLES = ("short", "bob", "long", "bun")


@dataclass
class Person:
    height: float
    joints: dict[str, np.ndarray]            # body-frame positions, e.g. "l_elbow"; "l" = the person's left (+x)
    radius: dict[str, float]                 # limb radii at joints, e.g. "l_knee"
    trunk_y: np.ndarray                      # (k,) knot heights of the trunk, top → bottom
    trunk_rx: np.ndarray                     # (k,) half-widths there; half-depth = ratio × half-width
    ratio: float
    cap_top: float                           # height of the rounded shoulders above trunk_y[0]
    cap_bottom: float
    head_centre: np.ndarray
    head_radii: np.ndarray
    head_rot: np.ndarray
    foot_forward: dict[str, np.ndarray]
    hair_style: str
    face_points: dict[str, np.ndarray] = field(default_factory=dict)     # eyes, mouth, nose tip, ears
    face_normals: dict[str, np.ndarray] = field(default_factory=dict)

    def trunk_at(self, y: np.ndarray | float) -> np.ndarray:
        """Half-width of the bare trunk at height(s) y (0 outside the trunk)."""
        y = np.asarray(y, float)
        inside = (y <= self.trunk_y[0]) & (y >= self.trunk_y[-1])
        return np.where(inside, np.interp(y, self.trunk_y[::-1], self.trunk_rx[::-1]), 0.0)

    def limb_chain(self, side: str, limb: str) -> list[str]:
        names = ("shoulder", "elbow", "wrist") if limb == "arm" else ("hip", "knee", "ankle")
        return [f"{side}_{n}" for n in names]

    def keypoints(self) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]], np.ndarray]:
        """COCO-18 body-frame points (18, 3), own-part tolerances (18,) metres, own parts, face normals (18, 3).

        Face normals are 0 for body joints.
        """
        j, f = self.joints, self.face_points
        names = [f["nose"], (j["l_shoulder"] + j["r_shoulder"]) / 2]
        for side in ("r", "l"):
            names += [j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]]
        for side in ("r", "l"):
            names += [j[f"{side}_hip"], j[f"{side}_knee"], j[f"{side}_ankle"]]
        names += [f["r_eye"], f["l_eye"], f["r_ear"], f["l_ear"]]
        normals = np.zeros((18, 3))
        for index, key in ((0, "nose"), (14, "r_eye"), (15, "l_eye"), (16, "r_ear"), (17, "l_ear")):
            normals[index] = self.face_normals[key]
        return np.array(names), _OWN_TOLERANCE * self.height, _OWN, normals


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    yaw_m = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    pitch_m = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return yaw_m @ pitch_m


def _perpendicular(direction: np.ndarray, towards: np.ndarray) -> np.ndarray:
    v = towards - np.dot(towards, direction) * direction
    return v / (np.linalg.norm(v) + 1e-12)


def _limb(rng, side_sign: float, abduction: tuple, flexion: tuple, bend: tuple, bend_towards) -> tuple:
    """Directions of a limb's upper and lower segment from random joint angles (degrees)."""
    a, f, b = (np.radians(rng.uniform(*r)) for r in (abduction, flexion, bend))
    upper = np.array([side_sign * np.sin(a), -np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)])
    lower = np.cos(b) * upper + np.sin(b) * _perpendicular(upper, np.asarray(bend_towards(side_sign), float))
    return upper, lower / np.linalg.norm(lower)


def sample_person(rng: np.random.Generator, roomy: bool = False) -> Person:
    """Draw height, build and pose → Person standing on y = 0 and facing +z (roughly).

    `roomy` clothes (coats, dresses, skirts) get arms held further from the body, so hands do not end up inside
    the garment.
    """
    h = rng.uniform(1.55, 1.92)
    g = rng.uniform(0.88, 1.16)
    shoulders, waist, hips, limbs = (g * rng.uniform(0.93, 1.07) for _ in range(4))
    joints: dict[str, np.ndarray] = {}
    radius: dict[str, float] = {}
    lengths = {"arm": (0.18 * h, 0.155 * h), "leg": (0.245 * h, 0.215 * h)}
    directions = {}
    for side, s in (("l", 1.0), ("r", -1.0)):
        directions[side, "leg"] = _limb(rng, s, (1, 9), (-12, 14), (0, 22), lambda s: (0, 0, -1))
        directions[side, "arm"] = _limb(rng, s, (16, 36) if roomy else (7, 32), (-14, 24), (0, 75),
                                        lambda s: (-0.35 * s, 0, 1))
        joints[f"{side}_hip"] = np.array([s * 0.058 * h * hips, 0.5 * h, 0.0])
    # Stand on the lower foot: the hips drop as much as the legs bend or spread.
    ankle_y = min(0.5 * h + lengths["leg"][0] * directions[s, "leg"][0][1] + lengths["leg"][1] *
                  directions[s, "leg"][1][1] for s in ("l", "r"))
    lift = 0.042 * h - ankle_y
    y_sh = 0.818 * h + lift
    for side, s in (("l", 1.0), ("r", -1.0)):
        joints[f"{side}_hip"][1] += lift
        joints[f"{side}_shoulder"] = np.array([s * (0.1 * h * shoulders - 0.019 * h), y_sh - 0.019 * h, -0.006 * h])
        for limb, root in (("arm", "shoulder"), ("leg", "hip")):
            upper, lower = directions[side, limb]
            mid, end = ("elbow", "wrist") if limb == "arm" else ("knee", "ankle")
            joints[f"{side}_{mid}"] = joints[f"{side}_{root}"] + lengths[limb][0] * upper
            joints[f"{side}_{end}"] = joints[f"{side}_{mid}"] + lengths[limb][1] * lower
        radius.update({f"{side}_shoulder": 0.026 * h * limbs, f"{side}_elbow": 0.019 * h * limbs,
                       f"{side}_wrist": 0.015 * h * limbs, f"{side}_hip": 0.05 * h * limbs * hips,
                       f"{side}_knee": 0.032 * h * limbs, f"{side}_ankle": 0.02 * h * limbs})
    trunk_y = np.array([y_sh, 0.73 * h + lift, 0.625 * h + lift, 0.54 * h + lift, 0.478 * h + lift])
    trunk_rx = h * np.array([0.1 * shoulders, 0.088 * g, 0.072 * waist, 0.098 * hips, 0.092 * hips])
    turn = np.radians(rng.uniform(-16, 16))
    toe_out = {side: np.radians(rng.uniform(4, 20)) for side in ("l", "r")}
    feet = {side: np.array([s * np.sin(toe_out[side]), 0.0, np.cos(toe_out[side])])
            for side, s in (("l", 1.0), ("r", -1.0))}
    person = Person(height=h, joints=joints, radius=radius, trunk_y=trunk_y, trunk_rx=trunk_rx,
                    ratio=rng.uniform(0.58, 0.68), cap_top=0.032 * h, cap_bottom=0.035 * h,
                    head_centre=np.array([0.0, 0.935 * h + lift, 0.008 * h]),
                    head_radii=h * np.array([0.047, 0.063, 0.056]) * rng.uniform(0.94, 1.06),
                    head_rot=_rotation(turn, np.radians(rng.uniform(-7, 7))),
                    foot_forward=feet,
                    hair_style=str(rng.choice(HAIR_STYLES)))
    _place_face(person)
    return person


def _on_head(person: Person, direction) -> tuple[np.ndarray, np.ndarray]:
    """Point on the head ellipsoid in head-local `direction` and its outward body-frame normal."""
    u = np.asarray(direction, float)
    u = u / np.linalg.norm(u)
    point = person.head_centre + person.head_rot @ (person.head_radii * u)
    normal = person.head_rot @ (u / person.head_radii)
    return point, normal / np.linalg.norm(normal)


def _place_face(person: Person) -> None:
    h = person.height
    for key, direction in (("r_eye", (-0.36, 0.12, 0.92)), ("l_eye", (0.36, 0.12, 0.92)),
                           ("r_ear", (-1, 0, -0.1)), ("l_ear", (1, 0, -0.1)), ("mouth", (0, -0.55, 0.83)),
                           ("nose_base", (0, -0.15, 1))):
        person.face_points[key], person.face_normals[key] = _on_head(person, direction)
    forward = person.head_rot @ FORWARD
    person.face_points["nose"] = person.face_points["nose_base"] + 0.014 * h * forward
    person.face_normals["nose"] = forward


def body_primitives(person: Person) -> list[Primitive]:
    """Skin, face and shoes of the bare person (garments and hair are added by their own builders)."""
    h, j, r = person.height, person.joints, person.radius
    prims = []
    ys, rx = person.trunk_y, person.trunk_rx
    for i in range(len(ys) - 1):
        prims.append(tube((0, ys[i], 0), (0, ys[i + 1], 0), rx[i], rx[i + 1], 10, SKIN, squash=person.ratio,
                          cap0=person.cap_top if i == 0 else 0.0,
                          cap1=person.cap_bottom if i == len(ys) - 2 else 0.0))
    prims.append(tube((0, ys[0] - 0.03 * h, -0.008 * h), person.head_centre - np.array([0, 0.035 * h, 0.004 * h]),
                      0.027 * h, 0.025 * h, 10, SKIN))
    prims.append(ellipsoid(person.head_centre, person.head_radii, 13, FACE, rot=person.head_rot))
    prims.append(ellipsoid(person.face_points["nose_base"] + 0.004 * h * (person.head_rot @ FORWARD),
                           h * np.array([0.008, 0.013, 0.012]), 13, FACE, rot=person.head_rot))
    for side in ("l", "r"):
        prims.append(ellipsoid(person.face_points[f"{side}_ear"], h * np.array([0.007, 0.016, 0.011]), 13, FACE,
                               rot=person.head_rot))
    for side, arm_label, leg_label, shoe_label in (("l", 14, 16, 18), ("r", 15, 17, 19)):
        for chain, label in ((person.limb_chain(side, "arm"), arm_label), (person.limb_chain(side, "leg"), leg_label)):
            for a, b in zip(chain[:-1], chain[1:]):
                prims.append(tube(j[a], j[b], r[a], r[b], label, SKIN))
        forearm = j[f"{side}_wrist"] - j[f"{side}_elbow"]
        forearm /= np.linalg.norm(forearm)
        prims.append(ellipsoid(j[f"{side}_wrist"] + 0.045 * h * forearm, h * np.array([0.012, 0.023, 0.045]),
                               arm_label, SKIN, rot=axis_frame(forearm, np.array([1.0, 0, 0]))))
        forward = person.foot_forward[side]
        rot = np.stack([np.cross(UP, forward), UP, forward], axis=1)
        ankle = j[f"{side}_ankle"]
        prims.append(ellipsoid(ankle + 0.035 * h * forward - np.array([0, 0.02 * h, 0]),
                               h * np.array([0.028, 0.026, 0.064]), shoe_label, SHOES, rot=rot))
    for prim in prims:
        prim.part = _PART_OF_LABEL[prim.label]
    prims[len(ys) - 1].part = "neck"
    return prims


def hair_primitives(person: Person, back_depth: Callable[[float], float], rng: np.random.Generator,
                    volume: float) -> list[Primitive]:
    """Hair as a clipped shell around the head (+ a fall down the back or a bun).

    `back_depth(y)` is how far behind the body axis the outermost clothing reaches at height y, so long hair lies
    on top of whatever the person wears.
    """
    h, style = person.height, person.hair_style
    radii = person.head_radii * np.array([1.1, 1.07, 1.1]) * volume
    if style in ("bob", "long"):
        radii = radii * np.array([1.12, 1.02, 1.05])
    centre = person.head_centre + person.head_rot @ np.array([0, 0.006 * h, -0.006 * h])
    inverse = person.head_rot.T
    hairline = rng.uniform(0.3, 0.48)

    def cut(points: np.ndarray) -> np.ndarray:
        q = (points - centre) @ inverse.T / radii
        yn, zn = q[:, 1], q[:, 2]
        if style in ("bob", "long"):
            return ((yn < hairline) & (zn > 0.08)) | (yn < -0.85)
        return ((yn < hairline) & (zn > -0.28)) | (yn < -0.45 - 0.4 * np.clip(-zn, 0, 1))

    prims = [ellipsoid(centre, radii, 2, HAIR, rot=person.head_rot, clip=cut)]  # part "head" set below
    if style == "bun":
        top = person.head_rot @ np.array([0, 0.85 * radii[1], -0.5 * radii[2]])
        prims.append(ellipsoid(centre + top, np.full(3, 0.03 * h), 2, HAIR))
    if style == "long":
        y_sh = person.trunk_y[0]
        y_end = y_sh - rng.uniform(0.04, 0.16) * h
        start = person.head_centre + np.array([0, -0.015 * h, -0.55 * person.head_radii[2]])
        mid = np.array([0, y_sh + 0.025 * h, -(back_depth(y_sh) + 0.014 * h)])
        end = np.array([0, y_end, -(back_depth(y_end) + 0.012 * h)])
        prims.append(tube(start, mid, 0.055 * h, 0.07 * h, 2, HAIR, squash=0.35))
        prims.append(tube(mid, end, 0.07 * h, 0.075 * h, 2, HAIR, squash=0.3, cap0=0.0, cap1=0.02 * h))
    for prim in prims:
        prim.part = "head"
    return prims
