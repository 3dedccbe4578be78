"""What every floor shares: its settings, its eval units' data config, the train-split guard, the train-view scan
and the evaluator base class (role "floor", run_id "floor-<name>")."""
from __future__ import annotations

import dataclasses

import torch

from eval.metrics import IMAGE_METRICS, METRIC_NAMES
from eval.runner import EvalError, Evaluator
from paint.config import DataConfig
from paint.data.stream import eval_loader, expand_urls
from paint.stages import make_config

# Image floors are scored on every registered image metric, L1 (mean |fake − real| on [0, 1]) included.
L1_METRIC = "l1"
FLOOR_IMAGE_METRICS: tuple[str, ...] = tuple(dict.fromkeys(
    IMAGE_METRICS + ((L1_METRIC,) if L1_METRIC in METRIC_NAMES else ())))
FLOOR_LAYOUT_METRICS: tuple[str, ...] = FLOOR_IMAGE_METRICS + ("layout",)


@dataclasses.dataclass(frozen=True)
class FloorSettings:
    """How floors read the train split and their own sizes (plain values: travels to Ray workers in the spec).

    train_limit: train views read by LGN/TSN floors (the first N of the train split's fixed order);
    neighbours: K of nearest-pose-mean-layout; pose_bins / bin_iterations: k-means bins of pose-bin-mean-layout
    and its Lloyd iterations."""
    train_limit: int = 2000
    neighbours: int = 8
    pose_bins: int = 16
    bin_iterations: int = 10

    def check(self) -> "FloorSettings":
        for name in ("train_limit", "neighbours", "pose_bins", "bin_iterations"):
            if getattr(self, name) < 1:
                raise EvalError(f"floor setting {name} must be ≥ 1, got {getattr(self, name)}; "
                                f"pass --{name.replace('_', '-')} N with N ≥ 1")
        return self


@dataclasses.dataclass
class FloorRequest:
    """What a floor builder gets: the eval units' data config, the eval shards/split (for the overlap guard), the
    train shards (None: the eval spec's train split), settings and the device its tables live on."""
    data: DataConfig
    eval_shards: str
    split: str | None
    train_shards: str | None = None
    settings: FloorSettings = dataclasses.field(default_factory=FloorSettings)
    device: torch.device | str = "cpu"

    def train(self) -> str:
        """The train spec, checked not to overlap the evaluated shards."""
        spec = self.train_shards or self.eval_shards
        check_train_shards(spec, self.eval_shards, self.split)
        return spec


def floor_data(stage: str, preset: str = "small", resolution: int | None = None) -> DataConfig:
    """The eval units' data config of a floor or reference row: the stage's preset, optionally at another
    resolution. "pipeline": AFN's pairs with TSN's patch rule and seed, as eval/pipeline.py composes them."""
    if stage == "pipeline":
        afn, tsn = floor_data("afn", preset, resolution), floor_data("tsn", preset, resolution)
        return dataclasses.replace(afn, patch_canvas=tsn.patch_canvas, seed=tsn.seed,
                                   patch_min_frac=tsn.patch_min_frac, patch_max_frac=tsn.patch_max_frac)
    data = make_config(stage, preset).data
    return dataclasses.replace(data, resolution=resolution) if resolution else data


def check_train_shards(train_shards: str, eval_shards: str, split: str | None) -> list[str]:
    """The train split's shard URLs; EvalError when they overlap the evaluated ones (a floor or reference row
    would then be built from the very units it is scored on)."""
    train = expand_urls(train_shards, "train")
    overlap = set(train) & set(expand_urls(eval_shards, split))
    if overlap:
        raise EvalError(f"the train shards include evaluated shards (e.g. {sorted(overlap)[0]!r}); pass a shard "
                        f"folder with a train split or --train-shards")
    return train


def train_batches(unit: str, data: DataConfig, shards: str, limit: int | None, rank: int = 0, world: int = 1):
    """Batches of the train split's first `limit` units of kind `unit`, in the stream's fixed order (strict=False:
    a bad train row is skipped, not fatal)."""
    return eval_loader(unit, data, rank, world, shards=shards, limit=limit, split="train", strict=False)


def scan_train_views(data: DataConfig, shards: str, limit: int, *collectors) -> int:
    """Feed every batch of the first `limit` train views to each collector's `add(batch)`; returns the view count.
    One pass serves several floors (the pipeline floor needs poses and class colours)."""
    views = 0
    for batch in train_batches("view", data, shards, limit):
        for collector in collectors:
            collector.add(batch)
        views += len(batch["key"])
    if not views:
        raise EvalError(f"no train views in {shards!r} for a floor; pass --train-shards with a train split")
    return views


class FloorEvaluator(Evaluator):
    """A non-learned method scored like a model. `identify` stamps the registry entry's stage, name and metrics."""

    role = "floor"
    method = "floor"
    checkpoint_step = None
    checkpoint_path = ""

    def identify(self, stage: str, name: str, metrics: tuple[str, ...]) -> "FloorEvaluator":
        self.stage, self.method, self.metrics, self.run_id = stage, name, metrics, f"floor-{name}"
        return self
