"""The shipped metrics, registered in the order their names, values and leaderboard columns are listed.
Adding a metric: its file (Metric + SPEC) and one line here."""
from __future__ import annotations

from eval.metrics import fid, l1, lpips_metric, segmentation, ssim
from eval.metrics.registry import register

for _spec in (fid.SPEC, ssim.SPEC, lpips_metric.SPEC, l1.SPEC, segmentation.SPEC):
    register(_spec)
