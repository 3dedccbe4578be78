"""Search spaces: a YAML file over the trainers' dotted config keys, checked against the stage's config before
anything starts, and turned into Ray Tune's param space (and PBT's mutations).

    fixed:                       # optional: dotted overrides every trial gets (command-line overrides win)
      train.val_units: 16
    space:                       # required, at least one key
      loss.l1: {loguniform: [2.0, 18.0]}
      loss.perceptual: {uniform: [0.2, 1.0]}
      optim.d_to_g_lr: {choice: [1.0, 2.0, 4.0]}
      loss.gan: {grid: [lsgan, hinge]}     # every value, num_samples times each

A wrong file is refused with a one-line `SpaceError` naming the key and the fix.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml

from paint.checkpoint import CheckpointError
from paint.config import ConfigError, apply_overrides, flatten
from paint.stages import stage_class

DISTRIBUTIONS = ("loguniform", "uniform", "choice", "grid")
SECTIONS = ("fixed", "space")
# Keys the sweep itself sets for every trial (where it runs, which data it reads, how many workers it gets).
RESERVED_PREFIXES = ("run.", "scaling.", "data.shards", "data.val_shards")
RESERVED_KEYS = ("stage", "preset")
SHIPPED = Path(__file__).resolve().parent / "spaces"


class SpaceError(ValueError):
    """A search space is wrong; the message is one line naming the key (or file) and the fix."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched key: `kind` is a name in DISTRIBUTIONS; `values` are [low, high] for the continuous kinds
    and the candidate values for choice and grid."""
    key: str
    kind: str
    values: tuple

    def candidates(self) -> list:
        """Values that stand for the whole range when checking it against the config (both ends, midpoint)."""
        if self.kind in ("choice", "grid"):
            return list(self.values)
        low, high = self.values
        middle = math.sqrt(low * high) if self.kind == "loguniform" else (low + high) / 2
        return [low, middle, high]

    def to_tune(self):
        """The Ray Tune domain of this parameter."""
        from ray import tune

        if self.kind == "loguniform":
            return tune.loguniform(*self.values)
        if self.kind == "uniform":
            return tune.uniform(*self.values)
        if self.kind == "choice":
            return tune.choice(list(self.values))
        return tune.grid_search(list(self.values))

    def to_mutation(self):
        """What PBT may mutate this parameter to: continuous ranges are perturbed (×0.8/×1.2) or resampled,
        lists are shifted to a neighbour or resampled."""
        from ray import tune

        if self.kind == "loguniform":
            return tune.loguniform(*self.values)
        if self.kind == "uniform":
            return tune.uniform(*self.values)
        return list(self.values)


@dataclasses.dataclass(frozen=True)
class Space:
    """A parsed search space: `fixed` dotted overrides and the searched `params` (in file order)."""
    source: str
    fixed: dict[str, Any]
    params: tuple[Param, ...]

    def param_space(self) -> dict:
        return {p.key: p.to_tune() for p in self.params}

    def mutations(self) -> dict:
        return {p.key: p.to_mutation() for p in self.params}

    def to_dict(self) -> dict:
        """The YAML form (what `load_space` reads back)."""
        return {"fixed": dict(self.fixed), "space": {p.key: {p.kind: list(p.values)} for p in self.params}}


def shipped_space(stage: str) -> Path | dict:
    """The stage's own search space (Stage.tune_space: a file, or the space itself as a dict), else the one
    shipped here (tune/spaces/<stage>.yaml)."""
    declared = stage_class(stage).tune_space
    if isinstance(declared, dict):
        return declared
    return Path(declared) if declared else SHIPPED / f"{stage}.yaml"


def load_space(path: str | Path | dict) -> Space:
    """Read and parse a space file, or parse a space given as a dict (keys are not checked against a config yet:
    see `check_space`)."""
    if isinstance(path, dict):
        return parse_space(path, "<the stage's space>")
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"space file {str(path)!r} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpaceError(f"space file {str(path)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_space(values, str(path))


def parse_space(values: Any, source: str = "<space>") -> Space:
    """A mapping {fixed: {...}, space: {key: {distribution: values}}} → Space; SpaceError on the first problem."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise SpaceError(f"space file {source!r} must hold a mapping with a 'space' section")
    unknown = sorted(set(values) - set(SECTIONS))
    if unknown:
        raise SpaceError(f"space file {source!r}: unknown section {unknown[0]!r}; use 'fixed' and 'space'")
    fixed = values.get("fixed") or {}
    searched = values.get("space") or {}
    if not isinstance(fixed, dict):
        raise SpaceError(f"space file {source!r}: 'fixed' must map dotted keys to values")
    if not isinstance(searched, dict):
        raise SpaceError(f"space file {source!r}: 'space' must map dotted keys to distributions")
    if not searched:
        raise SpaceError(f"space file {source!r} searches nothing: add keys under 'space', e.g. "
                         f"loss.l1: {{loguniform: [2, 18]}}")
    fixed = flatten(fixed)  # nested sections are allowed in 'fixed' too
    params = tuple(_parse_param(str(key), spec, source) for key, spec in searched.items())
    both = sorted(set(fixed) & {p.key for p in params})
    if both:
        raise SpaceError(f"space file {source!r}: {both[0]!r} is both fixed and searched; keep one")
    return Space(source, fixed, params)


def _parse_param(key: str, spec: Any, source: str) -> Param:
    where = f"space file {source!r}, key {key!r}"
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SpaceError(f"{where}: give one distribution, e.g. {{loguniform: [low, high]}} "
                         f"(known: {', '.join(DISTRIBUTIONS)})")
    kind, values = next(iter(spec.items()))
    if kind not in DISTRIBUTIONS:
        raise SpaceError(f"{where}: unknown distribution {kind!r}; use one of {', '.join(DISTRIBUTIONS)}")
    if not isinstance(values, list) or not values:
        raise SpaceError(f"{where}: {kind} needs a non-empty list of values")
    if kind in ("loguniform", "uniform"):
        if len(values) != 2 or not all(_is_number(v) for v in values):
            raise SpaceError(f"{where}: {kind} needs [low, high] numbers, got {values!r}")
        low, high = (float(v) for v in values)
        if not low < high:
            raise SpaceError(f"{where}: {kind} needs low < high, got {values!r}")
        if kind == "loguniform" and low <= 0:
            raise SpaceError(f"{where}: loguniform needs 0 < low, got {values!r}")
        values = [low, high]
    return Param(key, kind, tuple(values))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def apply_fixed(space: Space, cfg):
    """`cfg` with the space's fixed values (SpaceError naming a bad key or value, or a key the sweep sets)."""
    _refuse_reserved(space, list(space.fixed))
    try:
        return apply_overrides(cfg, space.fixed)
    except ConfigError as exc:
        raise SpaceError(f"space file {space.source!r}, fixed: {exc}") from None


def _refuse_reserved(space: Space, keys: list[str]) -> None:
    for key in keys:
        if key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES):
            raise SpaceError(f"space file {space.source!r}: {key!r} is set by the sweep itself; give it as a "
                             f"command-line override instead")


def check_space(space: Space, cfg, check=None, locked: list[str] | tuple[str, ...] = ()) -> None:
    """Check every searched key and value of `space` against `cfg` (the sweep's base config): unknown keys,
    values of the wrong type, fractional ranges over whole-number settings, keys the sweep sets itself, keys
    also given as command-line overrides (`locked`). `check(cfg)` (e.g. paint.run_setup.check_config) vets each
    candidate config, so a value no trial could train with is refused now, not in a trial."""
    _refuse_reserved(space, [p.key for p in space.params])
    flat = flatten(cfg)
    for param in space.params:
        where = f"space file {space.source!r}, key {param.key!r}"
        if param.key in locked:
            raise SpaceError(f"{where} is also given as an override; drop one of them")
        if param.key not in flat:
            try:  # let the config name the unknown part of the key
                apply_overrides(cfg, {param.key: param.candidates()[0]})
            except ConfigError as exc:
                raise SpaceError(f"{where}: {exc}") from None
            raise SpaceError(f"{where}: not a setting of its own (a section?); search its leaves instead")
        if param.kind in ("loguniform", "uniform") and not isinstance(flat[param.key], float):
            raise SpaceError(f"{where}: {param.kind} gives fractional numbers but this setting is "
                             f"{type(flat[param.key]).__name__}; use choice or grid")
        for value in param.candidates():
            try:
                candidate = apply_overrides(cfg, {param.key: value})
                if check is not None:
                    check(candidate)
            except (ConfigError, CheckpointError) as exc:
                raise SpaceError(f"{where}: value {value!r}: {exc}") from None
