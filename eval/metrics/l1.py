"""L1: mean absolute difference of fake vs real images on [0, 1], over every pixel and channel of every unit.

Kept as two running sums (float64 |difference| sum, int64 element count), sum-reduced across a torch.distributed
group, so memory is flat and N processes give the 1-process mean. Lower is better; 0 = identical images.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric

from eval.metrics.images import ValueRange, check_pair, check_value_range, to_unit
from eval.metrics.registry import Column, MetricSpec, NoDataError


class L1(Metric):
    """update(fake, real): (B, 3, H, W) float in `value_range` ((-1, 1) default, or (0, 1)); both mapped to [0, 1]
    (clamped). compute() → float64 scalar tensor: Σ|fake − real| / number of values."""

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(self, value_range: ValueRange = (-1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.value_range = check_value_range(value_range)
        self.add_state("abs_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n_values", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("n_images", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    @torch.no_grad()
    def update(self, fake: torch.Tensor, real: torch.Tensor) -> None:
        check_pair(fake, real)
        fake = to_unit(fake.to(self.device).double(), self.value_range)
        real = to_unit(real.to(self.device).double(), self.value_range)
        self.abs_sum = self.abs_sum + (fake - real).abs().sum()
        self.n_values = self.n_values + fake.numel()
        self.n_images = self.n_images + fake.shape[0]

    def compute(self) -> torch.Tensor:
        if int(self.n_values) == 0:
            raise NoDataError("L1 has no images; call update(fake, real) first")
        self._counts = {"n_images": int(self.n_images)}
        return self.abs_sum / self.n_values

    def counts(self) -> dict[str, int]:
        """Image count (all ranks) behind the last compute()."""
        return dict(getattr(self, "_counts", {}))


SPEC = MetricSpec(
    name="l1", columns=(Column("l1", "l1", higher_is_better=False),), inputs="pairs",
    build=lambda settings: L1(settings.value_range),
    implementation="eval.metrics.L1 (mean |fake − real| on [0, 1], all pixels and channels)",
    impl_id=lambda meta: "l1: mean abs [0,1]")
