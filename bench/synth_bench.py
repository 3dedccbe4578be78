"""Synthetic generator throughput: products per second through `generate_shards` (render + PNG + tar).

Prints one line per (size, workers) with wall-clock throughput and CPU milliseconds per product (the latter does
not depend on what else the machine runs); never fails on speed. Default run: 64/128/256 px, 4 views, 1 and 2 workers,
well under two minutes on 2 cores.

    python bench/synth_bench.py [--sizes 64 128 256] [--views 4] [--workers 1 2] [--seconds 6]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

from shards.synth import generate_shards, render_product

# Rough single-core seconds per 4-view product, only used to size each run to about --seconds.
_GUESS = {64: 0.06, 128: 0.1, 256: 0.22}


def _products_for(size: int, views: int, seconds: float, workers: int) -> int:
    per_product = _GUESS.get(size, 0.12 * (size / 128) ** 2) * views / 4
    return max(4, int(seconds * workers / per_product))


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished children (the worker pool): contention-independent cost."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=6.0, help="target duration of each measurement")
    args = parser.parse_args(argv)
    print(f"cpu cores: {os.cpu_count()}, views: {args.views}")
    render_product(0, 0, 1, 16)     # warm imports before timing
    for size in args.sizes:
        for workers in args.workers:
            products = _products_for(size, args.views, args.seconds, workers)
            with tempfile.TemporaryDirectory() as out:
                start, cpu = time.perf_counter(), _cpu_seconds()
                generate_shards(out, products, args.views, size, seed=0, workers=workers, progress=False)
                elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
            print(f"size {size:4d} px  workers {workers}  products {products:4d}  "
                  f"{products / elapsed:7.2f} products/s  ({products * args.views / elapsed:7.1f} views/s)  "
                  f"CPU {1000 * cpu / products:6.1f} ms/product", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
