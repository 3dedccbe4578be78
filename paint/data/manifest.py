"""The shard manifest: `manifest.json`, written next to a set of shards by the shard tools (shards/writer.py) and
read by the data stream (paint/data/shardspec.py) and `paint-shards verify`. Its layout, defined here only:

    {"splits": {"<split>": {"products": P, "views": V, "pattern": "<split>-{000000..000009}.tar",
                            "shards": [{"name": "<split>-000000.tar", "products": p, "bytes": b, "sha256": h},
                                       ...]},
                ...},
     "image_size": [width, height] or null,
     ...}                                   # plus whatever the writer adds (generator settings, import counts)

A split's pattern names all its shards, in order; `image_size` is the first product's.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import braceexpand

from paint.io import sha256_file, write_text_atomic

MANIFEST = "manifest.json"


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def split_pattern(split: str, count: int) -> str:
    """Brace pattern naming all `count` shards of a split, e.g. train-{000000..000009}.tar."""
    if count == 1:
        return shard_name(split, 0)
    return f"{split}-{{{0:06d}..{count - 1:06d}}}.tar"


def shard_record(path: Path, products: int) -> dict:
    """A finished shard file's entry: name, products, size in bytes and sha256."""
    return {"name": path.name, "products": products, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def split_record(split: str, products: int, views: int, shards: list[dict]) -> dict:
    """A split's entry, from its counts and its shards' entries (in order)."""
    return {"products": products, "views": views, "shards": shards, "pattern": split_pattern(split, len(shards))}


def manifest_record(splits: dict[str, dict], image_size: tuple[int, int] | None, extra: dict | None = None) -> dict:
    """The whole manifest: split entries (sorted by split), the image size and the writer's `extra` keys."""
    return {"splits": dict(sorted(splits.items())), "image_size": list(image_size) if image_size else None,
            **(extra or {})}


def write_manifest(folder: str | os.PathLike, manifest: dict) -> Path:
    """Write `folder`/manifest.json atomically (sorted keys, two-space indent, a final newline)."""
    return write_text_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(folder: str | os.PathLike) -> dict:
    """`folder`'s manifest as written; OSError or ValueError when it is missing or not JSON."""
    with open(os.path.join(folder, MANIFEST)) as handle:
        return json.load(handle)


def split_shard_names(manifest: dict, split: str) -> list[str] | None:
    """The shard file names of `split`, in order, from its pattern; None when the manifest does not list the split
    (or lists it without a pattern). KeyError, TypeError and the like for a manifest of another layout."""
    entry = manifest["splits"].get(split)
    pattern = None if entry is None else entry.get("pattern")
    return list(braceexpand.braceexpand(pattern)) if pattern else None


def listed_shards(manifest: dict) -> dict[str, dict]:
    """Shard file name → its entry plus its "split", over every split."""
    return {shard["name"]: {"split": split, **shard}
            for split, info in manifest["splits"].items() for shard in info["shards"]}


def products_per_shard(urls: list[str]) -> dict[str, int]:
    """Shard URL → products its folder's manifest lists, for the local shards that one lists (others are left out:
    a remote shard's manifest is not read)."""
    counts: dict[str, int] = {}
    listings: dict[str, dict] = {}
    for url in urls:
        folder = os.path.dirname(url)
        if folder not in listings:
            try:
                listings[folder] = listed_shards(read_manifest(folder))
            except (OSError, ValueError, KeyError, TypeError):   # no manifest, or one of another layout
                listings[folder] = {}
        entry = listings[folder].get(os.path.basename(url))
        if entry is not None and isinstance(entry.get("products"), int):
            counts[url] = entry["products"]
    return counts
