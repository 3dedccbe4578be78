"""train.hooks (paint/hooks.py): paths are checked without importing anything, loaded in the worker, and called with
one event per point; none are installed by default. (Runs that use them: test_resume, test_train_ray, test_multinode.)"""
from __future__ import annotations

import os

import pytest

from paint.config import ConfigError
from paint.hooks import HookEvent, Hooks, check_hook_paths
from paint.ray_train import resolve_config
from tests.fault_hooks import RECORD_WORKERS

SEEN: list[HookEvent] = []


def remember(event: HookEvent) -> None:
    SEEN.append(event)


NOT_CALLABLE = 3


def test_no_hooks_by_default_and_the_override_installs_one():
    assert resolve_config("tsn", "tiny").train.hooks == []
    assert resolve_config("tsn", "tiny", overrides=[RECORD_WORKERS]).train.hooks == ["tests.fault_hooks:record_workers"]


@pytest.mark.parametrize("bad", ["tests.fault_hooks", "tests/fault_hooks.py:record", ":record", "a:b:c", "1x:f",
                                 "tests.fault_hooks:"])
def test_paths_that_are_not_module_function_are_refused_cheaply(bad):
    with pytest.raises(ConfigError, match=r"train\.hooks\[0\].*package\.module:function"):
        check_hook_paths([bad])
    with pytest.raises(ConfigError, match=r"train\.hooks\[0\]"):
        resolve_config("tsn", "tiny", overrides=[f"train.hooks=[{bad!r}]"])


@pytest.mark.parametrize("path, why", [("tests.no_such_module:f", "ModuleNotFoundError"),
                                       ("tests.test_hooks:no_such_function", "AttributeError"),
                                       ("tests.test_hooks:NOT_CALLABLE", "not callable")])
def test_a_hook_that_cannot_be_loaded_is_named(path, why, tmp_path):
    with pytest.raises(ConfigError, match=why) as caught:
        Hooks([path], 0, 1, tmp_path)
    assert path in str(caught.value)


def test_every_hook_gets_each_event_with_the_worker_fields(tmp_path):
    SEEN.clear()
    hooks = Hooks(["tests.test_hooks:remember", "tests.test_hooks:remember"], 1, 2, tmp_path)
    assert hooks
    hooks.emit("epoch_keys", epoch=0, keys=("p/front",))
    assert SEEN == [HookEvent("epoch_keys", 1, 2, tmp_path, os.getpid(), epoch=0, keys=("p/front",))] * 2
    assert not Hooks([], 0, 1, tmp_path)
    Hooks([], 0, 1, tmp_path).emit("worker_started")    # nothing to call, nothing written
    assert list(tmp_path.iterdir()) == []
