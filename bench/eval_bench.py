"""Evaluation throughput and memory: the TSN tiny model (64 px) scored on 200 and on 2000 eval units, each size in
a fresh subprocess (peak RSS from getrusage). Streaming means memory is flat in the number of units: goal peak-RSS
ratio (2000 / 200) ≤ 1.1. Prints figures; never fails on speed or memory.

SSIM only by default: on a CPU the FID network (Inception-v3 at 299 px, ~0.5-1.5 s per image here) would take
over an hour for 2000 units; its state is fixed-size sums (2 × 2048² float64) whatever the count. --metrics
fid,ssim on a GPU machine times the full suite.

    .venv/bin/python bench/eval_bench.py [--sizes 200 2000] [--metrics ssim] [--batch-size 16] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
VIEWS = 4


def make_checkpoint(shards: Path, out: Path) -> Path:
    """A TSN tiny checkpoint after one training step (evaluation cost does not depend on training)."""
    from paint.run_setup import resolve_config
    from paint.train_loop import fit

    cfg = resolve_config("tsn", "tiny", None, [f"data.shards={shards}", "data.batches_per_epoch=1",
                                               "train.epochs=1"])
    target = out / "tsn-bench" / "checkpoint_000000"

    def keep(metrics, folder):
        if folder is not None:
            shutil.copytree(folder, target)
    fit(cfg, 0, 1, keep, out / "tsn-bench" / "log")
    return target


def child(args) -> None:
    """One evaluation in this process; prints one JSON line with its figures."""
    from eval.runner import EvalOptions, evaluate
    from eval.specs import make_evaluator

    torch.set_num_threads(args.threads)
    options = EvalOptions(shards=args.shards, split=None, limit=args.limit, batch_size=args.batch_size,
                          loader_workers=0, metrics=tuple(args.metrics.split(",")), progress=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    evaluator = make_evaluator({"kind": "model", "stage": "tsn", "checkpoint": args.checkpoint}, options, device)
    start = time.perf_counter()
    result = evaluate(evaluator, options, device=device)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024    # Linux: KiB
    print(json.dumps({"units": result.n_units, "seconds": seconds, "units_per_s": result.n_units / seconds,
                      "peak_rss_mb": peak_mb, "values": result.values, "device": device}))


def measure(size: int, checkpoint: Path, shards: str, args) -> dict:
    command = [sys.executable, __file__, "--child", "--checkpoint", str(checkpoint), "--shards", shards,
               "--limit", str(size), "--batch-size", str(args.batch_size), "--metrics", args.metrics,
               "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"eval_bench: the {size}-unit run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--metrics", default="ssim", help="comma-separated eval metrics (default ssim)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a per-core figure that "
                        "holds on a busy machine)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--shards", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    from shards.synth import generate_shards

    products = -(-max(args.sizes) // VIEWS) + 1
    with tempfile.TemporaryDirectory(prefix="eval-bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        generate_shards(tmp / "shards", products, VIEWS, 64, 0, products_per_shard=50, progress=False)
        print(f"shards: {products} products × {VIEWS} views at 64 px in {time.perf_counter() - start:.1f} s")
        checkpoint = make_checkpoint(tmp / "shards", tmp)
        spec = str(tmp / "shards" / "*.tar")     # every split: enough units for the largest size
        figures = {}
        for size in args.sizes:
            figures[size] = measure(size, checkpoint, spec, args)
            f = figures[size]
            print(f"{f['units']:5d} units: {f['units_per_s']:7.1f} units/s ({f['seconds']:.1f} s, {args.threads} "
                  f"thread(s)), peak RSS "
                  f"{f['peak_rss_mb']:.0f} MiB, {args.metrics} on {f['device']}: "
                  + ", ".join(f"{k}={v:.4f}" for k, v in f["values"].items()))
    small, large = figures[min(args.sizes)], figures[max(args.sizes)]
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    verdict = "met" if ratio <= 1.1 else "NOT met"
    print(f"peak RSS ratio {max(args.sizes)}/{min(args.sizes)} units: {ratio:.3f} (goal ≤ 1.1: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
