"""One evaluation pass: an evaluator (a trained stage, a baseline or the pipeline) over the eval stream, every unit
exactly once, into a MetricSuite; then the leaderboard row.

Memory stays flat in the number of units: metrics keep running sums (FID: feature sums and outer products), the
gallery keeps only its first K samples, and the loop holds one batch at a time. Only the unit keys (short strings)
are kept, to prove each unit was scored exactly once and to hash the evaluated list.

In a torch.distributed group (Ray Train workers, see eval/distributed.py) every rank runs `evaluate` on its share
(`eval_loader(rank, world)`); metric states, keys and bad-row counts are gathered in compute, so every rank gets
the result a single process would; rank 0 collects the gallery.

eval_list_sha is the sha256 of the evaluated unit keys in sorted order — the order of the set, not of the stream,
so one process and N workers (whose streams interleave differently) hash the same list.
"""
from __future__ import annotations

import json
import math
import os
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from eval.leaderboard import eval_list_sha, git_commit
from eval.metrics import IMAGE_METRICS, MetricSuite, column_of
from eval.metrics import specs as metric_specs
from eval.metrics.registry import metric_names
from eval.real_stats import eval_set_name, use_cache
from paint.config import DataConfig
from paint.data.stream import eval_loader
from paint.distributed import gather_objects
from paint.images import unit_to_uint8
from paint.stages.base import Batch, move_batch
from paint.validation import Compared

ALL_METRICS = metric_names()    # every registered metric (eval/metrics/registry.py), the CLI's --metrics list


class EvalError(ValueError):
    """A bad evaluation request (empty shards, mismatched checkpoints, …); one line naming it and the fix."""


@dataclass
class EvalOptions:
    """What to evaluate on and how; plain values only (travels to Ray workers as a dict).

    shards: spec as for paint's streams; split: "val", "test", "train" or None (every shard file);
    limit: first N units of the global order; batch_size / loader_workers: None = the evaluator's data config;
    seed: None = the evaluator's data seed (texture patches, pipeline codes); metrics: subset of ALL_METRICS;
    codes / protocol: LGN rows only, K codes per pose of the "sampled" protocol or "reconstruction" (the
    posterior-mean code of the ground truth; eval/model_eval.py).
    """
    shards: str
    split: str | None = "val"
    limit: int | None = None
    batch_size: int | None = None
    loader_workers: int | None = None
    seed: int | None = None
    metrics: tuple[str, ...] = ALL_METRICS
    inception_weights: str | None = None
    alexnet_weights: str | None = None
    gallery_samples: int = 8
    fid_cache: str | None = None    # folder of reusable real FID statistics (eval/real_stats.py); None: none
    skip_bad: bool = False
    progress: bool = True
    codes: int = 4                  # eval.model_eval.DEFAULT_CODES (not imported: that module imports this one)
    protocol: str = "sampled"       # sampled | reconstruction

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "EvalOptions":
        return cls(**{**values, "metrics": tuple(values.get("metrics", ALL_METRICS))})


class Evaluator(ABC):
    """What a pass drives. Subclasses set the identity fields and implement `predict` and `pictures`."""

    stage: str = ""                 # lgn | tsn | afn | pipeline
    role: str = "model"             # reference | floor | untrained | model (how the leaderboard groups rows)
    method: str = "model"           # the row's label within its role: model, reconstruction, a floor's name, …
    unit: str = "view"              # view | pair
    metrics: tuple[str, ...] = IMAGE_METRICS     # which of ALL_METRICS apply
    data: DataConfig                # resolution, patch rule, pairs, seed of the eval units
    run_id: str = ""
    checkpoint_step: int | None = None
    checkpoint_path: str = ""

    def notes(self) -> list[str]:
        """Facts about this evaluator for the leaderboard's notes column."""
        return []

    def reuse_key(self) -> tuple | None:
        """Rows whose keys are equal (under the same options) score the very same pictures, so one process scores
        them once (e.g. the pipeline's reference row is AFN's); None: always scored."""
        return None

    def identity(self) -> dict:
        """What the leaderboard row says about the evaluated thing (plain values)."""
        return {"stage": self.stage, "role": self.role, "method": self.method, "run_id": self.run_id,
                "checkpoint_step": self.checkpoint_step, "checkpoint_path": self.checkpoint_path,
                "resolution": self.data.resolution, "seed": self.data.seed, "notes": self.notes()}

    @abstractmethod
    def predict(self, batch: Batch) -> Compared:
        """A batch (on the device) → output vs target: images in [-1, 1], labels for layout stages."""

    @abstractmethod
    def pictures(self, batch: Batch, compared: Compared) -> dict[str, torch.Tensor]:
        """Named (B, 3, h, w) pictures in [0, 1] for the gallery: inputs, output, target."""


def configure(data: DataConfig, options: EvalOptions) -> DataConfig:
    """The evaluator's data config with the options' batch size, loader workers and seed applied."""
    changes = {name: value for name, value in (("batch_size", options.batch_size),
                                               ("loader_workers", options.loader_workers),
                                               ("seed", options.seed)) if value is not None}
    return DataConfig(**{**asdict(data), **changes})


@dataclass
class EvalResult:
    """Scores over all ranks: values/skipped/meta as MetricSuite gives them, counts and the gallery (rank 0)."""
    values: dict[str, float]
    skipped: dict[str, str]
    meta: dict[str, Any]
    n_units: int
    eval_list_sha: str
    identity: dict = field(default_factory=dict)    # Evaluator.identity()
    bad_rows: int = 0
    world_size: int = 1
    seconds: float = 0.0
    gallery_columns: list[str] = field(default_factory=list)
    gallery_keys: list[str] = field(default_factory=list)
    gallery_rows: list[list[torch.Tensor]] = field(default_factory=list)   # (3, h, w) uint8 each

    def to_payload(self) -> dict:
        """Tensors and plain values only (loads with torch.load(weights_only=True)); the JSON round trip turns
        str subclasses such as torch.__version__ into str."""
        payload = dict(self.__dict__)
        for name in ("values", "skipped", "meta", "identity"):
            payload[name] = json.loads(json.dumps(payload[name]))
        return payload

    @classmethod
    def from_payload(cls, payload: dict) -> "EvalResult":
        return cls(**payload)


def evaluate(evaluator: Evaluator, options: EvalOptions, rank: int = 0, world_size: int = 1,
             device: torch.device | str = "cpu") -> EvalResult:
    """Score `evaluator` on this rank's share of the eval units; collective in a torch.distributed group.

    Raises EvalError when no unit was evaluated (on every rank alike) or a unit came twice; StreamError for
    unreadable shards or (unless options.skip_bad) a bad sample.
    """
    start = time.perf_counter()
    device = torch.device(device)
    wanted = tuple(m for m in options.metrics if m in evaluator.metrics)
    if not wanted:
        raise EvalError(f"none of the metrics {', '.join(options.metrics)} applies to {evaluator.stage}; choose "
                        f"from {', '.join(evaluator.metrics)}")
    suite = MetricSuite(wanted, inception_weights=options.inception_weights,
                        alexnet_weights=options.alexnet_weights, device=device)
    eval_set = cached = None
    if options.fid_cache and "fid" in suite.metrics:
        eval_set = eval_set_name(evaluator.stage, evaluator.unit, evaluator.data.afn_eval_pairs, options.shards,
                                 options.split, options.limit)
        cached = use_cache(suite, options.fid_cache, eval_set, evaluator.data.resolution)
    loader = eval_loader(evaluator.unit, evaluator.data, rank, world_size, shards=options.shards,
                         limit=options.limit, strict=not options.skip_bad, split=options.split)
    keys: list[str] = []
    columns: list[str] = []
    gallery_keys: list[str] = []
    gallery_rows: list[list[torch.Tensor]] = []
    bar = tqdm(desc=f"eval {evaluator.stage} {evaluator.method}", unit=evaluator.unit,
               disable=not options.progress or rank != 0, dynamic_ncols=True)
    try:
        with torch.no_grad():
            for batch in loader:
                batch = move_batch(batch, device)
                compared = evaluator.predict(batch)
                suite.update(compared.fake, compared.real)
                if compared.labels is not None:    # K sampled layouts per unit when given, else one
                    suite.update_layout(compared.labels, compared.gt_labels, compared.label_samples)
                keys.extend(batch["key"])
                if rank == 0 and len(gallery_rows) < options.gallery_samples:
                    pictures = evaluator.pictures(batch, compared)
                    columns = list(pictures)
                    for i, key in enumerate(batch["key"][:options.gallery_samples - len(gallery_rows)]):
                        gallery_keys.append(key)
                        gallery_rows.append([unit_to_uint8(pictures[name][i].detach().float()).cpu()
                                             for name in columns])
                bar.update(len(batch["key"]))
    finally:
        bar.close()
    all_keys = [key for part in gather_objects(keys) for key in part]
    bad_rows = sum(gather_objects(loader.stats.bad_total))
    if not all_keys:
        raise EvalError(f"shards {options.shards!r} (split {options.split or 'all'}) hold no {evaluator.unit} "
                        f"units to evaluate; check the shards and --split")
    if len(set(all_keys)) != len(all_keys):
        raise EvalError(f"{len(all_keys) - len(set(all_keys))} unit(s) were evaluated twice; the shard spec names "
                        f"the same products more than once")
    if eval_set is not None:
        _settle_real_stats(suite, options.fid_cache, eval_set, evaluator.data.resolution, cached,
                           len(all_keys))
    scores = suite.compute()    # collective: syncs every metric's states
    return EvalResult(scores.values, scores.skipped, scores.meta, len(all_keys), eval_list_sha(sorted(all_keys)),
                      evaluator.identity(), bad_rows, world_size, time.perf_counter() - start, columns,
                      gallery_keys, gallery_rows)


def _settle_real_stats(suite: MetricSuite, cache_dir: str, eval_set: str, resolution: int, cached: Path | None,
                       n_units: int) -> None:
    """A used cache file must hold as many images as were scored; a fresh pass saves its real statistics."""
    if cached is not None:
        n_cached = suite.metrics["fid"].cached_real.n
        if n_cached != n_units:
            raise EvalError(f"cached real FID statistics {str(cached)!r} hold {n_cached} images but {n_units} units "
                            f"were scored; delete the file to recompute them")
        return
    path = suite.save_real_stats(cache_dir, eval_set, resolution)    # collective; rank 0 writes
    suite.real_stats_source = f"computed from real images, saved to {path}"


# --- the leaderboard row ----------------------------------------------------------------------------------------

def dataset_id(shards: str) -> str:
    """The dataset column: a local path spec made absolute (so runs from other folders compare), else as given."""
    return os.path.abspath(shards) if os.path.exists(shards) else shards


def device_text(device: torch.device | str, world_size: int = 1) -> str:
    """e.g. "cpu", "cuda:NVIDIA H100 80GB HBM3", "ray 2x cpu"."""
    device = torch.device(device)
    name = f"cuda:{torch.cuda.get_device_name(device)}" if device.type == "cuda" else device.type
    return name if world_size == 1 else f"ray {world_size}x {name}"


def _metric_impl(meta: dict) -> str:
    impl = meta.get("implementations", {})
    parts = [f"torch {impl.get('torch', '?')}", f"torchmetrics {impl.get('torchmetrics', '?')}"]
    parts += [spec.impl_id(meta[spec.name]) for spec in metric_specs() if spec.name in meta]
    return "; ".join(parts)


COLUMN_OF = column_of()    # SuiteResult value key → leaderboard column, from eval.metrics.registry


def leaderboard_row(result: EvalResult, options: EvalOptions, device: str, notes: str = "") -> tuple[dict, list[str]]:
    """(row for eval.leaderboard.append_row, reasons for empty metric cells). Non-finite values (e.g. garment mIoU
    when no garment class occurs) leave the cell empty with the reason."""
    who = result.identity
    reasons = [f"{name} skipped: {why}" for name, why in sorted(result.skipped.items())]
    row: dict[str, Any] = {}
    for key, column in COLUMN_OF.items():
        value = result.values.get(key)
        if value is not None and not math.isfinite(value):
            reasons.append(f"{key} undefined ({value}): e.g. no garment class in ground truth or prediction")
            value = None
        row[column] = value
    fid_meta = result.meta.get("fid", {})
    n_real = fid_meta.get("n_real", result.n_units)
    n_gen = fid_meta.get("n_fake", result.n_units)
    extra = [f"first {options.limit} units"] if options.limit is not None else []
    if str(fid_meta.get("real_stats", "")).startswith("cache "):
        extra.append(f"FID real statistics from {Path(fid_meta['real_stats'][6:]).name}")
    if result.bad_rows:
        extra.append(f"{result.bad_rows} bad data rows skipped")
    short = [reason.split("; ")[0][:160] for reason in reasons]   # the full reasons are printed
    text = "; ".join(part for part in [notes.strip(), *who["notes"], *extra, *short] if part)
    row.update({
        "run_id": who["run_id"], "git_commit": git_commit(), "stage": who["stage"], "role": who.get("role"),
        "method": who["method"],
        "checkpoint_step": who["checkpoint_step"], "checkpoint_path": who["checkpoint_path"],
        "dataset": dataset_id(options.shards), "split": options.split or "all", "eval_list_sha": result.eval_list_sha,
        "resolution": who["resolution"], "n_real": n_real, "n_gen": n_gen,
        "metric_impl": _metric_impl(result.meta),
        "fid_weights_sha256": fid_meta.get("weights", {}).get("sha256"),
        "lpips_weights_sha256": result.meta.get("lpips", {}).get("backbone_sha256"),
        "seed": who["seed"], "device": device, "notes": " ".join(text.split()),
    })
    return row, reasons


def default_gallery_dir(leaderboard: str | os.PathLike, identity: dict) -> Path:
    """<leaderboard folder>/galleries/<run>-<stage>[-<step>]/ (baselines and the pipeline have no step)."""
    step = identity["checkpoint_step"]
    name = f"{identity['run_id']}-{identity['stage']}" + (f"-{step}" if step is not None else "")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Path(leaderboard).resolve().parent / "galleries" / safe
