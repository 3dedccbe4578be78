"""A sweep: the Tuner around `tune.trial.PaintTrial`, its scheduler (ASHA or PBT), how many trials run at once,
and restoring an interrupted sweep.

Everything lives under the sweep's output folder:
    OUT/sweep.yaml     what was asked (stage, base config, space, scheduler, metric): `--resume` reads it back
    OUT/tune/          Ray Tune's experiment (trial folders, result.json, experiment state, PBT policy logs)
    OUT/train/         the trials' Ray Train runs (logs, grids, TensorBoard, checkpoints), trial-<id>[-from-…]
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

from paint.io import write_text_atomic
from tune.search_space import Space, parse_space

SPEC_FILE = "sweep.yaml"
TUNE_DIR = "tune"
TRAIN_DIR = "train"
SCHEDULERS = ("asha", "pbt")
# A trial's own process only drives its Train run (the workers hold the CPUs/GPUs), so it asks for no CPU;
# Ray needs a non-empty request, so it asks for some of the memory resource instead.
DRIVER_MEMORY = 512 * 2**20
PBT_CHECKPOINTS_KEPT = 4    # per trial; PBT copies from a trial's latest, so more than 2 (Ray warns below that)


@dataclasses.dataclass
class SweepSpec:
    """What a sweep runs; saved as OUT/sweep.yaml. `base` is the full resolved config every trial starts from
    (preset, --config, the space's fixed values, command-line overrides); `runtime` holds the prepared data
    (data.shards and data.val_shards as absolute paths for workers on any node)."""
    stage: str
    base: dict
    space: dict
    scheduler: str
    metric: str
    mode: str
    num_samples: int
    out: str
    runtime: dict
    max_concurrent: int = 0          # 0 = as many as the cluster's resources fit
    grace_period: int = 1            # ASHA: epochs every trial gets before it can be stopped
    reduction_factor: int = 2        # ASHA: keep the best 1/reduction_factor at each rung
    perturbation_interval: int = 1   # PBT: epochs between exploit/explore steps
    quantile_fraction: float = 0.25  # PBT: bottom fraction copies the top fraction
    pbt_synch: bool = False          # PBT: every trial waits at each interval, then the bottom copies the top

    @property
    def tune_dir(self) -> Path:
        return Path(self.out) / TUNE_DIR

    @property
    def train_storage(self) -> Path:
        return Path(self.out) / TRAIN_DIR

    def space_obj(self) -> Space:
        return parse_space(self.space, f"{self.out}/{SPEC_FILE}")

    def trial_spec(self) -> dict:
        """What every trial receives (plain values only)."""
        return {"stage": self.stage, "base": self.base, "runtime": dict(self.runtime),
                "train_storage": str(self.train_storage), "tune_checkpoints": self.scheduler == "pbt"}

    def save(self) -> Path:
        path = Path(self.out) / SPEC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(path, yaml.safe_dump(dataclasses.asdict(self), sort_keys=False))

    @classmethod
    def load(cls, out: str | Path) -> "SweepSpec":
        path = Path(out) / SPEC_FILE
        values = yaml.safe_load(path.read_text())
        if "shards" in values:   # a sweep saved before the shards joined the runtime config
            values["runtime"] = {"data.shards": values.pop("shards"), **values["runtime"]}
        return cls(**values)


def has_sweep(out: str | Path) -> bool:
    return (Path(out) / SPEC_FILE).is_file()


def trials_per_cluster(scaling, resources: dict) -> int:
    """How many trials fit `resources` (ray.cluster_resources()) at once: each needs its Train workers
    (num_workers × cpus_per_worker CPUs, × gpus_per_worker GPUs when use_gpu) and DRIVER_MEMORY for its own
    process. At least 1 (a smaller cluster may still grow, or the trial waits for workers)."""
    need = {"CPU": scaling.num_workers * scaling.cpus_per_worker, "memory": DRIVER_MEMORY}
    if scaling.use_gpu:
        need["GPU"] = scaling.num_workers * scaling.gpus_per_worker
    fits = [int(resources.get(name, 0.0) // amount + 1e-9) for name, amount in need.items() if amount > 0]
    return max(1, min(fits))


class ClipToRange:
    """PBT's explore step multiplies continuous values by 0.8 or 1.2; keep them inside the space's range."""

    def __init__(self, ranges: dict[str, tuple[float, float]]):
        self.ranges = ranges

    def __call__(self, config: dict) -> dict:
        for key, (low, high) in self.ranges.items():
            if key in config:
                config[key] = min(max(float(config[key]), low), high)
        return config


def make_scheduler(spec: SweepSpec):
    """ASHA or PBT over the `epoch` each report carries (the trials' own count, right after restores too)."""
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    space = spec.space_obj()
    if spec.scheduler == "asha":
        epochs = int(max_epochs(spec, space))
        return ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(spec.grace_period, epochs),
                             reduction_factor=spec.reduction_factor)
    ranges = {p.key: tuple(p.values) for p in space.params if p.kind in ("loguniform", "uniform")}
    return PopulationBasedTraining(time_attr="epoch", perturbation_interval=spec.perturbation_interval,
                                   hyperparam_mutations=space.mutations(), quantile_fraction=spec.quantile_fraction,
                                   resample_probability=0.25, custom_explore_fn=ClipToRange(ranges),
                                   synch=spec.pbt_synch)


def max_epochs(spec: SweepSpec, space: Space) -> int:
    searched = [max(p.values) for p in space.params if p.key == "train.epochs"]
    return int(searched[0]) if searched else int(spec.base["train"]["epochs"])


def _trainable(spec: SweepSpec):
    from tune.trial import PaintTrial  # noqa: I001 (the project's tune package, before Ray's)
    from ray import tune

    return tune.with_resources(tune.with_parameters(PaintTrial, spec=spec.trial_spec()),
                               tune.PlacementGroupFactory([{"CPU": 0, "memory": DRIVER_MEMORY}]))


def run_sweep(spec: SweepSpec, resume: bool = False, resume_errored: bool = False, scaling=None):
    """Run (or, with `resume`, continue) the sweep; Ray must be running. Returns (ResultGrid, concurrency).
    A trial that fails is recorded as ERROR and the others go on."""
    import ray
    from ray import tune

    trainable = _trainable(spec)
    if resume:
        tuner = tune.Tuner.restore(str(spec.tune_dir), trainable=trainable, resume_unfinished=True,
                                   resume_errored=resume_errored)
        return tuner.fit(), None
    concurrency = spec.max_concurrent or trials_per_cluster(scaling, ray.cluster_resources())
    tuner = tune.Tuner(
        trainable,
        param_space=spec.space_obj().param_space(),
        tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, scheduler=make_scheduler(spec),
                                    num_samples=spec.num_samples, max_concurrent_trials=concurrency,
                                    reuse_actors=False),
        run_config=tune.RunConfig(
            name=TUNE_DIR, storage_path=str(Path(spec.out)),
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=PBT_CHECKPOINTS_KEPT if spec.scheduler == "pbt" else None),
            verbose=int(os.environ.get("PAINT_TUNE_VERBOSE", "1"))),
    )
    return tuner.fit(), concurrency


def best_config(spec: SweepSpec, values: dict):
    """The full config of a trial as `train_<stage> --config` takes it: the base config with the trial's
    values (data paths as they were given, not the prepared ones)."""
    from tune.trial import trial_config

    return trial_config(spec.trial_spec(), values)
