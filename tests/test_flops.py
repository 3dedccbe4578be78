"""The FLOP counter the GPU bench reports, against a convolution counted by hand; the MFU arithmetic; the bench's
CPU dry run printing FLOPs, TFLOP/s, MFU and the loader cores for every variant."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from paint.flops import count_flops, device_peak, utilisation

B, C_IN, C_OUT, H, W, K = 2, 3, 8, 16, 16, 3
CONV_FORWARD = 2 * B * C_OUT * H * W * C_IN * K * K    # a multiply and an add per weight per output pixel


def test_a_convolution_counts_as_computed_by_hand():
    conv = torch.nn.Conv2d(C_IN, C_OUT, K, padding=1, bias=False)
    x = torch.randn(B, C_IN, H, W)
    assert count_flops(lambda: conv(x)) == CONV_FORWARD == 221_184
    # backward: the weight's gradient costs one forward; the input's another when the input needs one
    assert count_flops(lambda: conv(x).sum().backward()) == 2 * CONV_FORWARD
    x.requires_grad_(True)
    assert count_flops(lambda: conv(x).sum().backward()) == 3 * CONV_FORWARD


def test_peaks_and_utilisation():
    assert device_peak("NVIDIA H100 80GB HBM3", "bf16") == 989.4
    assert device_peak("NVIDIA H100 PCIe", "bf16") == 756.5
    assert device_peak("NVIDIA H200", "tf32") == 494.7
    assert device_peak("NVIDIA A100-SXM4-80GB", "fp32") == 19.5
    assert device_peak("cpu", "bf16") is None and device_peak("NVIDIA L40S", "bf16") is None
    achieved, mfu = utilisation(int(2e12), 0.5, 10.0)
    assert achieved == pytest.approx(4.0) and mfu == pytest.approx(0.4)
    assert utilisation(10**12, 1.0, None) == (pytest.approx(1.0), None)


def test_the_gpu_bench_dry_run_prints_flops_and_utilisation():
    bench = Path(__file__).resolve().parents[1] / "bench" / "stage_bench_gpu.py"
    done = subprocess.run([sys.executable, str(bench), "--cpu-dry-run", "--stages", "lgn", "--peak-fp32", "1",
                           "--peak-bf16", "2", "--loader-rate", "view=0.5"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    header, *rows = [line for line in done.stdout.splitlines() if line.startswith(("stage ", "lgn "))]
    assert header.split()[-5:] == ["GFLOP/step", "TFLOP/s", "MFU", "loader", "cores"] and len(rows) == 4
    for row in rows:
        gflop, tflops, mfu, cores = row.split()[-4:]
        assert float(gflop) > 0 and float(tflops) > 0 and mfu.endswith("%") and float(cores) > 0
