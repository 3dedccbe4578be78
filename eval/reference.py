"""The real-data reference row: real pictures of OTHER products (the train split) scored against the eval set's
real pictures, to show what FID a perfect generator could reach on this many images.

Per eval kind, the pictures are those the stage's FID compares: LGN colourised layouts, TSN views, AFN and
pipeline the target views of pairs (same pair rule). One train unit per eval unit: the train split's units of the
same kind and data config (resolution, pairs) are streamed in their fixed order beside the eval stream, so n is
the same on both sides; a train split with fewer units than the eval set is refused (EvalError) when it runs out.
Only FID applies (role "reference", method "real-train-images"): the paired metrics would compare unrelated
products. The train shards must not overlap the evaluated ones (check_train_shards).
"""
from __future__ import annotations

import torch

from eval.floors import floor_stages
from eval.floors.common import FloorRequest, train_batches
from eval.runner import EvalError, Evaluator
from paint.distributed import rank_and_world
from paint.images import to_unit_range
from paint.stages import stage_class
from paint.validation import Compared, picture_of

REFERENCE_METHOD = "real-train-images"
REFERENCE_METRICS = ("fid",)


def real_pictures(stage: str, batch) -> torch.Tensor:
    """The pictures a stage's FID compares, from a batch of its units → (B, 3, H, W) in [-1, 1]: its target
    (the pipeline's: the target view of a pair), colourised for a layout stage."""
    if stage == "pipeline":
        return batch["tgt_image"].float()
    described = stage_class(stage)
    return picture_of(batch[described.target_key()], described.output)


class RealTrainImages(Evaluator):
    """Train units' real pictures as the "output" for eval units, one for one, in stream order."""

    role, method, metrics = "reference", REFERENCE_METHOD, REFERENCE_METRICS
    checkpoint_step = None
    checkpoint_path = ""

    def __init__(self, stage: str, data, train_shards: str, limit: int | None = None):
        """stage: lgn | tsn | afn | pipeline; data: the eval units' config; train_shards: checked spec whose
        train split is streamed; limit: the eval --limit (the train stream keeps as many)."""
        if stage not in floor_stages():
            raise EvalError(f"no reference row for stage {stage!r}; choose one of {', '.join(floor_stages())}")
        self.stage, self.data, self.train_shards, self.limit = stage, data, train_shards, limit
        self.unit = "pair" if stage == "pipeline" else stage_class(stage).unit
        self.run_id = f"reference-{REFERENCE_METHOD}"
        self._stream = None
        self._pending: list[torch.Tensor] = []
        self._taken = 0

    def notes(self):
        return [f"reference: real {self.unit} pictures of other products from the train split of "
                f"{self.train_shards}, one per eval unit; FID only"]

    def reuse_key(self) -> tuple:
        """What fixes the pictures: the units (kind, size, pairs), which picture of them, the train shards."""
        described = None if self.stage == "pipeline" else stage_class(self.stage)
        picture = ("tgt_image", "image") if described is None else (described.target_key(), described.output)
        return (REFERENCE_METHOD, self.unit, picture, self.data.resolution, self.data.afn_eval_pairs,
                self.train_shards, self.limit)

    def _next_train(self, count: int, device) -> torch.Tensor:
        """The next `count` train pictures (count, 3, H, W); EvalError when the train split runs out."""
        if self._stream is None:
            rank, world = rank_and_world()
            self._stream = iter(train_batches(self.unit, self.data, self.train_shards, self.limit, rank, world))
        while len(self._pending) < count:
            batch = next(self._stream, None)
            if batch is None:
                raise EvalError(f"the train split of {self.train_shards!r} has fewer {self.unit} units than the eval "
                                f"set (ran out after {self._taken + len(self._pending)}); pass --train-shards with "
                                f"more products or a smaller --limit")
            self._pending.extend(real_pictures(self.stage, batch).unbind(0))
        taken, self._pending = self._pending[:count], self._pending[count:]
        self._taken += count
        return torch.stack(taken).to(device)

    def predict(self, batch):
        real = real_pictures(self.stage, batch)
        return Compared(self._next_train(len(real), real.device), real)

    def pictures(self, batch, compared):
        return {"train_picture": to_unit_range(compared.fake), "eval_picture": to_unit_range(compared.real)}


def make_reference(stage: str, request: FloorRequest, limit: int | None = None) -> RealTrainImages:
    """The reference row of `stage` on the eval units `request.data` describes (train shards checked)."""
    return RealTrainImages(stage, request.data, request.train(), limit)
