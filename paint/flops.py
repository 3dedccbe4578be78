"""FLOPs of a training step, counted by torch's own counter, and the model FLOP utilisation (MFU) they give
against a device's dense peak for the precision used. Used by bench/stage_bench_gpu.py."""
from __future__ import annotations

import re
from typing import Callable

from torch.utils.flop_counter import FlopCounterMode

# Dense tensor-core peaks in TFLOP/s (no structured sparsity), from the vendors' data sheets. "tf32" is what fp32
# convolutions run at when cuDNN may use TF32 (torch's default); "fp32" without it.
PEAK_TFLOPS = {
    "H200": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H100 PCIe": {"bf16": 756.5, "tf32": 378.0, "fp32": 51.2},
    "H100": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},      # SXM
    "A100": {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5},
    "L4": {"bf16": 121.0, "tf32": 60.0, "fp32": 30.3},
}


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs of one call of `step` (forward and backward passes of every op torch's counter knows: convolutions,
    matrix products, attention), on whatever device it runs."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def device_peak(device_name: str, precision: str) -> float | None:
    """The dense peak TFLOP/s of a GPU named like torch.cuda.get_device_name() for "bf16", "tf32" or "fp32"; None
    for a device not in the table (give the peak by flag)."""
    tokens = set(re.split(r"[\s\-]+", device_name))
    for key in PEAK_TFLOPS:    # the table's order puts "H100 PCIe" before "H100"; "L4" is not "L40S"
        if all(part in tokens for part in key.split()):
            return PEAK_TFLOPS[key][precision]
    return None


def utilisation(flops: int, seconds: float, peak_tflops: float | None) -> tuple[float, float | None]:
    """(achieved TFLOP/s, MFU as a fraction of the peak or None without a peak)."""
    achieved = flops / seconds / 1e12
    return achieved, (achieved / peak_tflops if peak_tflops else None)
