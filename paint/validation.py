"""Cheap periodic validation for training and Tune: the first N evaluation units of the val shards, scored with
L1 and SSIM (and pixel accuracy for layouts). No pretrained network, so it costs seconds, not minutes.

What a stage's output is compared with is decided here once (`compare_outputs`) and reused by eval/: an RGB stage
(B, 3, H, W) in [-1, 1] against the unit's target image; a layout stage (B, 20, H, W) logits against the unit's
layout, as argmax labels and as colourised pictures, so every stage has image scores.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import torch
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from paint.data.labels import IGNORE
from paint.data.stream import eval_loader
from paint.images import to_unit_range
from paint.stages.base import Batch, Stage, move_batch
from paint.stages.visuals import layout_picture


@dataclasses.dataclass
class Compared:
    """One batch's output and target: images (B, 3, H, W) float in [-1, 1]; labels (B, H, W) int64 for layout
    stages (ground truth 255 = ignore), else None. label_samples (B, K, H, W) int64: K layouts per unit drawn with
    K codes (labels is then sample 0); None for a method that gives one layout per unit."""
    fake: torch.Tensor
    real: torch.Tensor
    labels: torch.Tensor | None = None
    gt_labels: torch.Tensor | None = None
    label_samples: torch.Tensor | None = None


def compare_outputs(stage: Stage, generator: nn.Module, batch: Batch) -> Compared:
    """Run `stage.infer` on `batch` and pair it with its target (`stage.target_key()`)."""
    output, target = stage.infer(generator, batch), batch[stage.target_key()]
    if stage.output == "layout":   # logits vs labels; pictures colourised
        return Compared(picture_of(output, "layout"), picture_of(target, "layout"), output.argmax(1), target)
    return Compared(output.float(), target.float())


def picture_of(value: torch.Tensor, output: str) -> torch.Tensor:
    """What an image metric sees of a stage's output or target: (B, 3, H, W) float in [-1, 1]; layouts (logits or
    labels) colourised."""
    return layout_picture(value) * 2 - 1 if output == "layout" else value.float()


def ssim_scores(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] twice → (B,) SSIM (Gaussian 11, σ 1.5, data range 1 on [0, 1] images). torchmetrics
    averages the padded border too, so this tracks training, not the leaderboard's SSIM (eval.metrics.SSIM)."""
    return structural_similarity_index_measure(to_unit_range(fake), to_unit_range(real), gaussian_kernel=True, sigma=1.5,
                                               kernel_size=11, data_range=1.0, reduction="none")


class ValidationScores:
    """Running sums over batches → mean L1 (on [-1, 1] images), mean SSIM and layout pixel accuracy."""

    def __init__(self):
        self.l1_sum = self.ssim_sum = 0.0
        self.images = 0
        self.correct = self.labelled = 0

    def update(self, compared: Compared) -> None:
        fake, real = compared.fake.float(), compared.real.float()
        self.l1_sum += float((fake - real).abs().mean(dim=(1, 2, 3)).sum())
        self.ssim_sum += float(ssim_scores(fake, real).sum())
        self.images += fake.shape[0]
        if compared.labels is not None:
            valid = compared.gt_labels != IGNORE
            self.correct += int(((compared.labels == compared.gt_labels) & valid).sum())
            self.labelled += int(valid.sum())

    def compute(self, prefix: str = "val/") -> dict[str, float]:
        """{prefix+"l1", prefix+"ssim", prefix+"units"[, prefix+"pixel_acc"]}; empty when nothing was scored."""
        if self.images == 0:
            return {}
        out = {f"{prefix}l1": self.l1_sum / self.images, f"{prefix}ssim": self.ssim_sum / self.images,
               f"{prefix}units": float(self.images)}
        if self.labelled:
            out[f"{prefix}pixel_acc"] = self.correct / self.labelled
        return out


def validation_batches(stage: Stage, generator: nn.Module, data_cfg, n: int, shards: str | None = None,
                       split: str | None = "val", device: torch.device | str = "cpu") -> Iterator[Compared]:
    """`Compared` batches for the first `n` evaluation units of `shards` (default data_cfg.val_shards), read in
    this process (no loader workers), generator in eval mode without gradients."""
    cfg = dataclasses.replace(data_cfg, loader_workers=0)
    loader = eval_loader(stage.unit, cfg, 0, 1, shards=shards, limit=n, split=split)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                yield compare_outputs(stage, generator, move_batch(batch, torch.device(device)))
    finally:
        generator.train(was_training)


def validate(stage: Stage, generator: nn.Module, cfg, n: int, shards: str | None = None,
             split: str | None = "val", device: torch.device | str = "cpu") -> dict[str, float]:
    """Score `generator` on the first `n` val units: {"val/l1", "val/ssim", "val/units"[, "val/pixel_acc"]}."""
    scores = ValidationScores()
    for compared in validation_batches(stage, generator, cfg.data, n, shards, split, device):
        scores.update(compared)
    return scores.compute()


def make_validator(cfg, n: int | None = None, shards: str | None = None) -> Callable:
    """A `validator(engine) -> dict` for `paint.train_loop.fit`: validates the engine's inference generator (EMA
    when present) on the first `n` (default cfg.train.val_units) units of `shards` (default cfg.data.val_shards)."""
    count = cfg.train.val_units if n is None else n

    def validator(engine) -> dict[str, float]:
        return validate(engine.stage, engine.inference_generator(), cfg, count, shards,
                        device=engine.accelerator.device)
    return validator
