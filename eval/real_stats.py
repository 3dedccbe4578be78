"""Which real FID statistics an evaluation can reuse, and where they live.

Real statistics (Inception features of the ground-truth images) depend only on the eval set, not on the model, so
`paint-eval` computes them once and reuses them from `<leaderboard folder>/fid_stats/`. A cache file is keyed by
(eval set, resolution, Inception sha256, preprocessing) — see eval.metrics.fid.RealStatsKey. The eval set is
named by what the real side holds:
- the stage's kind of real picture: views (TSN), colourised layouts (LGN), target views of pairs (AFN, pipeline;
  with the pair rule);
- the split and `--limit`;
- the shards' content: sha256 of every local shard file (so a moved or re-generated but identical set still
  hits, and a changed file misses); URLs and pipe: commands by their spec text.
After the pass the runner checks the cached count against the units it scored (a stale file fails loudly).

In a torch.distributed group rank 0 hashes the shards, decides and reads; the name and the statistics are
broadcast, so every rank uses the same.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from eval.metrics import MetricSuite
from eval.metrics.fid import load_real_stats
from paint.data.shardspec import expand_urls
from paint.distributed import from_rank0, is_rank0
from paint.io import sha256_file
from paint.stages import stage_class

CACHE_FOLDER = "fid_stats"


def shards_fingerprint(shards: str, split: str | None) -> str:
    """sha256 over the shard files' names-independent content hashes (local) or spec texts (remote), in order."""
    digest = hashlib.sha256()
    for url in expand_urls(shards, split):
        path = Path(url)
        digest.update((sha256_file(path) if path.is_file() else f"spec:{url}").encode() + b"\n")
    return digest.hexdigest()


def real_kind(stage: str, unit: str, pairs: str) -> str:
    """What the real side of a stage's evaluation holds: its target pictures (the pipeline's: pair target views)."""
    layouts = stage != "pipeline" and stage_class(stage).output == "layout"
    if unit == "pair":
        return f"pair-{'layouts' if layouts else 'targets'}-{pairs}"
    return "layouts" if layouts else "views"


def eval_set_name(stage: str, unit: str, pairs: str, shards: str, split: str | None, limit: int | None) -> str:
    """The eval_set field of the cache key (short: it becomes part of a file name). Only rank 0 hashes the shard
    files; the other ranks get its answer."""
    rank0 = is_rank0()
    content = from_rank0(shards_fingerprint(shards, split)[:20] if rank0 else None)
    return f"{real_kind(stage, unit, pairs)}-{split or 'all'}-{'n' + str(limit) if limit else 'full'}-{content}"


def use_cache(suite: MetricSuite, cache_dir: str | Path, eval_set: str, resolution: int) -> Path | None:
    """Load cached real statistics into `suite`'s FID when the file exists (rank 0 reads, every rank gets them).
    Returns the file used or None. Raises RealStatsError for a stale or unreadable file."""
    fid = suite.metrics.get("fid")
    if fid is None:
        return None
    path = suite.real_stats_path(cache_dir, eval_set, resolution)
    rank0 = is_rank0()
    stats = from_rank0(load_real_stats(path, fid.real_key(eval_set, resolution)) if rank0 and path.is_file()
                        else None)
    if stats is None:
        return None
    fid.set_real_stats(stats)
    suite.real_stats_source = f"cache {path}"
    return path
