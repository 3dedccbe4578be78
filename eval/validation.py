"""Cheap periodic validation, eval/'s view of it: paint.validation's L1 and SSIM on the first N eval units, plus FID
when asked (costly on CPU: each image runs through Inception-v3 at 299 px).

paint/ cannot import eval/, so the training loop's hook (`fit(..., validator=...)`, enabled by train.val_units)
uses paint.validation directly; Tune trials or scripts that want FID as well call `validate_with_fid` here.
"""
from __future__ import annotations

import torch
from torch import nn

from eval.metrics import FID
from paint.stages.base import Stage
from paint.validation import ValidationScores, validation_batches


def validate_with_fid(stage: Stage, generator: nn.Module, cfg, n: int, shards: str | None = None,
                      split: str | None = "val", fid: bool = False, inception_weights: str | None = None,
                      device: torch.device | str = "cpu") -> dict[str, float]:
    """Score `generator` on the first `n` units of `shards` (default cfg.data.val_shards).

    Returns {"val/l1", "val/ssim", "val/units"[, "val/pixel_acc"][, "val/fid"]}: L1 on [-1, 1] images, SSIM on
    [0, 1] images, FID over the n outputs vs their targets (fid=True; needs n ≥ 2 and the Inception weights,
    MissingWeightsError otherwise). Layout stages are scored on colourised layouts, plus pixel accuracy.
    """
    scores = ValidationScores()
    metric = FID(inception_weights).to(device) if fid else None
    for compared in validation_batches(stage, generator, cfg.data, n, shards, split, device):
        scores.update(compared)
        if metric is not None:
            metric.update(compared.fake, real=False)
            metric.update(compared.real, real=True)
    out = scores.compute()
    if metric is not None and out:
        out["val/fid"] = float(metric.compute())
    return out

