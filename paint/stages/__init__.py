"""The one place that lists stages: `register_stage` (the three PAINT stages register below; a new stage, even one
defined outside paint/, registers itself the same way), then `make_config(stage, preset)`, `config_class(stage)`,
`stage_class(stage)` and `build_stage(cfg)`. Callers ask the Stage class what it is (unit, output kind, target,
Tune space), never its name."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from paint.stages.base import Stage

PRESETS = ("tiny", "small", "paper")


@dataclass(frozen=True)
class _Entry:
    stage: type[Stage]
    preset: Callable[[str], object]     # preset name → the stage's typed config
    config: type


_STAGES: dict[str, _Entry] = {}


def register_stage(stage: type[Stage], preset: Callable[[str], object], config: type) -> None:
    """List `stage` (its `name`, a `preset(name)` function for PRESETS, its config dataclass). Registering a name
    again replaces the entry (re-imports in tests)."""
    if not stage.name or "." in stage.name or stage.name == "pipeline":
        raise ValueError(f"a stage needs a name without dots, not {stage.name!r} ('pipeline' names the chain)")
    _STAGES[stage.name] = _Entry(stage, preset, config)


def unregister_stage(name: str) -> None:
    """Remove a registered stage (tests that define their own)."""
    _STAGES.pop(name, None)


def stage_names() -> tuple[str, ...]:
    """Every registered stage, in registration order (the chain's three first)."""
    return tuple(_STAGES)


def _entry(stage: str) -> _Entry:
    if stage not in _STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(_STAGES)}")
    return _STAGES[stage]


def make_config(stage: str, preset: str = "small"):
    """The typed config of `stage` at `preset` (tiny: CPU tests at 64 px; small: CPU demo at 128 px; paper)."""
    return _entry(stage).preset(preset)


def config_class(stage: str) -> type:
    return _entry(stage).config


def stage_class(stage: str) -> type[Stage]:
    """The Stage class, to ask what the stage is without building it (unit, output, samples_codes, tune_space)."""
    return _entry(stage).stage


def build_stage(cfg) -> Stage:
    return _entry(cfg.stage).stage(cfg)


from paint.stages import afn, lgn, tsn  # noqa: E402  (after the registry they join)

register_stage(lgn.LGNStage, lgn.preset, lgn.LGNConfig)
register_stage(tsn.TSNStage, tsn.preset, tsn.TSNConfig)
register_stage(afn.AFNStage, afn.preset, afn.AFNConfig)
STAGE_NAMES = stage_names()    # the built-in stages (fixed); stage_names() also lists stages registered later
