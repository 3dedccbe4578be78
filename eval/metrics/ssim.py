"""SSIM as a streaming, distributed-ready torchmetrics Metric: Gaussian window 11, σ 1.5, data range 1, RGB in [0, 1].

Each image's score is the mean SSIM over its valid region (the 5-pixel border, where the window would leave the
image, is excluded) and over the three channels — as scikit-image's structural_similarity and Wang et al.'s
reference implementation do. torchmetrics' own class also averages reflect-padded borders, which differs by
~1e-3 on small images, so only its functional SSIM map is used here. The score is the mean over images.
"""
from __future__ import annotations

import importlib.metadata

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from eval.metrics.images import to_unit
from eval.metrics.paired import PairedMeanMetric
from eval.metrics.registry import Column, MetricSpec

SIGMA = 1.5
WINDOW = 11                # int(3.5 * σ + 0.5) * 2 + 1: the Gaussian window torchmetrics and scikit-image use
BORDER = (WINDOW - 1) // 2
DATA_RANGE = 1.0


def ssim_per_image(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] twice → (B,) float64 SSIM, each the mean over valid pixels and channels."""
    if min(fake.shape[-2:]) <= 2 * BORDER:
        raise ValueError(f"SSIM needs images larger than {2 * BORDER} pixels per side, got {tuple(fake.shape[-2:])}")
    _, full = structural_similarity_index_measure(
        fake.float(), real.float(), gaussian_kernel=True, sigma=SIGMA, kernel_size=WINDOW, data_range=DATA_RANGE,
        reduction="none", return_full_image=True)
    return full[..., BORDER:-BORDER, BORDER:-BORDER].double().mean(dim=(1, 2, 3))


class SSIM(PairedMeanMetric):
    """Mean SSIM of fake vs real images; update(fake, real) takes (B, 3, H, W) float in `value_range`."""

    higher_is_better = True
    name = "SSIM"

    def per_image(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return ssim_per_image(to_unit(fake, self.value_range), to_unit(real, self.value_range))

    @staticmethod
    def settings() -> dict:
        return {"window": WINDOW, "sigma": SIGMA, "data_range": DATA_RANGE, "border": "valid (excluded)",
                "channels": "RGB mean"}


SPEC = MetricSpec(
    name="ssim", columns=(Column("ssim", "ssim", higher_is_better=True),), inputs="pairs",
    build=lambda settings: SSIM(settings.value_range),
    implementation=f"torchmetrics {importlib.metadata.version('torchmetrics')} SSIM map, valid region",
    provenance=lambda metric: SSIM.settings(),
    impl_id=lambda meta: f"ssim: gaussian {meta['window']}/{meta['sigma']} valid region")
