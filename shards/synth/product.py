"""One synthetic product: a dressed person rendered from several views, with layouts and keypoints."""
from __future__ import annotations

import numpy as np

from paint.data.contract import ProductSample, ViewSample
from shards.synth.body import OTHER_TOLERANCE, body_primitives, hair_primitives, sample_person
from shards.synth.garments import garment_primitives, sample_outfit
from shards.synth.render import (Frame, backdrop, downsample, floor_shadow, project_keypoints, rasterise, shade,
                                 view_rotation)
from shards.synth.textures import Face, Hair, Plain, contrasting, hair_colour, random_colour, skin_tone

# Camera yaw per view id (degrees around the person; 90 = their left side). The first four are the contract's
# usual views; more views continue around the person.
VIEW_YAWS = {"front": 0.0, "back": 180.0, "side": 90.0, "threequarter": 45.0,
             "view4": 270.0, "view5": 315.0, "view6": 135.0, "view7": 225.0}
MAX_VIEWS = len(VIEW_YAWS)
SUPERSAMPLING = 2
# A face point counts as seen while its surface normal is at most this far turned away (cosine); ears stick out
# of the head, so they stay visible a little longer. Body joints (normal 0) always pass.
FACING = np.array([-0.25] + [-1.0] * 13 + [-0.1, -0.1, -0.4, -0.4])


def view_ids(views: int) -> list[str]:
    return list(VIEW_YAWS)[:views]


def split_of(index: int) -> str:
    """Fixed split rule, 80/10/10: any 3 consecutive products from 0 cover train, val and test."""
    return {1: "val", 2: "test"}.get(index % 10, "train")


def product_id(index: int) -> str:
    return f"synth{index:06d}"


def _materials(rng: np.random.Generator, person, fabrics) -> list:
    skin = skin_tone(rng)
    lips = np.clip(skin * np.array([0.85, 0.55, 0.55]), 0, 1)
    iris = hair_colour(rng) * 0.6
    face = Face(skin, np.stack([person.face_points["r_eye"], person.face_points["l_eye"]]),
                person.face_points["mouth"], person.height, lips, iris)
    shoes = random_colour(rng) * 0.7 if rng.random() < 0.5 else np.full(3, rng.uniform(0.05, 0.3))
    socks = contrasting(rng, shoes)
    return [Plain(skin), face, Hair(hair_colour(rng), int(rng.integers(1 << 30)), person.height), Plain(shoes),
            Plain(socks), *fabrics.values()]


def render_product(seed: int, index: int, views: int, size: int) -> ProductSample:
    """Product `index` of the synthetic set drawn from `seed` → ProductSample with `views` views of size × size.

    All randomness comes from (seed, index), so the bytes do not depend on how products are spread over
    processes. Views follow VIEW_YAWS' order ("front", "back", "side", "threequarter", "view4", …).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    outfit = sample_outfit(rng)
    person = sample_person(rng, outfit.roomy)
    garments, back_depth = garment_primitives(person, outfit, rng)
    prims = body_primitives(person) + garments + hair_primitives(person, back_depth, rng, rng.uniform(1.0, 1.06))
    materials = _materials(rng, person, outfit.fabrics)
    labels = np.array([p.label for p in prims] + [0], dtype=np.uint8)   # owner −1 (background) → label 0

    h = person.height
    width = h * rng.uniform(1.1, 1.17)
    frame = Frame(left=-width / 2 + rng.uniform(-0.02, 0.02) * h,
                  top=h + (width - h) / 2 + rng.uniform(-0.01, 0.015) * h, width=width)
    body_yaw = rng.uniform(-8, 8)
    tint = rng.uniform(-0.015, 0.015, 3)
    top_colour = np.clip(rng.uniform(0.95, 0.995) + tint, 0, 1)
    bottom_colour = top_colour * rng.uniform(0.9, 0.96)
    joints, own_tolerance, own_parts, face_normals = person.keypoints()
    parts = [p.part for p in prims]
    feet = (person.joints["l_ankle"] + person.joints["r_ankle"]) / 2
    n = size * SUPERSAMPLING
    studio = backdrop(frame, n, top_colour, bottom_colour)

    out = {}
    for view in view_ids(views):
        rot = view_rotation(VIEW_YAWS[view] + body_yaw)
        depth, owner, kinds = rasterise(prims, rot, frame, n)
        rgb = shade(prims, materials, rot, frame, depth, owner, kinds)
        behind = floor_shadow(studio, frame, float((rot @ feet)[0]), 0.22 * h)
        rgb = np.where((owner >= 0)[:, :, None], rgb, behind)
        rgb, label_map = downsample(rgb, labels[owner], SUPERSAMPLING)
        facing = face_normals @ rot[2] > FACING   # rot[2]: towards the camera, in the body frame
        pose = project_keypoints(joints, own_parts, own_tolerance, OTHER_TOLERANCE * h, facing, rot, frame, size,
                                 depth, owner, parts)
        image = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
        out[view] = ViewSample(image=image, parsing=label_map.astype(np.uint8), pose=pose)
    return ProductSample(product_id=product_id(index), category=outfit.category, views=out, source="synthetic",
                         split=split_of(index),
                         extra={"description": outfit.description(), "hair": person.hair_style,
                                "height_m": round(float(h), 3)})
