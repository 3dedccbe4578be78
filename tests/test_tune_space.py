"""Search spaces, the sweep's arithmetic and bad input, without a Ray cluster (seconds): space files are checked
against the stage's real config, the shipped spaces sit around the paper's weights, a bad command line is one
line from the real `paint-tune` script before Ray starts, and a resumed run takes its config's learning rates
and loss weights (what PBT's mutations rely on).
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from paint.config import apply_overrides
from paint.checkpoint import load_checkpoint
from paint.engine import effective_settings
from paint.run_setup import check_config, resolve_config
from paint.stages import STAGE_NAMES, make_config
from paint.train_loop import fit
from tests.ray_fixtures import ray_tmp, script_env, tiny_shards  # noqa: F401
from tune.report import TrialRow, pick_best
from tune.search_space import SpaceError, apply_fixed, check_space, load_space, parse_space, shipped_space
from tune.sweep import DRIVER_MEMORY, ClipToRange, trials_per_cluster

PAINT_TUNE = str(Path(sys.executable).with_name("paint-tune"))
QUICK_TIMEOUT = 90    # a refused command: Python and torch imports only


def tsn_base(*overrides: str):
    return resolve_config("tsn", "tiny", None, list(overrides))


def check(values: dict, *overrides: str) -> None:
    space = parse_space(values, "test.yaml")
    cfg = apply_fixed(space, tsn_base(*overrides))
    check_space(space, cfg, check=check_config)


# ------------------------------------------------------------------------------------------- space files

@pytest.mark.parametrize("values, named", [
    ({"space": {"loss.nosuch": {"uniform": [0, 1]}}}, "loss.nosuch"),
    ({"space": {"optimiser.lr_g": {"loguniform": [1e-4, 1e-3]}}}, "optimiser"),
    ({"space": {}}, "searches nothing"),
    ({"fixed": {"train.epochs": 2}}, "searches nothing"),
    (None, "searches nothing"),
    ({"space": {"loss.l1": {"normal": [0, 1]}}}, "unknown distribution 'normal'"),
    ({"space": {"loss.l1": {"loguniform": [0, 1]}}}, "0 < low"),
    ({"space": {"loss.l1": {"uniform": [3, 1]}}}, "low < high"),
    ({"space": {"loss.l1": {"choice": []}}}, "non-empty list"),
    ({"space": {"loss.l1": [1, 2]}}, "one distribution"),
    ({"space": {"train.epochs": {"uniform": [1, 4]}}}, "use choice or grid"),
    ({"space": {"optim.schedule": {"choice": ["constant", "sometimes"]}}}, "sometimes"),
    ({"space": {"scaling.num_workers": {"choice": [1, 2]}}}, "set by the sweep"),
    ({"space": {"data.shards": {"choice": ["a", "b"]}}}, "set by the sweep"),
    ({"fixed": {"run.name": "x"}, "space": {"loss.l1": {"uniform": [1, 2]}}}, "set by the sweep"),
    ({"fixed": {"loss.l1": 3.0}, "space": {"loss.l1": {"uniform": [1, 2]}}}, "both fixed and searched"),
    ({"fixed": {"train.nosuch": 1}, "space": {"loss.l1": {"uniform": [1, 2]}}}, "train.nosuch"),
    ({"spaces": {"loss.l1": {"uniform": [1, 2]}}}, "unknown section 'spaces'"),
])
def test_a_bad_space_is_one_line_naming_the_problem(values, named):
    with pytest.raises(SpaceError) as caught:
        check(values)
    message = str(caught.value)
    assert named in message and "\n" not in message, message


def test_a_searched_key_given_as_an_override_too_is_refused():
    space = parse_space({"space": {"loss.l1": {"uniform": [1, 2]}}}, "test.yaml")
    with pytest.raises(SpaceError, match="also given as an override"):
        check_space(space, tsn_base("loss.l1=3"), locked=["loss.l1"])


def test_a_good_space_becomes_tune_domains_and_pbt_mutations():
    from ray import tune

    space = parse_space({"fixed": {"train": {"epochs": 3}},
                         "space": {"loss.l1": {"loguniform": [2, 18]}, "loss.adv": {"uniform": [0.05, 0.2]},
                                   "optim.d_to_g_lr": {"choice": [1, 2, 4]}, "loss.gan": {"grid": ["lsgan", "hinge"]}}},
                        "test.yaml")
    assert space.fixed == {"train.epochs": 3}    # nested sections flatten to dotted keys
    cfg = apply_fixed(space, tsn_base())
    assert cfg.train.epochs == 3
    check_space(space, cfg, check=check_config)
    domains = space.param_space()
    assert isinstance(domains["loss.l1"], tune.search.sample.Float) and domains["loss.l1"].lower == 2.0
    assert domains["loss.gan"] == {"grid_search": ["lsgan", "hinge"]}
    mutations = space.mutations()
    assert mutations["optim.d_to_g_lr"] == [1, 2, 4] and mutations["loss.gan"] == ["lsgan", "hinge"]
    assert isinstance(mutations["loss.adv"], tune.search.sample.Float)
    # the parsed space round-trips through its YAML form (sweep.yaml keeps it for --resume)
    assert parse_space(space.to_dict(), "again").params == space.params


@pytest.mark.parametrize("stage", STAGE_NAMES)
@pytest.mark.parametrize("preset", ["small", "paper"])
def test_shipped_spaces_are_valid_and_surround_the_paper_weights(stage, preset):
    space = load_space(shipped_space(stage))
    cfg = apply_fixed(space, make_config(stage, preset))
    check_space(space, cfg, check=check_config)
    assert cfg.train.val_units > 0, "trials are ranked by the validation metric"
    keys = {p.key for p in space.params}
    assert "optim.lr_g" in keys and "optim.d_to_g_lr" in keys
    paper = make_config(stage, "paper")
    weights = [p for p in space.params if p.key.startswith("loss.")]
    assert len(weights) >= 4
    for param in weights:
        value = getattr(paper.loss, param.key.split(".", 1)[1])
        low, high = param.values
        assert low < value < high, f"{stage} {param.key}: paper value {value} outside [{low}, {high}]"
        assert math.isclose(math.log(value), (math.log(low) + math.log(high)) / 2, abs_tol=0.5), \
            f"{stage} {param.key}: not centred on the paper value"


def test_the_sweep_that_chose_the_small_tsn_preset_is_a_valid_space_holding_its_values():
    """bench/sweeps/tsn_demo_budget.yaml (README, docs): a space paint-tune accepts at the demo's budget, and the
    small preset's loss weights and learning rates lie inside it (they are the sweep's best trial)."""
    space = load_space(Path(__file__).resolve().parents[1] / "bench" / "sweeps" / "tsn_demo_budget.yaml")
    small = make_config("tsn", "small")
    cfg = apply_fixed(space, small)
    check_space(space, cfg, check=check_config)
    assert (cfg.train.epochs, cfg.data.batches_per_epoch) == (small.train.epochs, small.data.batches_per_epoch)
    for param in space.params:
        section, name = param.key.split(".", 1)
        value = getattr(getattr(small, section), name)
        assert (param.values[0] <= value <= param.values[1]) if param.kind == "loguniform" else \
            value in param.values, f"{param.key}={value} outside the sweep's {param.values}"


# ------------------------------------------------------------------------------------------- arithmetic

def test_trials_that_fit_the_cluster():
    cfg = make_config("tsn", "small")
    lots = 64 * 2**30
    assert trials_per_cluster(cfg.scaling, {"CPU": 2.0, "memory": lots}) == 2
    two = apply_overrides(cfg, {"scaling.num_workers": 2, "scaling.cpus_per_worker": 2.0})
    assert trials_per_cluster(two.scaling, {"CPU": 16.0, "memory": lots}) == 4
    gpu = apply_overrides(cfg, {"scaling.use_gpu": True, "scaling.num_workers": 4})
    assert trials_per_cluster(gpu.scaling, {"CPU": 128.0, "GPU": 8.0, "memory": lots}) == 2
    assert trials_per_cluster(gpu.scaling, {"CPU": 128.0, "memory": lots}) == 1    # waits for GPU nodes
    assert trials_per_cluster(cfg.scaling, {"CPU": 64.0, "memory": 3 * DRIVER_MEMORY}) == 3


def test_pbt_perturbations_stay_inside_the_space():
    clip = ClipToRange({"loss.l1": (2.0, 18.0)})
    assert clip({"loss.l1": 21.6, "loss.gan": "hinge"}) == {"loss.l1": 18.0, "loss.gan": "hinge"}
    assert clip({"loss.l1": 1.6})["loss.l1"] == 2.0 and clip({"loss.l1": 6.0})["loss.l1"] == 6.0


def row(trial_id, status="TERMINATED", early=False, last=0.5):
    return TrialRow(trial_id, status, early, 1 if early else 3, 1, last, last, {}, "", "", [])


def test_the_best_trial_is_one_that_trained_to_its_end():
    rows = [row("stopped", early=True, last=0.1), row("done-worse", last=0.4), row("done", last=0.3),
            row("failed", status="ERROR", last=0.01), row("nan", last=math.nan)]
    assert pick_best(rows, "min").trial_id == "done"
    assert pick_best(rows, "max").trial_id == "done-worse"
    assert pick_best([row("stopped", early=True, last=0.1), row("failed", status="ERROR")], "min").trial_id == "stopped"
    assert pick_best([row("failed", status="ERROR")], "min") is None


# --------------------------------------------------------------------------------- the real script refuses

@pytest.mark.timeout(5 * QUICK_TIMEOUT)
@pytest.mark.parametrize("space, args, named", [
    ("space:\n  loss.nosuch: {loguniform: [1, 10]}\n", [], ["loss.nosuch"]),
    ("fixed:\n  train.val_units: 2\nspace: {}\n", [], ["searches nothing"]),
    ("space:\n  loss.l1: {gaussian: [1, 10]}\n", [], ["gaussian", "loguniform"]),
    (None, ["--scheduler", "hyperband"], ["hyperband", "asha", "pbt"]),
    # a searched value the networks cannot take: refused by the validation pass, not by a failing trial
    ("space:\n  model.num_downs: {grid: [4, 7]}\n", [], ["model.num_downs", "value 7", "multiple of 128"]),
    ("space:\n  optim.lr_g: {choice: [1.0e-3, -1.0]}\n", [], ["optim.lr_g", "> 0"]),
])
def test_bad_input_is_one_line_before_ray_starts(space, args, named, ray_tmp, tmp_path):
    """The real console script: exit 2, one line, no Ray (its temp folder never appears), no output folder."""
    command = [PAINT_TUNE, "--stage", "tsn", "--preset", "tiny", "--out", str(tmp_path / "sweep"), *args,
               f"data.shards={tmp_path / 'no-shards'}", f"data.val_shards={tmp_path / 'no-shards'}"]
    if space is not None:
        (tmp_path / "space.yaml").write_text(space)
        command[1:1] = ["--space", str(tmp_path / "space.yaml")]
    done = subprocess.run(command, cwd=tmp_path, env=script_env(ray_tmp), capture_output=True, text=True,
                          timeout=QUICK_TIMEOUT)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("paint-tune: error:"), done.stderr
    for word in named:
        assert word in lines[0], f"{word!r} not named in: {lines[0]}"
    assert done.stdout == ""
    assert not os.path.exists(os.path.join(ray_tmp, "ray")), "Ray was started for a refused sweep"
    assert not (tmp_path / "sweep").exists(), "a refused sweep left an output folder"


@pytest.mark.parametrize("args, named", [
    (["--metric", "val/fid"], ["val/fid", "val/l1"]),
    (["--metric", "val/pixel_acc"], ["val/pixel_acc", "tsn"]),
    (["--scheduler", "pbt", "--num-samples", "1"], ["PBT", "--num-samples"]),
    (["--num-samples", "0"], ["--num-samples"]),
    (["--reduction-factor", "1"], ["--reduction-factor"]),
    (["train.val_units=0"], ["train.val_units"]),
    (["loss.l1=3"], ["loss.l1", "override"]),
    (["nosuch.key=1"], ["nosuch.key"]),
])
def test_more_bad_input_is_refused_by_main(args, named, tmp_path, capsys):
    """The same `main` in this process: one line, exit 2, Ray not started, nothing written."""
    import ray

    from tune.cli import main

    code = main(["--stage", "tsn", "--preset", "tiny", "--out", str(tmp_path / "sweep"), *args,
                 f"data.shards={tmp_path}", f"data.val_shards={tmp_path}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("paint-tune: error:"), err
    for word in named:
        assert word in err[0], f"{word!r} not named in: {err[0]}"
    assert not ray.is_initialized() and not (tmp_path / "sweep").exists()


@pytest.mark.timeout(2 * QUICK_TIMEOUT)
def test_resume_needs_a_sweep_and_a_new_sweep_needs_a_fresh_folder(tmp_path, capsys):
    from tune.cli import main

    assert main(["--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "holds no sweep" in capsys.readouterr().err
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "sweep.yaml").write_text("stage: tsn\n")
    assert main(["--stage", "tsn", "--out", str(taken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0]


# ------------------------------------------------------------------------ resumed runs take the new values

@pytest.fixture
def keep_thread_count():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_a_resumed_run_trains_with_its_own_learning_rates_and_loss_weights(tiny_shards, tmp_path,
                                                                           keep_thread_count):
    """What PBT relies on: the checkpoint holds the old learning rates in its optimiser state, the run's config
    (the mutated values) wins; an ordinary resume keeps the same values (tests/test_resume.py: bit for bit)."""
    cfg = resolve_config("tsn", "tiny", None, [f"data.shards={tiny_shards}", "data.batches_per_epoch=2",
                                               "train.epochs=1", "train.threads=1"])
    kept = {}

    def keep(metrics, folder):
        if folder is not None:
            kept["checkpoint"] = Path(shutil.copytree(folder, tmp_path / "epoch1"))

    fit(cfg, 0, 1, keep, tmp_path / "first")
    payload = load_checkpoint(kept["checkpoint"], stage="tsn")
    assert payload["engine"]["opt_g"]["param_groups"][0]["lr"] == cfg.optim.lr_g
    mutated = apply_overrides(cfg, {"train.epochs": 2, "optim.lr_g": 3e-4, "optim.d_to_g_lr": 3.0,
                                    "loss.l1": 2.5, "loss.style": 80.0})
    reports = []
    engine = fit(mutated, 0, 1, lambda metrics, folder: reports.append(metrics), tmp_path / "second",
                 resume=payload, validator=lambda engine: effective_settings(engine))
    assert [r["epoch"] for r in reports] == [2] and reports[0]["step"] == 4    # continued from step 2
    settings = effective_settings(engine)
    assert settings["optim/lr_g"] == 3e-4 != cfg.optim.lr_g
    assert math.isclose(settings["optim/lr_d"], 3e-4 * 3.0, rel_tol=1e-12)
    assert settings["loss/l1"] == 2.5 and settings["loss/style"] == 80.0
    assert reports[0]["optim/lr_g"] == 3e-4 and reports[0]["loss/l1"] == 2.5
