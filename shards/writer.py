"""Write products into WebDataset tar shards per split, atomically, with a manifest.

Every shard is written under a temporary name and renamed when complete, so a crash or a bad input never leaves
a partial `.tar` that a loader would pick up. Tars are byte-reproducible (fixed mtime, owner and mode).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import webdataset as wds

from paint.data.contract import ProductSample, encode_product
from paint.data.manifest import manifest_record, shard_name, shard_record, split_record, write_manifest
from paint.io import PendingPath, atomic_path


@dataclass
class _SplitState:
    index: int = 0
    in_shard: int = 0
    products: int = 0
    views: int = 0
    writer: wds.TarWriter | None = None
    pending: PendingPath | None = None     # the open shard, under its temporary name
    shards: list[dict] = field(default_factory=list)


class ShardSetWriter:
    """Collects products into `<out>/<split>-NNNNNN.tar`, `products_per_shard` per shard.

    Use as a context manager; on an exception every unfinished temporary file is removed and the manifest is not
    written. `finish(extra)` writes `manifest.json` (counts, shard sizes and sha256, plus `extra`).
    """

    def __init__(self, out_dir: str | os.PathLike, products_per_shard: int):
        if products_per_shard < 1:
            raise ValueError(f"products_per_shard must be ≥ 1, got {products_per_shard}")
        self.out = Path(out_dir)
        self.per_shard = products_per_shard
        self.splits: dict[str, _SplitState] = {}
        self.image_size: tuple[int, int] | None = None

    def __enter__(self) -> "ShardSetWriter":
        self.out.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, sample: ProductSample) -> None:
        state = self.splits.setdefault(sample.split, _SplitState())
        if state.writer is None:
            self._open(sample.split, state)
        state.writer.write(encode_product(sample))
        state.in_shard += 1
        state.products += 1
        state.views += len(sample.views)
        self.image_size = self.image_size or sample.image_size
        if state.in_shard >= self.per_shard:
            self._close(sample.split, state)

    def _open(self, split: str, state: _SplitState) -> None:
        state.pending = atomic_path(self.out / shard_name(split, state.index))
        handle = open(state.pending.tmp, "wb")
        state.writer = wds.TarWriter(handle, encoder=False, mtime=0.0, user="paint", group="paint", mode=0o444)
        state.writer.own_fileobj = handle  # let TarWriter.close() close the file too

    def _close(self, split: str, state: _SplitState) -> None:
        state.writer.close()
        state.shards.append(shard_record(state.pending.commit(), state.in_shard))
        state.writer, state.pending = None, None
        state.index += 1
        state.in_shard = 0

    def abort(self) -> None:
        for state in self.splits.values():
            if state.writer is not None:
                try:
                    state.writer.close()
                except Exception:
                    pass
            if state.pending is not None:
                state.pending.discard()
            state.writer, state.pending = None, None

    def finish(self, extra: dict | None = None) -> dict:
        """Close open shards and write the manifest; returns it."""
        for split, state in self.splits.items():
            if state.writer is not None:
                self._close(split, state)
        splits = {split: split_record(split, s.products, s.views, s.shards) for split, s in self.splits.items()}
        manifest = manifest_record(splits, self.image_size, extra)
        write_manifest(self.out, manifest)
        return manifest
