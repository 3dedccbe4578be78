"""The three stages behind one registry: `make_config(stage, preset)` and `build_stage(cfg)`."""
from __future__ import annotations

from paint.stages import afn, lgn, tsn
from paint.stages.base import Stage

_STAGES = {"lgn": (lgn.LGNStage, lgn.preset, lgn.LGNConfig), "tsn": (tsn.TSNStage, tsn.preset, tsn.TSNConfig),
           "afn": (afn.AFNStage, afn.preset, afn.AFNConfig)}
STAGE_NAMES = tuple(_STAGES)
PRESETS = ("tiny", "small", "paper")


def _entry(stage: str):
    if stage not in _STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGE_NAMES)}")
    return _STAGES[stage]


def make_config(stage: str, preset: str = "small"):
    """The typed config of `stage` at `preset` (tiny: CPU tests at 64 px; small: CPU demo at 128 px; paper)."""
    return _entry(stage)[1](preset)


def config_class(stage: str) -> type:
    return _entry(stage)[2]


def build_stage(cfg) -> Stage:
    return _entry(cfg.stage)[0](cfg)
