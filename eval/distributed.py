"""The same evaluation on Ray workers: a TorchTrainer whose worker loop runs `eval.runner.evaluate` on its rank's
share of the eval stream (`eval_loader(rank, world)`: every unit exactly once over the ranks).

Metric states, unit keys and bad-row counts are gathered over the torch.distributed group Ray Train sets up
(torchmetrics syncs on compute), so every rank holds the 1-process result. Every rank reports once; rank 0 attaches
a checkpoint folder holding `eval_result.pt` (the scores, counts and its gallery pictures), which the driver reads
back through the Result — so only the driver writes the leaderboard row and the gallery.
Every rank builds its own evaluator (loads the checkpoints; a baseline reads its train sample), deterministically.

Ray is started as paint's training starts it: `ray.init(address="local", dashboard_host="127.0.0.1")` (a local
cluster on loopback, never a stray one) unless RAY_ADDRESS names a cluster to join; a Ray started here is shut
down here. On a multi-node cluster the checkpoints and the shards must be readable from every node, and
`storage` must be shared storage (a path every node mounts, or a cloud URI).
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
import uuid
from pathlib import Path

import torch

from eval.runner import EvalError, EvalOptions, EvalResult, evaluate

from eval.floors import get_floor
from eval.specs import make_evaluator
from paint.data.shardspec import expand_urls
from paint.ray_train import ensure_ray, keep_ray_local, root_cause

RESULT_FILE = "eval_result.pt"


def _eval_worker(config: dict) -> None:
    """Runs in every Ray Train worker process."""
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device() if config["use_gpu"] else torch.device("cpu")
    options = EvalOptions.from_dict(config["options"])
    evaluator = make_evaluator(config["spec"], options, device)
    result = evaluate(evaluator, options, rank, world, device)
    if rank != 0:
        ray.train.report({"n_units": result.n_units}, checkpoint=None)
        return
    with tempfile.TemporaryDirectory(prefix="paint-eval-") as folder:
        torch.save(result.to_payload(), Path(folder) / RESULT_FILE)
        ray.train.report({"n_units": result.n_units}, checkpoint=ray.train.Checkpoint.from_directory(folder))


def for_workers(spec: dict, options: EvalOptions) -> tuple[dict, EvalOptions]:
    """The request with local paths made absolute (Ray workers run in another working directory): shard specs
    become their shard files (URLs and pipe: commands pass unchanged), weight files absolute paths."""
    spec = dict(spec)
    if spec.get("kind") == "baseline" and get_floor(spec["stage"], spec.get("method")).needs_train:
        spec["train_shards"] = ",".join(expand_urls(spec.get("train_shards") or options.shards, "train"))
    absolute = lambda path: os.path.abspath(path) if path else path    # noqa: E731
    options = dataclasses.replace(options, shards=",".join(expand_urls(options.shards, options.split)),
                                  inception_weights=absolute(options.inception_weights),
                                  alexnet_weights=absolute(options.alexnet_weights))
    return spec, options


def evaluate_on_ray(spec: dict, options: EvalOptions, num_workers: int, use_gpu: bool = False,
                    cpus_per_worker: float = 1.0, storage: str | None = None) -> EvalResult:
    """Evaluate `spec` (see eval.runner.make_evaluator) on `num_workers` Ray Train workers; the result equals a
    single process's. Raises EvalError with the failing worker's error in one line."""
    keep_ray_local()
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if num_workers < 1:
        raise EvalError(f"--num-workers must be ≥ 1, got {num_workers}")
    worker_spec, worker_options = for_workers(spec, options)
    started = not ray.is_initialized()
    ensure_ray()
    try:
        with tempfile.TemporaryDirectory(prefix="paint-eval-ray-") as scratch:
            resources = {"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})}
            trainer = TorchTrainer(
                _eval_worker,
                train_loop_config={"spec": worker_spec, "options": worker_options.to_dict(), "use_gpu": use_gpu},
                scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                             resources_per_worker=resources),
                run_config=RunConfig(name=f"paint-eval-{uuid.uuid4().hex[:12]}", storage_path=storage or scratch))
            try:
                result = trainer.fit()
            except Exception as exc:   # Ray wraps worker errors; name the root cause in one line
                raise EvalError(f"evaluation on Ray failed: {root_cause(exc)}") from None
            if result.checkpoint is None:
                raise EvalError("evaluation on Ray returned no result (rank 0 attached no checkpoint)")
            with result.checkpoint.as_directory() as folder:
                payload = torch.load(Path(folder) / RESULT_FILE, weights_only=True)
    finally:
        if started:
            ray.shutdown()
    return EvalResult.from_payload(payload)
