"""A `train.hooks` callback (paint/hooks.py) that leaves evidence from inside the training workers for the tests:

    <log dir>/workers/rank<k>.pid    the worker process of rank k (fault tests kill it)
    <log dir>/workers/starts         one line per worker start, restarts included: 'rank pid'
    <log dir>/workers/rank<k>.node   the Ray node it ran on (only under Ray)
    <log dir>/workers/rank<k>.keys   the unit keys rank k consumed in epoch 0, one a line (the data split)

Install it with the override in `RECORD_WORKERS`. The workers import it, so the repository root must be on their
Python path (tests/ray_fixtures.py's `script_env` puts it there for the console scripts).
"""
from __future__ import annotations

from paint.hooks import HookEvent
from paint.io import write_text_atomic

RECORD_WORKERS = "train.hooks=[tests.fault_hooks:record_workers]"


def record_workers(event: HookEvent) -> None:
    workers = event.log_dir / "workers"
    workers.mkdir(parents=True, exist_ok=True)
    if event.name == "worker_started":
        (workers / f"rank{event.rank}.pid").write_text(str(event.pid))
        with open(workers / "starts", "a") as starts:
            starts.write(f"{event.rank} {event.pid}\n")
        if event.node:
            (workers / f"rank{event.rank}.node").write_text(event.node)
    elif event.name == "epoch_keys" and event.epoch == 0:
        write_text_atomic(workers / f"rank{event.rank}.keys", "".join(f"{key}\n" for key in event.keys))
