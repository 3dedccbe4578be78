"""Loader throughput per core: the training unit streams (view units: LGN, TSN; pair units: AFN) against raw
in-memory decoding of the same samples.

Both sides do the same work per product: decode_product (PNG + JSON, validated), resize to the resolution,
pose maps, layout, image, two texture patches, batching. The raw side reads every tar member into memory first
and runs that work without webdataset; the loader side is `train_loader(..., loader_workers=0)` (in-process, one
thread, so the figure is per core). Goal: loader ≥ 0.8 × raw. Prints figures; never fails on speed.

    .venv/bin/python bench/loader_bench.py [--products 48] [--views 3] [--size 256] [--resolutions 256 128]
                                           [--units view pair]

The loader units/s at 256 px is what one CPU core feeds a GPU: bench/stage_bench_gpu.py divides a GPU's samples/s
by it to say how many loader cores that GPU needs (docs/SCALING.md).
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from paint.config import DataConfig
from paint.data.contract import decode_product
from paint.data.stream import train_loader
from paint.data.units import collate_units, train_units

REPO = Path(__file__).resolve().parents[1]


def make_shards(out: Path, products: int, views: int, size: int, seed: int) -> list[Path]:
    """Shards from the synthetic generator when it is installed, else from the tests' random-product factory."""
    try:
        from shards.synth import generate_shards
    except ImportError:
        generate_shards = None
    if generate_shards is not None:
        generate_shards(str(out), products, views, size, seed, products_per_shard=16, progress=False)
        found = sorted(out.glob("train-*.tar")) or sorted(out.glob("*.tar"))
        print(f"shards: shards.synth.generate_shards, {len(found)} shard(s) in {out}")
        return found
    sys.path.insert(0, str(REPO))  # the factory lives with the tests
    from tests.fixtures_products import random_product, write_shards
    items = [random_product(i, views, size, seed) for i in range(products)]
    found = write_shards(out, items, 16)
    print(f"shards: tests/fixtures_products factory, {len(found)} shard(s) in {out}")
    return found


def read_raw(shards: list[Path]) -> list[dict]:
    """Every sample of every shard as {__key__, member: bytes}, fully in memory."""
    samples = []
    for shard in shards:
        with tarfile.open(shard) as tar:
            current = None
            for info in tar:
                if not info.isreg():
                    continue
                key, member = info.name.split(".", 1)
                if current is None or current["__key__"] != key:
                    current = {"__key__": key}
                    samples.append(current)
                current[member] = tar.extractfile(info).read()
    return samples


def raw_pass(samples: list[dict], cfg: DataConfig, passes: int = 1, kind: str = "view") -> int:
    """decode_product + the training unit transform + batching, no webdataset; returns units made."""
    rng = np.random.default_rng(0)
    buffer, made = [], 0
    for raw in samples * passes:
        for unit in train_units(decode_product(raw), kind, cfg, rng):
            buffer.append(unit)
            if len(buffer) == cfg.batch_size:
                collate_units(buffer)
                made += len(buffer)
                buffer = []
    return made


def loader_pass(shard_dir: Path, cfg: DataConfig, kind: str = "view") -> int:
    return sum(len(batch["key"]) for batch in train_loader(kind, cfg, 0, 1, shards=str(shard_dir)))


def timed(fn, *args) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn(*args)
    return count, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=48)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="stored image size (px)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--passes", type=int, default=3,
                        help="units per timed run = passes × the set's units (amortises the shuffle-buffer fill)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per side; the best is reported")
    parser.add_argument("--units", nargs="+", default=["view", "pair"], choices=["view", "pair"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # per core: one thread on both sides

    with tempfile.TemporaryDirectory(prefix="loader-bench-") as tmp:
        shard_dir = Path(tmp)
        shards = make_shards(shard_dir, args.products, args.views, args.size, seed=0)
        samples = read_raw(shards)
        units_total = sum((len(s) - 2) // 3 for s in samples)  # __key__, meta.json, 3 members per view
        print(f"{len(samples)} products, {units_total} view units, stored at {args.size} px; "
              f"{args.passes} × the set per run, batch {args.batch_size}, best of {args.repeats} run(s), "
              "torch threads 1\n")
        print(f"{'unit':>5} {'resolution':>10} {'raw units/s':>12} {'loader units/s':>15} {'ratio':>6}")
        for kind, resolution in itertools.product(args.units, args.resolutions):
            batches = max(1, math.floor(args.passes * units_total / args.batch_size))
            cfg = DataConfig(resolution=resolution, batch_size=args.batch_size, loader_workers=0,
                             batches_per_epoch=batches)
            raw_pass(samples[:2], cfg, 1, kind)  # warm-up (imports, allocator)
            raw = min((timed(raw_pass, samples, cfg, args.passes, kind) for _ in range(args.repeats)),
                      key=lambda r: r[1])
            stream = min((timed(loader_pass, shard_dir, cfg, kind) for _ in range(args.repeats)),
                         key=lambda r: r[1])
            raw_rate, stream_rate = raw[0] / raw[1], stream[0] / stream[1]
            print(f"{kind:>5} {resolution:>7}×{resolution:<3}{raw_rate:>12.1f} {stream_rate:>15.1f} "
                  f"{stream_rate / raw_rate:>5.2f}×", flush=True)
    print("\ngoal: loader ≥ 0.8× raw decode (per core, in-process loader)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
