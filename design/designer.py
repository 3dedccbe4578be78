"""The design tool's Python API: `Designer(checkpoints).design(pose, textures, …)` → DesignResult, and `design(…)`.

Inputs are checked (regions, textures, pose, counts) before anything runs; every user mistake is a DesignError
(or a CheckpointError for checkpoints) with a one-line message.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from paint.data.labels import colourise
from paint.data.units import PATCH_REGIONS
from design.chain import Variant, VariantRequest, run_variants
from design.errors import DesignError
from design.poses import PoseSet, load_pose
from design.sheet import SHEET, contact_sheet, write_folder
from design.textures import Texture, load_texture
from paint.inference import load_pipeline, named_checkpoints, stage_checkpoints

DEMO_RUNS = Path("runs") / "demo"       # where the README's main command (scripts/demo.sh) writes its runs
MAX_VARIANTS = 64
RULES = {
    "views": "view 0 is the pose's own (or matched) view; the others come from the pose preset, or from the "
             "nearest preset view fitted by scale and offset for a single-view pose file",
    "codes": "variant k draws one LGN code z ~ N(0, I) seeded by (seed, k) and lays out every view with it",
    "texture_scale": "patch = garment bounding box × patch_max_frac at the model resolution; a larger photo is "
                     "shrunk to just cover it (centre cut), a smaller one keeps its pixel size and is tiled",
    "missing_texture": "a region without a texture gets no patch (TSN's texture-free rendering)",
    "alpha": "alpha < 128 marks pixels that are not texture",
}


def default_checkpoints() -> Path:
    """runs/demo under the working folder, else under the project folder (what scripts/demo.sh writes)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / DEMO_RUNS).is_dir():
            return root / DEMO_RUNS
    raise DesignError(f"no --checkpoints given and no {DEMO_RUNS}/ with the demo's checkpoints; run the README's "
                      f"main command (scripts/demo.sh) or pass --checkpoints DIR holding lgn/ tsn/ afn/")


def resolve_checkpoints(checkpoints: str | Path | dict | None) -> dict[str, Path]:
    """None (the demo's runs), a folder holding lgn/ tsn/ afn/, or {stage: checkpoint or run folder} →
    {stage: checkpoint folder}."""
    if isinstance(checkpoints, dict):
        return named_checkpoints(checkpoints)
    return stage_checkpoints(default_checkpoints() if checkpoints is None else checkpoints)


def check_regions(regions) -> None:
    """At least one texture, each for a known garment region (paint-design and the studio)."""
    unknown = sorted(set(regions) - set(PATCH_REGIONS))
    if unknown:
        raise DesignError(f"unknown garment region {unknown[0]!r}; valid regions: {', '.join(PATCH_REGIONS)}")
    if not regions:
        raise DesignError(f"give at least one texture (regions: {', '.join(PATCH_REGIONS)})")


def check_views(pose_set: PoseSet, views: int, option: str = "--views") -> None:
    """No more views than the pose has (`option` names the setting in the message)."""
    if views > len(pose_set.views):
        raise DesignError(f"{option} {views}: the pose has {len(pose_set.views)} views "
                          f"({', '.join(pose_set.views)}); ask for at most {len(pose_set.views)}")


def load_textures(textures: dict) -> dict[str, Texture]:
    """{region: path or Pillow image} → {region: Texture}; unknown regions are refused first."""
    check_regions(textures)
    return {region: load_texture(source) for region, source in textures.items()}


@dataclass
class DesignResult:
    """Every variant in every view."""
    view_names: list[str]
    images: np.ndarray      # (variants, views, R, R, 3) uint8
    layouts: np.ndarray     # (variants, views, R, R) uint8 labels (0..19)
    variants: list[Variant]
    record: dict            # checkpoints, seed, inputs, rules, files

    def sheet(self) -> Image.Image:
        return contact_sheet(self.images, self.layouts, self.view_names)

    def pictures(self) -> dict[str, Image.Image]:
        """File name → picture: each image and layout, each patch TSN received (alpha = validity), the sheet."""
        out = {}
        for k, variant in enumerate(self.variants):
            for v, view in enumerate(self.view_names):
                out[f"variant{k}_{view}.png"] = Image.fromarray(variant.images[v])
                out[f"variant{k}_{view}_layout.png"] = Image.fromarray(colourise(variant.layouts[v]))
            for region, patch in variant.patches.items():
                if patch is not None:
                    rgba = np.dstack([patch.pixels, patch.valid.astype(np.uint8) * 255])
                    out[f"variant{k}_patch_{region}.png"] = Image.fromarray(rgba, "RGBA")
        out[SHEET] = self.sheet()
        return out

    def save(self, out: str | Path) -> Path:
        """Write every picture and design.json into the folder `out` (all or nothing; see sheet.write_folder)."""
        pictures = self.pictures()
        return write_folder(out, pictures, {**self.record, "files": sorted([*pictures, "design.json"])})


class Designer:
    """The three trained stages, loaded once; `design` may be called many times."""

    def __init__(self, checkpoints: str | Path | dict | None = None, device: torch.device | str = "cpu"):
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise DesignError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise DesignError("--device cuda, but torch sees no GPU here; use --device cpu")
        self.checkpoints = resolve_checkpoints(checkpoints)
        self.models = load_pipeline(self.checkpoints, self.device)
        self.resolution = self.models["lgn"].cfg.data.resolution

    def describe(self) -> dict:
        return {s: {"path": str(m.path), "run_id": m.run_id, "step": m.step, "weights": m.weights,
                    "preset": m.cfg.preset} for s, m in self.models.items()}

    def design(self, pose: str | PoseSet, textures: dict, views: int = 3, variants: int = 4, seed: int = 0,
               pose_size: tuple[int, int] | None = None) -> DesignResult:
        """pose: preset name, pose JSON path or PoseSet; textures: {region: path or Pillow image} → DesignResult.
        Deterministic for a given seed; variant k is the same whatever `variants` is."""
        pose_set, loaded = check_request(pose, textures, views, variants, pose_size)
        return self.run(pose_set, loaded, views, variants, seed)

    def run(self, pose_set: PoseSet, textures: dict[str, Texture], views: int, variants: int,
            seed: int) -> DesignResult:
        """`design` on inputs already checked by `check_request`."""
        requests = variant_requests(pose_set, textures, views, variants, seed, self.resolution)
        outputs = [run_variants(self.models, [request], self.device)[0] for request in requests]
        return design_result(pose_set, requests, outputs, self.resolution, self.describe())


def variant_requests(pose_set: PoseSet, textures: dict[str, Texture], views: int, variants: int, seed: int,
                     resolution: int) -> list[VariantRequest]:
    """A checked request → one VariantRequest per variant (keypoints at the models' resolution)."""
    keypoints = [kp for _, kp in pose_set.at(resolution, views)]
    return [VariantRequest(keypoints, textures, seed, k) for k in range(variants)]


def design_result(pose_set: PoseSet, requests: list[VariantRequest], outputs: list[Variant], resolution: int,
                  checkpoints: dict, tool: str = "paint-design") -> DesignResult:
    """The variants of one request → DesignResult with its record (design.json; `tool` says who made it)."""
    first = requests[0]
    names = [name for name, _ in pose_set.at(resolution, len(first.keypoints))]
    record = {
        "tool": tool, "seed": first.seed, "variants": len(outputs), "views": names,
        "resolution": resolution, "checkpoints": checkpoints,
        "pose": {**pose_set.record, "keypoints": {n: np.round(kp, 2).tolist() for n, kp in zip(names, first.keypoints)}},
        "textures": {r: t.record for r, t in first.textures.items()},
        "regions_without_texture": [r for r in PATCH_REGIONS if r not in first.textures],
        "variant_details": [{"variant": r.variant, "code_seed": v.code_seed, "patches": v.patch_notes}
                            for r, v in zip(requests, outputs)],
        "rules": RULES,
    }
    return DesignResult(names, np.stack([v.images for v in outputs]), np.stack([v.layouts for v in outputs]),
                        outputs, record)


def check_request(pose, textures: dict, views: int, variants: int, pose_size) -> tuple[PoseSet, dict[str, Texture]]:
    """Everything about a request that can be checked without the models → (PoseSet, {region: Texture})."""
    for name, value, top in (("views", views, None), ("variants", variants, MAX_VARIANTS)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (top and value > top):
            raise DesignError(f"--{name} must be a whole number ≥ 1{f' and ≤ {top}' if top else ''}, got {value!r}")
    loaded = load_textures(dict(textures))
    pose_set = pose if isinstance(pose, PoseSet) else load_pose(str(pose), pose_size)
    check_views(pose_set, views)
    return pose_set, loaded


def design(pose: str | PoseSet, textures: dict, checkpoints: str | Path | dict | None = None, views: int = 3,
           variants: int = 4, seed: int = 0, pose_size: tuple[int, int] | None = None,
           device: torch.device | str = "cpu", out: str | Path | None = None) -> DesignResult:
    """One call: load the checkpoints (default: the demo's runs/demo), design, and write to `out` when given."""
    pose_set, loaded = check_request(pose, textures, views, variants, pose_size)
    result = Designer(checkpoints, device).run(pose_set, loaded, views, variants, seed)
    if out is not None:
        result.save(out)
    return result


