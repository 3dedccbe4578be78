"""The metric registry: every evaluation metric declares, once, what it is called, which values it produces and
under which leaderboard columns, which way is better, what it is fed, how it is built and how its implementation
is named. MetricSuite, the leaderboard's metric columns, the runner's value → column map and metric_impl text, and
the CLI's `--metrics` list all derive from here.

Adding a metric = one file (a torchmetrics Metric, its builder and its MetricSpec) + one registration line in
eval/metrics/builtin.py (or `register(spec)` before the leaderboard module is imported).

A metric's `compute()` raises NoDataError (after torchmetrics' sync, so every rank agrees) when nothing was given
to it; the suite records that as "skipped". Any other exception is a bug and propagates.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

INPUTS = ("sets", "pairs", "layouts")
# sets:    update(images, real: bool) with unpaired fake and real image sets (FID); a metric with cached real
#          statistics (attribute `cached_real` not None) is given only the fake side
# pairs:   update(fake, real), fake and real images of the same unit, (B, 3, H, W) float in the suite's value range
# layouts: update(pred, gt, samples=None) with integer label maps (see eval.metrics.segmentation)


class NoDataError(ValueError):
    """A metric was computed without (enough) data on any rank: skip it, the reason is the message."""


@dataclass(frozen=True)
class Column:
    """One value a metric produces: its key in SuiteResult.values, its leaderboard column, its direction.
    beatable: False for descriptive columns (e.g. diversity) where "better than a floor" means nothing."""
    key: str
    column: str
    higher_is_better: bool
    beatable: bool = True


@dataclass(frozen=True)
class BuildSettings:
    """What MetricSuite knows when it builds a metric: image value range (-1, 1) or (0, 1), weight paths."""
    value_range: tuple[float, float] = (-1.0, 1.0)
    inception_weights: str | os.PathLike | None = None
    alexnet_weights: str | os.PathLike | None = None
    fid_batch_size: int = 16


def _no_provenance(metric) -> dict:
    return {}


@dataclass(frozen=True)
class MetricSpec:
    """name: the `--metrics` name; columns: what compute() gives (a tensor/float for one column, else a dict with
    every column key; other dict entries go to the metric's meta); inputs: one of INPUTS; build: BuildSettings →
    Metric (raises paint.weights.WeightsError when its weights are unusable: the metric is then skipped);
    implementation: a one-line description recorded in meta[name]["implementation"]; provenance: Metric → extra
    meta (weights, settings); impl_id: meta[name] → the short text in the leaderboard's metric_impl column;
    packages: distributions whose versions are recorded in meta["implementations"]."""
    name: str
    columns: tuple[Column, ...]
    inputs: str
    build: Callable[[BuildSettings], Any]
    implementation: str
    impl_id: Callable[[dict], str]
    provenance: Callable[[Any], dict] = _no_provenance
    packages: tuple[str, ...] = ()

    def __post_init__(self):
        if self.inputs not in INPUTS:
            raise ValueError(f"metric {self.name!r}: inputs {self.inputs!r} is not one of {', '.join(INPUTS)}")
        if not self.columns:
            raise ValueError(f"metric {self.name!r} declares no columns")

    def values(self, computed) -> tuple[dict[str, float], dict[str, Any]]:
        """compute()'s result → (value key → float, extra meta entries)."""
        if not isinstance(computed, dict):
            return {self.columns[0].key: float(computed)}, {}
        keys = {column.key for column in self.columns}
        missing = keys - set(computed)
        if missing:
            raise KeyError(f"metric {self.name!r} computed no {', '.join(sorted(missing))}")
        return ({column.key: float(computed[column.key]) for column in self.columns},
                {key: value for key, value in computed.items() if key not in keys})


_REGISTRY: dict[str, MetricSpec] = {}


def register(spec: MetricSpec) -> MetricSpec:
    """Add `spec`; its names must be new (metric name, value keys and columns are unique across metrics)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is already registered")
    taken_keys = {c.key for s in _REGISTRY.values() for c in s.columns}
    taken_columns = {c.column for s in _REGISTRY.values() for c in s.columns}
    clash = [c.key for c in spec.columns if c.key in taken_keys] + \
        [c.column for c in spec.columns if c.column in taken_columns]
    if clash:
        raise ValueError(f"metric {spec.name!r} reuses value keys/columns {clash} of another metric")
    _REGISTRY[spec.name] = spec
    return spec


def specs() -> tuple[MetricSpec, ...]:
    """Every registered metric, in registration order."""
    return tuple(_REGISTRY.values())


def get(name: str) -> MetricSpec:
    """The spec registered as `name`; ValueError naming the known ones otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def metric_names() -> tuple[str, ...]:
    """The `--metrics` names, in registration order."""
    return tuple(_REGISTRY)


def image_metric_names() -> tuple[str, ...]:
    """Metrics fed with images (sets or pairs), in registration order."""
    return tuple(s.name for s in _REGISTRY.values() if s.inputs != "layouts")


def column_of() -> dict[str, str]:
    """Value key (SuiteResult.values) → leaderboard column, every metric's columns in registration order."""
    return {c.key: c.column for s in _REGISTRY.values() for c in s.columns}


def column_specs() -> dict[str, Column]:
    """Leaderboard column → its Column, in registration order."""
    return {c.column: c for s in _REGISTRY.values() for c in s.columns}
