"""Floors: per stage, the strongest non-learned methods that use exactly the inputs the stage's model gets, scored
by the same pass as any model and written as leaderboard rows (role "floor", method = the floor's name, run_id
"floor-<name>").

Each registry entry names a floor, says in one line what it outputs, which metrics it is scored on, whether its
outputs are real images (then its FID measures realism of real photos — a reference, not a floor:
`real_output_floors`) and how to build it. A stage's first floor is its default (`paint-eval --floor STAGE`).
Adding a floor = one builder function + one entry in FLOORS (here), or `register_floor(Floor(...))` from anywhere
(a stage defined outside this package registers its floors that way).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from eval.floors.afn import ColourPrior, CopySource, PriorBlendSource
from eval.floors.common import (FLOOR_IMAGE_METRICS, FLOOR_LAYOUT_METRICS, FloorEvaluator,
                                FloorRequest, FloorSettings, check_train_shards, floor_data, scan_train_views)
from eval.floors.lgn import NearestPoseLayout, PoseBinLayout, PoseCollector
from eval.floors.tsn import ColourCollector, PatchMean, TiledPatch
from eval.runner import EvalError


@dataclass(frozen=True)
class Floor:
    stage: str
    name: str
    description: str
    metrics: tuple[str, ...]
    real_outputs: bool
    needs_train: bool                                   # reads the train split (the overlap guard applies)
    build: Callable[[FloorRequest], FloorEvaluator]


# --- builders: FloorRequest → evaluator ------------------------------------------------------------------------

# (data config, train spec, train_limit) → {collector class: filled collector, "views": count}: the floors of one
# paint-eval process (a `batch` of commands) share each scan of the train views instead of repeating it per floor.
_SCANS: dict[tuple, dict] = {}
_KEPT_SCANS = 4


def _collected(request: FloorRequest, *kinds: type) -> tuple[str, int, list]:
    """(train spec, views scanned, one filled collector per kind) over the first train_limit train views."""
    train = request.train()
    key = (repr(request.data), train, request.settings.train_limit)
    done = _SCANS.setdefault(key, {})
    missing = [kind() for kind in kinds if kind not in done]
    if missing:
        done["views"] = scan_train_views(request.data, train, request.settings.train_limit, *missing)
        done.update({type(collector): collector for collector in missing})
    while len(_SCANS) > _KEPT_SCANS:
        _SCANS.pop(next(iter(_SCANS)))
    return train, done["views"], [done[kind] for kind in kinds]


def _poses(request: FloorRequest):
    train, views, (poses,) = _collected(request, PoseCollector)
    return poses.references(), f"{train}", views


def _nearest_pose(request: FloorRequest):
    refs, source, _ = _poses(request)
    return NearestPoseLayout(request.data, refs, request.settings.neighbours, source, request.device)


def _pose_bins(request: FloorRequest):
    refs, source, _ = _poses(request)
    s = request.settings
    return PoseBinLayout(request.data, refs, s.pose_bins, s.bin_iterations, source, request.device)


def _class_colours(request: FloorRequest):
    train, views, (colours,) = _collected(request, ColourCollector)
    return colours.colours(), f"{views} train views ({train})"


def _tiled_patch(request: FloorRequest):
    return TiledPatch(request.data, *_class_colours(request), request.device)


def _patch_mean(request: FloorRequest):
    return PatchMean(request.data, *_class_colours(request), request.device)


def _chained(request: FloorRequest):
    from eval.floors.pipeline import CHAINED_TSN, ChainedFloors   # imports eval.pipeline: only when asked

    s = request.settings
    train, views, (poses, colours) = _collected(request, PoseCollector, ColourCollector)
    layout = NearestPoseLayout(request.data, poses.references(), s.neighbours, train, request.device)
    design = {"patch-mean": PatchMean, "tiled-patch": TiledPatch}[CHAINED_TSN]
    return ChainedFloors(request.data, layout,
                         design(request.data, colours.colours(), f"{views} train views ({train})", request.device))


FLOORS: dict[str, tuple[Floor, ...]] = {
    "lgn": (
        Floor("lgn", "nearest-pose-mean-layout", "per-pixel majority class of the K nearest train poses' layouts",
              FLOOR_LAYOUT_METRICS, False, True, _nearest_pose),
        Floor("lgn", "pose-bin-mean-layout", "per-pixel majority class of the train layouts in the query's k-means "
              "pose bin (empty bin: of all train layouts)", FLOOR_LAYOUT_METRICS, False, True, _pose_bins),
    ),
    "tsn": (
        Floor("tsn", "tiled-patch", "garment regions tiled with their patch; other pixels their class's mean colour "
              "over train views", FLOOR_IMAGE_METRICS, False, True, _tiled_patch),
        Floor("tsn", "patch-mean", "garment regions in their patch's mean colour (TSN's colour prior); other pixels "
              "their class's mean colour over train views", FLOOR_IMAGE_METRICS, False, True, _patch_mean),
    ),
    "afn": (
        Floor("afn", "copy-source", "the source view as the target view (real images)", FLOOR_IMAGE_METRICS, True,
              False, lambda request: CopySource(request.data)),
        Floor("afn", "colour-prior", "each body group's mean source colour painted into the target layout (AFN's "
              "colour prior)", FLOOR_IMAGE_METRICS, False, False, lambda request: ColourPrior(request.data)),
        Floor("afn", "prior-blend-source", "AFN's output at init (texture gate shut): 0.5 source + 0.5 "
              "colour prior, zero flow",
              FLOOR_IMAGE_METRICS, False, False, lambda request: PriorBlendSource(request.data)),
    ),
    "pipeline": (
        Floor("pipeline", "chained-floors", "nearest-pose-mean-layout -> patch-mean -> colour-prior on the "
              "pipeline's pairs and patches", FLOOR_LAYOUT_METRICS, False, True, _chained),
    ),
}


def register_floor(floor: Floor) -> None:
    """Add `floor` to its stage's floors (after those already there; a stage's first floor is its default). A
    floor of the same stage and name is replaced (re-imports in tests)."""
    kept = tuple(f for f in FLOORS.get(floor.stage, ()) if f.name != floor.name)
    FLOORS[floor.stage] = (*kept, floor)


def floor_stages() -> tuple[str, ...]:
    """The stages (and "pipeline") that have floors, in registration order."""
    return tuple(FLOORS)


def floors(stage: str) -> tuple[Floor, ...]:
    """The stage's floors, default first; EvalError for a stage without floors."""
    if stage not in FLOORS:
        raise EvalError(f"no floors for stage {stage!r}; choose one of {', '.join(FLOORS)}")
    return FLOORS[stage]


def get_floor(stage: str, name: str | None = None) -> Floor:
    """The floor `name` of `stage` (None: the stage's default); EvalError listing the valid names."""
    entries = floors(stage)
    if name is None:
        return entries[0]
    for entry in entries:
        if entry.name == name:
            return entry
    raise EvalError(f"no floor {name!r} for stage {stage}; choose --method from "
                    f"{', '.join(e.name for e in entries)} (or --method list)")


def real_output_floors() -> set[tuple[str, str]]:
    """(stage, name) of the floors whose outputs are real images: their FID is a realism reference, not a floor."""
    return {(e.stage, e.name) for entries in FLOORS.values() for e in entries if e.real_outputs}


def describe_floors(stage: str) -> str:
    """One line per floor of `stage`: name, description, metrics (default first, marked)."""
    lines = [f"floors of {stage} (--method NAME; default first):"]
    for i, entry in enumerate(floors(stage)):
        mark = " (default)" if i == 0 else ""
        real = "; real images: FID is a realism reference" if entry.real_outputs else ""
        lines.append(f"  {entry.name}{mark}: {entry.description} [metrics: {', '.join(entry.metrics)}{real}]")
    return "\n".join(lines) + "\n"


def make_floor(stage: str, name: str | None, request: FloorRequest) -> FloorEvaluator:
    """Build the floor `name` (None: default) of `stage` on the eval units `request.data` describes."""
    entry = get_floor(stage, name)
    request.settings.check()
    return entry.build(request).identify(entry.stage, entry.name, entry.metrics)


__all__ = ["FLOORS", "FLOOR_IMAGE_METRICS", "FLOOR_LAYOUT_METRICS", "Floor", "FloorEvaluator", "FloorRequest",
           "FloorSettings", "check_train_shards", "describe_floors", "floor_data", "floor_stages", "floors",
           "get_floor", "make_floor", "real_output_floors", "register_floor"]
