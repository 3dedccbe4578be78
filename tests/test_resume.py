"""Resuming from an epoch-end checkpoint continues exactly as the uninterrupted run (CPU, fixed seed, real shards):
the per-epoch losses reported after the resume and the final weights, optimiser states, EMA and RNG states are
bit-for-bit those of a run that never stopped.

Directly through `paint.train_loop.fit` (one process, rank 0 of 1, no Ray), with and without loader worker
processes, and once through the real `train_tsn` console script on Ray resuming a checkpoint written by `fit`.
"""
import os
import shutil
from pathlib import Path

import pytest
import torch

from paint.checkpoint import META_FILE, CheckpointError, CheckpointMeta, load_checkpoint, read_meta
from paint.run_setup import resolve_config
from paint.train_loop import fit
from tests.fault_hooks import RECORD_WORKERS
from tests.ray_fixtures import (assert_same_state, printed_checkpoint, printed_metrics, ray_tmp,  # noqa: F401
                                reported_metrics, run_script, tiny_args, tiny_shards, wait_until_ray_gone)

EPOCHS, BATCHES = 3, 2
RUN_TIMEOUT = 300


class Interrupted(Exception):
    """Raised by the recording reporter to stop a run after a given epoch, as a crash would."""


class Recorder:
    """A reporter for `fit`: keeps every epoch's metrics and a copy of every checkpoint folder (fit deletes its
    temporary folder once the reporter returns); optionally interrupts the run after epoch `stop_after`."""

    def __init__(self, folder: Path, stop_after: int | None = None):
        self.folder, self.stop_after = folder, stop_after
        self.metrics: dict[int, dict] = {}
        self.checkpoints: dict[int, Path] = {}

    def __call__(self, metrics: dict, checkpoint: Path | None) -> None:
        epoch = int(metrics["epoch"])
        assert epoch not in self.metrics, f"epoch {epoch} reported twice"
        self.metrics[epoch] = dict(metrics)
        if checkpoint is not None:
            self.checkpoints[epoch] = Path(shutil.copytree(checkpoint, self.folder / f"epoch{epoch}"))
        if self.stop_after is not None and epoch >= self.stop_after:
            raise Interrupted(f"stopped after epoch {epoch}")


def tiny_config(shards: Path, *extra: str):
    return resolve_config("tsn", "tiny", None, [f"data.shards={shards}", f"data.batches_per_epoch={BATCHES}",
                                                 f"train.epochs={EPOCHS}", "train.threads=1", *extra])


def run_fit(cfg, folder: Path, shards: Path, resume: Path | None = None, stop_after: int | None = None) -> Recorder:
    folder.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(folder, stop_after)
    payload = load_checkpoint(resume, stage="tsn") if resume is not None else None
    try:
        fit(cfg, 0, 1, recorder, folder / "log", resume=payload)
    except Interrupted:
        pass
    return recorder


@pytest.fixture(autouse=True)
def keep_thread_count():
    """fit() sets torch's thread count from train.threads; give the rest of the session its own back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# Variant "extend": a run of 1 epoch (train.epochs=1), resumed with train.epochs=3; constant learning rate, so
# the 1-epoch run is the first epoch of the 3-epoch one. Variant "crash": the 3-epoch run stops after epoch 2
# and is resumed; a warm-up + linear-decay schedule, gradient clipping and 2 loader worker processes per epoch.
VARIANTS = {
    "extend": dict(first=["train.epochs=1"], stop_after=None, k=1, common=[]),
    "crash": dict(first=[], stop_after=2, k=2, common=["data.loader_workers=2", "optim.schedule=linear",
                                                       "optim.warmup_steps=3", "optim.grad_clip=1.0"]),
}


@pytest.fixture(scope="module")
def uninterrupted(tiny_shards, tmp_path_factory) -> dict[str, Recorder]:
    """Each variant's uninterrupted 3-epoch run, keyed by variant (computed once)."""
    with_threads = torch.get_num_threads()
    out = {name: run_fit(tiny_config(tiny_shards, *v["common"]), tmp_path_factory.mktemp(f"full-{name}"),
                         tiny_shards) for name, v in VARIANTS.items()}
    torch.set_num_threads(with_threads)
    for recorder in out.values():
        assert sorted(recorder.metrics) == sorted(recorder.checkpoints) == list(range(1, EPOCHS + 1))
    return out


def assert_same_epochs(actual: dict[int, dict], expected: dict[int, dict], epochs) -> None:
    for epoch in epochs:
        assert actual[epoch] == expected[epoch], f"epoch {epoch}: {actual[epoch]} != {expected[epoch]}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_resumed_fit_matches_the_uninterrupted_run(variant, uninterrupted, tiny_shards, tmp_path):
    spec, full = VARIANTS[variant], uninterrupted[variant]
    k = spec["k"]
    first_cfg = tiny_config(tiny_shards, *spec["common"], *spec["first"], RECORD_WORKERS)
    first = run_fit(first_cfg, tmp_path / "first", tiny_shards, stop_after=spec["stop_after"])
    assert sorted(first.metrics) == list(range(1, k + 1))
    assert_same_epochs(first.metrics, full.metrics, range(1, k + 1))  # the same run up to the interruption
    # ... with a train.hooks callback installed, which saw this process start and epoch 0's units
    workers = tmp_path / "first" / "log" / "workers"
    assert sorted(p.name for p in workers.iterdir()) == ["rank0.keys", "rank0.pid", "starts"]   # no Ray node here
    assert int((workers / "rank0.pid").read_text()) == os.getpid()
    keys = (workers / "rank0.keys").read_text().splitlines()
    assert len(keys) == BATCHES * first_cfg.data.batch_size and all(keys)
    saved = load_checkpoint(first.checkpoints[k], stage="tsn")
    assert saved["epoch"] == k and saved["engine"]["step"] == k * BATCHES
    # meta.json says the same without loading weights; a folder without it is read through state.pt
    meta = CheckpointMeta("tsn", saved["config"]["preset"], saved["config"]["data"]["resolution"], k, k * BATCHES)
    assert read_meta(first.checkpoints[k], stage="tsn") == meta
    with pytest.raises(CheckpointError, match="belongs to stage 'tsn', not 'afn'"):
        read_meta(first.checkpoints[k], stage="afn")
    (first.checkpoints[k] / META_FILE).unlink()
    assert read_meta(first.checkpoints[k] / "state.pt") == meta

    second = run_fit(tiny_config(tiny_shards, *spec["common"], f"run.resume_from={first.checkpoints[k]}"),
                     tmp_path / "second", tiny_shards, resume=first.checkpoints[k])
    assert sorted(second.metrics) == list(range(k + 1, EPOCHS + 1)), "the resumed run must start at epoch k + 1"
    assert not (tmp_path / "second" / "log" / "workers").exists(), "without train.hooks the loop records nothing"
    assert_same_epochs(second.metrics, full.metrics, range(k + 1, EPOCHS + 1))
    resumed, expected = (load_checkpoint(r.checkpoints[EPOCHS]) for r in (second, full))
    assert resumed["epoch"] == expected["epoch"] == EPOCHS
    assert_same_state(resumed["engine"], expected["engine"], "engine")  # G, D, EMA, optimisers, schedules, RNG

    # the comparison has teeth: training after the resume changed the weights
    before = load_checkpoint(first.checkpoints[k])["engine"]["g"]
    assert any(not torch.equal(before[name], value) for name, value in resumed["engine"]["g"].items())


@pytest.mark.timeout(RUN_TIMEOUT + 120)
def test_train_tsn_resume_from_continues_the_run_exactly(uninterrupted, tiny_shards, ray_tmp, tmp_path):
    """fit's 1-epoch run, resumed by the console script on Ray with 1 worker, ends where the uninterrupted
    in-process run ends: same losses at epochs 2 and 3 and the same final state, bit for bit."""
    full = uninterrupted["extend"]
    first = run_fit(tiny_config(tiny_shards, "train.epochs=1"), tmp_path / "first", tiny_shards)
    args = tiny_args(tiny_shards, tmp_path / "runs", "resumed", f"data.batches_per_epoch={BATCHES}",
                     f"train.epochs={EPOCHS}", "scaling.num_workers=1", f"run.resume_from={first.checkpoints[1]}")
    result = run_script(args, tmp_path, ray_tmp, RUN_TIMEOUT)
    print(f"resumed train_tsn run: {result.seconds:.1f} s")
    assert result.rc == 0, f"exit {result.rc}\n{result.stderr[-4000:]}"
    assert f"[tsn] resumed at epoch 1, step {BATCHES}" in result.stdout, result.stdout[-3000:]

    reported = reported_metrics(tmp_path / "runs" / "resumed")
    assert sorted(reported) == list(range(2, EPOCHS + 1))
    assert all(m["world_size"] == 1 for m in reported.values())
    assert_same_epochs(reported, full.metrics, range(2, EPOCHS + 1))
    assert printed_metrics(result.stdout) == full.metrics[EPOCHS]

    final = load_checkpoint(printed_checkpoint(result.stdout), stage="tsn")
    assert final["epoch"] == EPOCHS
    assert_same_state(final["engine"], load_checkpoint(full.checkpoints[EPOCHS])["engine"], "engine")
    assert not wait_until_ray_gone(ray_tmp), "Ray processes are still running after train_tsn exited"
