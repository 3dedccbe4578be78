"""The shared shape of SSIM and LPIPS: a per-image score of (fake, real) pairs, averaged over images as running
sums (float64 sum and count, sum-reduced across a torch.distributed group), so memory is flat and N processes give
the 1-process mean."""
from __future__ import annotations

import torch
from torchmetrics import Metric

from eval.metrics.images import ValueRange, check_pair, check_value_range
from eval.metrics.registry import NoDataError


class PairedMeanMetric(Metric):
    """Mean of `per_image(fake, real)` over every pair given to update(fake, real), (B, 3, H, W) float in
    `value_range`. Subclasses set `name` and implement `per_image` → (B,) or (B, 1, 1, 1) scores."""

    full_state_update = False
    is_differentiable = False
    name = "metric"

    def __init__(self, value_range: ValueRange = (-1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.value_range = check_value_range(value_range)
        self.add_state("score_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def per_image(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def update(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        check_pair(fake, real)
        fake, real = fake.to(self.device), real.to(self.device)
        self.score_sum = self.score_sum + self.per_image(fake, real).double().sum()
        self.count = self.count + fake.shape[0]

    def compute(self) -> torch.Tensor:
        if int(self.count) == 0:
            raise NoDataError(f"{self.name} has no images; call update(fake, real) first")
        self._counts = {"n_images": int(self.count)}
        return self.score_sum / self.count

    def counts(self) -> dict[str, int]:
        """Image count (all ranks) behind the last compute()."""
        return dict(getattr(self, "_counts", {}))
