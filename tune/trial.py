"""One Tune trial: the stage's real Ray Train job (paint.ray_train.build_trainer, the same TorchTrainer the
`train_<stage>` scripts run) with the trial's values, its epoch reports passed on to Tune.

The trial is only the Train run's driver; the training state lives in the Train run's checkpoints:
- a fresh trial's Train run is named after the trial, so when the trial is restarted (the sweep restored after an
  interruption) Ray Train finds that run in storage and resumes it from its latest checkpoint;
- when Tune hands the trial a checkpoint (PBT exploited another trial), a new Train run starts from it
  (`run.resume_from`) with the trial's current values, which the training loop applies to the optimisers and
  losses (paint.train_loop.fit) instead of the checkpoint's.

Reports travel worker → Train controller → `ForwardReports` (a Train callback, like Ray's TuneReportCallback, but
it also hands over the checkpoint and the controller) → a queue → `PaintTrial.step`. A Tune checkpoint (PBT asks
for one) is a copy of the Train checkpoint of the last report. When Tune stops a trial early (ASHA, a PBT pause)
the Train run is aborted through its controller, so its workers and their resources are released at once.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import threading
from pathlib import Path

from ray.tune import Trainable

from paint.config import apply_overrides, from_dict
from paint.ray_train import build_trainer, fit_with_restarts, root_cause
from paint.run_setup import check_config
from paint.stages import config_class

CHECKPOINT_PATH_KEY = "checkpoint_path"
START_FOLDER = "start-checkpoint"    # inside a Train run folder: the Tune checkpoint it started from
_ENDED = "__paint_train_run_ended__"
_STOP_WAIT_S = 120.0


class TrialError(RuntimeError):
    """A trial's training run failed; the message is one line (the root cause), shown in trials.csv."""


def trial_config(spec: dict, values: dict):
    """The config a trial trains with: the sweep's base config (preset, --config, fixed, overrides) plus the
    trial's searched values. `spec` is tune.sweep.SweepSpec.trial_spec()."""
    base = from_dict(config_class(spec["stage"]), spec["base"])
    return apply_overrides(base, dict(values))


def trial_run_name(trial_id: str, start_from: str = "", values: dict | None = None) -> str:
    """A trial's Train run: named after the trial, plus (when it starts from a Tune checkpoint) a digest of that
    checkpoint and the values, so a restarted attempt finds its run again but every exploit starts a new one."""
    if not start_from:
        return f"trial-{trial_id}"
    digest = hashlib.sha1(json.dumps([start_from, values], sort_keys=True, default=str).encode()).hexdigest()
    return f"trial-{trial_id}-from-{digest[:10]}"


def _forward_callback(queue):
    """A Ray Train callback (it runs in the Train controller) that puts (rank 0's metrics, checkpoint, the
    controller's handle) of every report on `queue`. The queue holds one item, so the controller waits for the
    trial to take the previous report: training does not run far ahead of Tune's decisions."""
    import ray
    from ray.train.v2.api.callback import UserCallback

    class ForwardReports(UserCallback):
        def after_report(self, run_context, metrics, checkpoint):
            queue.put((dict(metrics[0]), checkpoint, ray.get_runtime_context().current_actor))

    return ForwardReports()


class PaintTrial(Trainable):
    """Tune's class trainable: `config` maps dotted keys to this trial's values; `spec` is the sweep's
    trial_spec(). One `step` is one epoch of the Train run."""

    def setup(self, config: dict, spec: dict | None = None):
        self.spec = spec
        self.start_from = ""          # a Tune checkpoint (copied into the Train run folder) to start from
        self.queue = self.runner = self.controller = None
        self.outcome: dict = {}
        self.last_checkpoint = None   # the Train checkpoint of the last report
        self.finished = False

    # --- the Train run ------------------------------------------------------------------------------------
    def _start(self) -> None:
        from ray.util.queue import Queue

        values = dict(self.config)
        name = trial_run_name(self.trial_id, self.start_from, values)
        storage = Path(self.spec["train_storage"])
        resume_from = ""
        if self.start_from:  # a stable copy: Tune may hand over a temporary folder
            resume_from = str(storage / name / START_FOLDER)
            if not Path(resume_from, "state.pt").is_file():
                shutil.copytree(self.start_from, resume_from, dirs_exist_ok=True)
        cfg = apply_overrides(trial_config(self.spec, values), {
            **self.spec["runtime"], "run.name": name, "run.storage_path": str(storage),
            "run.resume_from": resume_from})
        if cfg.train.threads == 0:  # trials share nodes: torch's default (every core) would oversubscribe them
            cfg = apply_overrides(cfg, {"train.threads": max(1, math.ceil(cfg.scaling.cpus_per_worker))})
        check_config(cfg)
        self.cfg = cfg
        self.queue = Queue(maxsize=1, actor_options={"num_cpus": 0})
        callbacks = [_forward_callback(self.queue)]
        trainer, self.log_dir = build_trainer(cfg, callbacks=callbacks, report_settings=True)
        rebuild = lambda: build_trainer(cfg, callbacks=callbacks, report_settings=True)[0]   # noqa: E731

        def fit() -> None:
            try:
                self.outcome["result"] = fit_with_restarts(trainer, rebuild, cfg.run.max_failures)
            except BaseException as exc:  # handed to step()
                self.outcome["error"] = exc
            finally:
                self.queue.put((_ENDED, None, None))

        # a daemon thread: the trial's process may end without waiting for it
        self.runner = threading.Thread(target=fit, name="paint-train-run", daemon=True)
        self.runner.start()

    def step(self) -> dict:
        if self.runner is None:
            self._start()
        metrics, checkpoint, controller = self.queue.get()
        if metrics == _ENDED:
            self.runner.join()
            if "error" in self.outcome:
                raise TrialError(f"trial {self.trial_id} failed: {root_cause(self.outcome['error'])}")
            # the run ended without a new report: it had already trained to its end before a restart
            result = self.outcome["result"]
            metrics = dict(result.metrics or {})
            checkpoint = result.checkpoint
        self.controller = controller or self.controller
        self.last_checkpoint = checkpoint or self.last_checkpoint
        metrics = {**metrics, "train_run": str(self.log_dir)}
        if checkpoint is not None:
            metrics[CHECKPOINT_PATH_KEY] = checkpoint.path
        self.finished = int(metrics.get("epoch", 0)) >= self.cfg.train.epochs
        return {**metrics, "done": self.finished}

    # --- Tune checkpoints (PBT) ---------------------------------------------------------------------------
    def save_checkpoint(self, checkpoint_dir: str):
        """Copy the Train checkpoint of the last report (PBT copies trials from these)."""
        if self.last_checkpoint is None:
            raise TrialError(f"trial {self.trial_id} has no checkpoint yet; set train.checkpoint_every_epochs=1")
        self.last_checkpoint.to_directory(checkpoint_dir)
        return None

    def load_checkpoint(self, checkpoint_dir: str):
        self.start_from = str(checkpoint_dir)
        if self.runner is not None:  # Tune restores before the first step; a live run would be stale
            self._abort()
            self.runner = None

    # --- stopping -----------------------------------------------------------------------------------------
    def _abort(self) -> None:
        """End the Train run through its controller (its worker group and placement group are released), after
        emptying the queue so a controller waiting to hand over a report can act."""
        import ray

        while True:
            try:
                self.queue.get_nowait()
            except Exception:  # Empty, or the queue is gone
                break
        if self.controller is not None:
            try:
                ray.get(self.controller.abort.remote(), timeout=_STOP_WAIT_S)
            except Exception:  # the controller exits as it aborts: its death is the expected answer
                pass
        self.runner.join(timeout=_STOP_WAIT_S / 4)

    def cleanup(self):
        if self.runner is None or not self.runner.is_alive():
            return
        if self.finished:  # the last epoch was reported: let the run register it and shut down by itself
            self.runner.join(timeout=_STOP_WAIT_S)
            if not self.runner.is_alive():
                return
        self._abort()
