"""WebDataset streams from product shards to batches of stage units, split explicitly by world rank and worker.

Training (`train_loader`): resampled, shuffled shards; every rank yields exactly cfg.batches_per_epoch batches per
pass whatever the shard count (unequal counts hang DDP). Evaluation (`eval_loader`): every unit exactly once over
all ranks and loader workers, in a fixed order. Neither relies on torch.distributed: Ray gives the world rank, and
simulated multi-node clusters give every node node_rank 0, so data is split by world rank only.

Bad data rows (samples that fail `decode_product`) are counted per reason in `StreamStats` and skipped, with a
warning; evaluation with strict=True (the default) raises a one-line `StreamError` naming the sample instead.
Counts travel from loader workers to the main process inside the batches, so `loader.stats` is exact.
"""
from __future__ import annotations

import json
import logging
import random
import re
from typing import Iterable, Iterator

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset

from paint.config import DataConfig
from paint.data.contract import ContractError, decode_product
from paint.data.manifest import products_per_shard
from paint.data.shardspec import StreamError, StreamStats, expand_urls
from paint.data.units import (AFN_EVAL_PAIRS, UNIT_KINDS, ProductUnits, collate_units, eval_plan, eval_unit_count,
                              stable_seed, train_plan)

__all__ = ["StreamError", "StreamStats", "UnitLoader", "eval_loader", "expand_urls", "train_loader"]

log = logging.getLogger(__name__)

_MAX_BAD_STREAK = 1000   # training gives up when this many samples in a row fail (the shards are broken)
_WORKER_LOG_LIMIT = 10   # per-sample warnings per worker and pass; the rest are only counted


# ---------------------------------------------------------------------------------------------- worker side

class _BadSample(Exception):
    """Strict evaluation met a bad sample, or training met only bad samples; carries the one-line message."""


def _reason(exc: Exception) -> str:
    """Short category of a decoding failure, for the per-reason counts."""
    if not isinstance(exc, ContractError):
        return f"error-{type(exc).__name__}"
    text = str(exc)
    if text.endswith("member missing"):
        return "missing-member"
    match = re.match(r"product .*?, ([^:]+):", text)
    member = match.group(1) if match else ""
    for part in ("image", "parsing", "pose", "meta"):
        if part in member:
            return f"bad-{part}"
    return "contract"


def _worker_info() -> tuple[int, int]:
    info = torch.utils.data.get_worker_info()
    return (0, 1) if info is None else (info.id, info.num_workers)


class _LazyProduct:
    """A raw training sample decoded only when its first unit is built (after shuffling), so samples still in
    the shuffle buffer at the end of a pass cost no decoding. A failure is counted once."""
    __slots__ = ("raw", "stream", "stats", "units", "failed")

    def __init__(self, raw: dict, stream: "_UnitStream", stats: StreamStats):
        self.raw, self.stream, self.stats, self.units, self.failed = raw, stream, stats, None, False

    def view_ids(self) -> list[str] | None:
        """View ids from meta.json; None (and counted as bad) when even that cannot be read."""
        try:
            views = json.loads(self.raw["meta.json"])["views"]
            if isinstance(views, list) and views and all(isinstance(v, str) for v in views):
                return views
        except Exception:
            pass
        return None if self.get() is None else self.units.product.view_ids

    def get(self) -> ProductUnits | None:
        if self.units is None and not self.failed:
            product = self.stream._decode(self.raw, self.stats)
            self.raw = None
            self.failed = product is None
            if product is not None:
                self.units = ProductUnits(product, self.stream.cfg)
        return self.units


class _UnitStream(IterableDataset):
    """Runs inside each loader worker: reads its share of shards, decodes products, yields batches of units.

    Besides unit batches it yields control items: every batch carries "__stats__" = (worker, StreamStats);
    evaluation ends each worker with a stats-only item, and a fatal problem becomes an "__error__" item, so
    the main process can raise a clean one-line StreamError.
    """

    def __init__(self, kind: str, cfg: DataConfig, urls: list[str], rank: int, world: int, train: bool,
                 batch_size: int, epoch: int = 0, strict: bool = False, limit: int | None = None):
        super().__init__()
        self.kind, self.cfg, self.urls, self.rank, self.world = kind, cfg, urls, rank, world
        self.train, self.batch_size, self.epoch, self.strict, self.limit = train, batch_size, epoch, strict, limit

    def __iter__(self) -> Iterator[dict]:
        worker, n_workers = _worker_info()
        stats = StreamStats()
        try:
            plans = self._train_plans if self.train else self._eval_plans
            buffer, streak = [], 0
            for source, plan, rng in plans(worker, n_workers, stats):
                prepared = source.get()
                if prepared is None:
                    streak += 1
                    if streak >= _MAX_BAD_STREAK:
                        raise StreamError(f"{streak} samples in a row failed to decode; the shards look broken "
                                          f"({stats.summary()})")
                    continue
                streak = 0
                buffer.append(prepared.build(plan, rng))
                if len(buffer) == self.batch_size:
                    yield self._batch(buffer, stats, worker)
                    buffer = []
            if buffer:
                yield self._batch(buffer, stats, worker)
        except (_BadSample, StreamError) as exc:
            yield {"__error__": str(exc), "__stats__": (worker, stats.copy())}
            return
        yield {"__final__": True, "__stats__": (worker, stats.copy())}

    def _batch(self, units: list[dict], stats: StreamStats, worker: int) -> dict:
        stats.units += len(units)
        batch = collate_units(units)
        batch["__stats__"] = (worker, stats.copy())
        return batch

    # -- reading ----------------------------------------------------------------------------------------
    def _read(self, urls: Iterable[str], stats: StreamStats) -> Iterator[dict]:
        """Shard URLs → raw samples (dict of member bytes). View ids keep their case (lcase=False). An unreadable
        shard is counted once, with the products read from it (webdataset names the shard in the error: its URL as
        the last argument, or the open file's name in the message)."""
        seen: dict[str, set] = {}     # shard URL → keys read whole from it (re-reads add nothing)
        broken: dict[str, set] = {}   # shard URL → the keys being read when it broke (they come out broken)
        just_broke = [None]           # the URL whose error came last: the next sample may be its broken product

        def handler(exn: Exception) -> bool:
            message = " ".join(str(a) for a in exn.args if a is not None) or type(exn).__name__
            if self.strict:
                raise _BadSample(f"unreadable shard data ({type(exn).__name__}: {message}); fix or rebuild the "
                                 "shard, or skip bad samples (paint-eval --skip-bad)")
            named = [url for url in self.urls if url in message]
            url = max(named, key=len) if named else "?"
            error = f"{type(exn).__name__}: {str(exn.args[0]).split(' @ ')[0] if exn.args else ''}".rstrip(": ")
            just_broke[0] = url
            if stats.add_bad_shard(url, error, frozenset(seen.get(url, ()))) \
                    and len(stats.bad_shards) <= _WORKER_LOG_LIMIT:
                log.warning("skipping the rest of unreadable shard %s: %s", url, error)
            return True

        def noted(samples: Iterator[dict]) -> Iterator[dict]:
            for raw in samples:
                url, key = raw.get("__url__", "?"), raw.get("__key__")
                if just_broke[0] is not None:
                    if url == just_broke[0] and key not in seen.get(url, ()):
                        broken.setdefault(url, set()).add(key)
                    just_broke[0] = None
                if key not in broken.get(url, ()):
                    seen.setdefault(url, set()).add(key)
                yield raw

        streams = wds.tariterators.url_opener(({"url": url} for url in urls), handler=handler)
        files = wds.tariterators.tar_file_expander(streams, handler=handler)
        return noted(wds.tariterators.group_by_keys(files, lcase=False, handler=handler))

    def _decode(self, raw: dict, stats: StreamStats):
        key = str(raw.get("__key__", "?"))
        try:
            product = decode_product(raw)
        except Exception as exc:  # ContractError, or anything a broken member provokes
            if self.strict:
                raise _BadSample(f"bad sample {key!r} in {raw.get('__url__', '?')}: {exc} (fix or rebuild the "
                                 "shard, or skip bad samples: paint-eval --skip-bad)") from None
            if stats.add_bad(_reason(exc), key, str(exc), str(raw.get("__url__", ""))) \
                    and len(stats.bad_products) <= _WORKER_LOG_LIMIT:
                log.warning("skipping bad sample %r (%s): %s", key, _reason(exc), exc)
            return None
        stats.products += 1
        return product

    # -- training ---------------------------------------------------------------------------------------
    def _train_plans(self, worker: int, n_workers: int, stats: StreamStats) -> Iterator:
        cfg, parts = self.cfg, (self.cfg.seed, self.epoch, self.rank, worker)
        slots = self.world * n_workers
        mine = self.urls[self.rank * n_workers + worker::slots] if len(self.urls) >= slots else self.urls
        shard_rng = random.Random(stable_seed("shards", *parts))
        unit_rng = np.random.default_rng(stable_seed("units", *parts))
        empty_streak = [0]

        def draw_urls() -> Iterator[str]:
            while True:
                empty_streak[0] += 1
                if empty_streak[0] > 2 * len(mine) + 20:
                    problem = f"; {stats.examples[0][1]}" if stats.examples else ""
                    raise StreamError(f"training shards yield no samples ({len(mine)} shard(s), e.g. {mine[0]!r})"
                                      f"{problem}")
                yield shard_rng.choice(mine)

        def raws() -> Iterator[dict]:
            for raw in self._read(draw_urls(), stats):
                empty_streak[0] = 0
                yield raw

        def planned(products: Iterator[dict]) -> Iterator:
            for raw in products:
                lazy = _LazyProduct(raw, self, stats)
                view_ids = lazy.view_ids()
                if view_ids is None:
                    yield lazy, (), unit_rng  # already counted as bad; lets the bad-streak guard see it
                    continue
                plans = train_plan(view_ids, self.kind, unit_rng)
                if not plans:
                    stats.single_view += 1
                for plan in plans:
                    yield lazy, plan, unit_rng

        # shuffle raw products (cheap bytes), then units, so the views of one product spread over batches
        products = wds.filters.shuffle(cfg.shuffle_buffer, initial=min(100, cfg.shuffle_buffer),
                                       rng=random.Random(stable_seed("products", *parts)))(raws())
        yield from wds.filters.shuffle(max(1, min(cfg.shuffle_buffer, 4 * self.batch_size)), initial=1,
                                       rng=random.Random(stable_seed("plans", *parts)))(planned(products))

    # -- evaluation -------------------------------------------------------------------------------------
    def _eval_plans(self, worker: int, n_workers: int, stats: StreamStats) -> Iterator:
        slots = self.world * n_workers
        if self.limit is None and len(self.urls) >= slots:
            # shard-level split: shard i → rank i % world, then the rank's shards → worker by index
            mine = self.urls[self.rank::self.world][worker::n_workers]
            for raw in self._read(mine, stats):
                yield from self._eval_product_plans(raw, stats)
            return
        # sample-level split: everyone reads every shard in order and keeps the products it owns
        offset, limit = 0, self.limit
        for index, raw in enumerate(self._read(self.urls, stats)):
            if limit is not None and offset >= limit:
                return
            owned = index % self.world == self.rank and (index // self.world) % n_workers == worker
            if limit is None:
                if owned:
                    yield from self._eval_product_plans(raw, stats)
                continue
            count = self._meta_unit_count(raw)
            if owned:
                yield from self._eval_product_plans(raw, stats)[:max(0, limit - offset)]
            offset += count

    def _eval_product_plans(self, raw: dict, stats: StreamStats) -> list:
        product = self._decode(raw, stats)
        if product is None:
            return []
        plans = eval_plan(product.view_ids, self.kind, self.cfg.afn_eval_pairs)
        if not plans and self.kind == "pair":
            stats.single_view += 1
        prepared = _Ready(ProductUnits(product, self.cfg))
        return [(prepared, plan, None) for plan in plans]  # rng None: patches seeded by the unit key

    def _meta_unit_count(self, raw: dict) -> int:
        """Units a raw product gives, read from meta.json alone, so every worker agrees on global positions."""
        try:
            views = json.loads(raw["meta.json"])["views"]
            return eval_unit_count(self.kind, len(views), self.cfg.afn_eval_pairs)
        except Exception:
            return 0  # undecodable: its owner counts or raises it; it takes no positions


class _Ready:
    """An already decoded product, with the same get() as _LazyProduct."""
    __slots__ = ("units",)

    def __init__(self, units: ProductUnits):
        self.units = units

    def get(self) -> ProductUnits:
        return self.units


# ---------------------------------------------------------------------------------------------- main side

class UnitLoader:
    """Iterable of batches (dict: "key" list of str, every other entry a stacked tensor) over a unit stream.

    Training loaders yield exactly `len(loader)` batches per pass, each pass continuing with the next epoch's
    seeds (or the one given to `set_epoch`). `stats` sums what every worker reported in all passes so far.
    """

    def __init__(self, dataset: _UnitStream, workers: int, batches: int | None, name: str,
                 max_lost_fraction: float | None = None, read_urls: list[str] | None = None):
        """max_lost_fraction: a training loader raises StreamError once more than this fraction of the products of
        the shards it reads (`read_urls`, default all; counted from their manifest) is lost."""
        self.dataset, self.workers, self.batches, self.name = dataset, workers, batches, name
        self.max_lost_fraction = max_lost_fraction
        self.expected = products_per_shard(dataset.urls)   # shard URL → products its manifest lists
        read = dataset.urls if read_urls is None else read_urls
        self._listed = sum(self.expected.get(url, 0) for url in read)
        self._next_epoch = dataset.epoch
        self._done = StreamStats()
        self._current: dict[int, StreamStats] = {}

    def __len__(self) -> int:
        if self.batches is None:
            raise TypeError("an evaluation loader has no fixed length")
        return self.batches

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use `epoch`'s seeds (e.g. when resuming)."""
        self._next_epoch = epoch

    @property
    def stats(self) -> StreamStats:
        total = self._done
        for snapshot in self._current.values():
            total = total.merged(snapshot)
        return total

    def lost(self) -> tuple[int, int]:
        """(products lost so far, unreadable shards whose loss is unknown: no manifest lists them)."""
        return self.stats.lost_products(self.expected)

    def _check_lost(self) -> None:
        if self.max_lost_fraction is None:
            return
        lost, unknown = self.lost()
        if self._listed and not unknown:
            total = self._listed
        else:   # no manifest: a fraction of what was decoded (re-reads too), judged once that says something
            total = self.stats.products + lost
            if total * self.max_lost_fraction < 1:
                return
        if lost / max(1, total) > self.max_lost_fraction:
            raise StreamError(f"{self.name}: {lost} of {total} products lost ({self.stats.summary(self.expected)})"
                              f", more than data.max_lost_fraction={self.max_lost_fraction}; fix or rebuild the "
                              f"shards, or raise data.max_lost_fraction")

    def __iter__(self) -> Iterator[dict]:
        for snapshot in self._current.values():
            self._done = self._done.merged(snapshot)
        self._current = {}
        self.dataset.epoch = self._next_epoch
        self._next_epoch += 1
        bad_before = bad_seen = self.stats.bad_total
        loader = DataLoader(self.dataset, batch_size=None, num_workers=self.workers,
                            prefetch_factor=2 if self.workers else None)
        produced = 0
        iterator = iter(loader)
        try:
            for item in iterator:
                worker, snapshot = item.pop("__stats__")
                self._current[worker] = snapshot
                if "__error__" in item:
                    raise StreamError(item["__error__"])
                if "__final__" in item:
                    continue
                if snapshot.bad_total != bad_seen:
                    bad_seen = snapshot.bad_total
                    self._check_lost()
                yield item
                produced += 1
                if self.batches is not None and produced >= self.batches:
                    return
            if self.batches is not None:
                raise StreamError(f"{self.name}: the stream ended after {produced} of {self.batches} batches")
        finally:
            del iterator  # stops the worker processes
            new_bad = self.stats.bad_total - bad_before
            if new_bad:
                log.warning("%s: skipped %d bad row(s) this pass; so far %s", self.name, new_bad,
                            self.stats.summary(self.expected))


def _check(kind: str, cfg: DataConfig, rank: int, world_size: int) -> None:
    if kind not in UNIT_KINDS:
        raise StreamError(f"unit kind {kind!r} is not one of {UNIT_KINDS}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise StreamError(f"rank {rank} is not within world size {world_size}")
    if cfg.batch_size < 1 or cfg.batches_per_epoch < 1:
        raise StreamError(f"data.batch_size ({cfg.batch_size}) and data.batches_per_epoch "
                          f"({cfg.batches_per_epoch}) must be ≥ 1")
    if cfg.loader_workers < 0:
        raise StreamError(f"data.loader_workers must be ≥ 0, got {cfg.loader_workers}")
    if cfg.afn_eval_pairs not in AFN_EVAL_PAIRS:
        raise StreamError(f"data.afn_eval_pairs {cfg.afn_eval_pairs!r} is not one of {AFN_EVAL_PAIRS}")


def _resolve_spec(shards: str | None, default: str, what: str, split: str | None) -> list[str]:
    spec = default if shards is None else shards
    if not spec or not spec.strip():
        raise StreamError(f"no shards given for {what}: set data.{'shards' if what == 'training' else 'val_shards'}"
                          " or pass shards=... (the embedded synthetic set is chosen by the caller)")
    return expand_urls(spec, split)


def train_loader(unit: str, cfg: DataConfig, rank: int, world_size: int, shards: str | None = None,
                 epoch: int = 0, split: str | None = "train") -> UnitLoader:
    """Training batches of `unit` ("view" or "pair") for world rank `rank` of `world_size`.

    Yields exactly cfg.batches_per_epoch batches of cfg.batch_size per pass on every rank, from resampled,
    shuffled shards (`shards`, default cfg.shards; a folder in it gives only its `split` shards, None = all, see
    `expand_urls`). With at least world_size × loader workers shards, rank r's worker w of W draws from
    shards[(r*W + w)::world_size*W]; with fewer, every worker draws from all shards with its own seed.
    Seeds derive from (cfg.seed, epoch, rank, worker); pass k of the loader uses epoch + k.
    """
    _check(unit, cfg, rank, world_size)
    urls = _resolve_spec(shards, cfg.shards, "training", split)
    slots = world_size * max(1, cfg.loader_workers)
    if len(urls) < slots:
        log.info("training: %d shard(s) for %d rank(s) × %d worker(s); every worker reads all shards with its own "
                 "seed", len(urls), world_size, max(1, cfg.loader_workers))
    dataset = _UnitStream(unit, cfg, urls, rank, world_size, train=True, batch_size=cfg.batch_size, epoch=epoch)
    workers = max(1, cfg.loader_workers)
    read = urls if len(urls) < slots else [url for w in range(workers) for url in urls[rank * workers + w::slots]]
    return UnitLoader(dataset, cfg.loader_workers, cfg.batches_per_epoch, f"train {unit} stream (rank {rank})",
                      cfg.max_lost_fraction, read)


def eval_loader(unit: str, cfg: DataConfig, rank: int, world_size: int, shards: str | None = None,
                limit: int | None = None, batch_size: int | None = None, strict: bool = True,
                split: str | None = "val") -> UnitLoader:
    """Evaluation batches of `unit`: each unit exactly once across all ranks and workers, in a fixed order.

    Shards: `shards`, default cfg.val_shards; a folder in it gives only its `split` shards ("val", "test"; None =
    all, see `expand_urls`). Shard i goes to rank i % world_size, then to loader workers by index; with fewer than
    world_size × workers (or with `limit`) products are split instead by their index in the ordered stream.
    `limit` keeps the first N units of the global order (still exactly once). The last batch may be partial.
    strict=True raises StreamError on a bad sample; strict=False skips and counts it in `loader.stats`.
    """
    _check(unit, cfg, rank, world_size)
    if limit is not None and limit < 0:
        raise StreamError(f"limit must be ≥ 0, got {limit}")
    urls = _resolve_spec(shards, cfg.val_shards, "evaluation", split)
    size = batch_size or cfg.batch_size
    dataset = _UnitStream(unit, cfg, urls, rank, world_size, train=False, batch_size=size, strict=strict,
                          limit=limit)
    return UnitLoader(dataset, cfg.loader_workers, None, f"eval {unit} stream (rank {rank})")
