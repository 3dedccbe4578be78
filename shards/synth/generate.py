"""Write a whole synthetic dataset as train/val/test WebDataset shards, in parallel and byte-reproducibly."""
from __future__ import annotations

import multiprocessing
import os
import re
from pathlib import Path

from tqdm import tqdm

from paint.data.manifest import listed_shards
from shards.synth.product import MAX_VIEWS, render_product
from shards.writer import ShardSetWriter

GENERATOR_VERSION = 1
MAX_SIZE = 2048
_SHARD = re.compile(r"^(train|val|test)-\d{6}\.tar$")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_arguments(out, products, views, size, seed, products_per_shard, workers) -> Path:
    """Raise ValueError (one line naming the argument and the fix) unless the arguments make a dataset."""
    checks = (
        ("products", products, 1, None), ("views", views, 1, MAX_VIEWS), ("size", size, 16, MAX_SIZE),
        ("seed", seed, 0, None), ("products_per_shard", products_per_shard, 1, None),
    )
    for name, value, low, high in checks:
        if not _is_int(value) or value < low or (high is not None and value > high):
            wanted = f"an integer in {low}..{high}" if high is not None else f"an integer ≥ {low}"
            raise ValueError(f"{name} must be {wanted}, got {value!r}")
    if workers is not None and (not _is_int(workers) or workers < 1):
        raise ValueError(f"workers must be an integer ≥ 1 (or None for all CPU cores), got {workers!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {out} exists and is not a folder; choose a folder path")
    return out


def _render(job: tuple[int, int, int, int]):
    return render_product(*job)


def _products(products: int, views: int, size: int, seed: int, workers: int):
    """Yield ProductSamples in product order, rendered by `workers` processes."""
    jobs = ((seed, i, views, size) for i in range(products))
    if workers == 1:
        yield from map(_render, jobs)
        return
    # fork starts workers instantly; they only run numpy, so inherited state in the parent does not matter.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    chunk = max(1, min(8, products // (4 * workers)))
    with multiprocessing.get_context(method).Pool(workers) as pool:
        yield from pool.imap(_render, jobs, chunksize=chunk)


def _remove_stale_shards(out: Path, manifest: dict) -> None:
    """Delete shard files of an earlier, larger run in `out` that the new manifest does not list."""
    listed = listed_shards(manifest)
    for path in out.iterdir():
        if _SHARD.match(path.name) and path.name not in listed:
            path.unlink()


def generate_shards(out: str | Path, products: int, views: int, size: int, seed: int,
                    products_per_shard: int = 100, workers: int | None = None, progress: bool = True) -> dict:
    """Render `products` synthetic products (`views` views of size × size px each, drawn from `seed`) into
    `<out>/{train,val,test}-NNNNNN.tar` plus `manifest.json`; returns the manifest.

    Splits follow `split_of(index)` (80/10/10). Output bytes depend only on the arguments, not on `workers`
    (default: all CPU cores). Raises ValueError for bad arguments; shards of an earlier run in `out` that this
    run does not produce are removed so the folder holds one consistent dataset.
    """
    out = validate_arguments(out, products, views, size, seed, products_per_shard, workers)
    workers = min(workers or os.cpu_count() or 1, products)
    extra = {"generator": "synthetic", "seed": seed, "views": views, "size": size, "products": products,
             "generator_version": GENERATOR_VERSION}
    with ShardSetWriter(out, products_per_shard) as writer:
        bar = tqdm(total=products, unit="product", desc=f"synthetic → {out}", disable=not progress)
        try:
            for sample in _products(products, views, size, seed, workers):
                writer.write(sample)
                bar.update(1)
        finally:
            bar.close()
        manifest = writer.finish(extra)
    _remove_stale_shards(out, manifest)
    return manifest


__all__ = ["generate_shards", "validate_arguments", "GENERATOR_VERSION"]
