"""Former home of the non-learned baselines, now the floors of eval/floors/ (role "floor"); kept as a thin
re-export for old imports. New code imports eval.floors."""
from __future__ import annotations

from eval.floors import FloorRequest, FloorSettings, check_train_shards, floor_data, make_floor
from eval.floors.lgn import pose_distance, pose_keypoints
from eval.floors.tsn import tile_patch

TRAIN_LIMIT = FloorSettings().train_limit
baseline_data = floor_data


def make_baseline(stage: str, data, eval_shards: str, split: str | None, train_shards: str | None = None,
                  limit: int = TRAIN_LIMIT, device="cpu"):
    """The stage's default floor (see eval.floors.make_floor)."""
    return make_floor(stage, None, FloorRequest(data, eval_shards, split, train_shards,
                                                FloorSettings(train_limit=limit), device))


__all__ = ["TRAIN_LIMIT", "baseline_data", "check_train_shards", "make_baseline", "pose_distance", "pose_keypoints",
           "tile_patch"]
