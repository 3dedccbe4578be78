"""Callbacks into the training loop (`train.hooks`), for tests and tools that need evidence from inside a worker:
which process ran which rank, and which units a rank consumed. The loop itself records nothing of the kind.

`train.hooks` lists "package.module:function" paths (default: none). Every worker imports them when it starts (so
the module must be importable in the worker processes) and calls each with a `HookEvent`:

    worker_started   once per worker process, before its first epoch: pid, and node (the Ray node id, "" outside
                     Ray)
    epoch_keys       after each epoch's batches: epoch (0-based) and keys (this rank's unit keys, in order)

A hook runs inside the training loop and an exception in it fails the run.
"""
from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from paint.config import ConfigError

_HOOK_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class HookEvent:
    name: str                       # worker_started | epoch_keys
    rank: int
    world_size: int
    log_dir: Path                   # the run's log folder (the same on every rank)
    pid: int
    node: str = ""                  # worker_started: the Ray node id ("" outside Ray)
    epoch: int | None = None        # epoch_keys: the epoch, 0-based
    keys: tuple[str, ...] = ()      # epoch_keys: the unit keys this rank consumed, in order


def check_hook_paths(paths: list[str]) -> None:
    """ConfigError unless every entry looks like "module:function" (cheap: nothing is imported here)."""
    for index, path in enumerate(paths):
        if not _HOOK_PATH.match(path):
            raise ConfigError(f"train.hooks[{index}] = {path!r} must look like package.module:function")


def _load(path: str) -> Callable[[HookEvent], None]:
    module, _, name = path.partition(":")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"train.hooks: cannot load {path!r} in this worker ({type(exc).__name__}: {exc})") from None
    if not callable(function):
        raise ConfigError(f"train.hooks: {path!r} is not callable")
    return function


class Hooks:
    """The hooks of one worker; `emit(name, **fields)` calls each with a HookEvent. False when there are none, so
    the loop gathers what only hooks need (the consumed keys) only when some are installed."""

    def __init__(self, paths: list[str], rank: int, world_size: int, log_dir: Path):
        check_hook_paths(paths)
        self.callbacks = [_load(path) for path in paths]
        self.rank, self.world_size, self.log_dir = rank, world_size, Path(log_dir)

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def emit(self, name: str, **fields) -> None:
        if not self.callbacks:
            return
        event = HookEvent(name, self.rank, self.world_size, self.log_dir, os.getpid(), **fields)
        for callback in self.callbacks:
            callback(event)
