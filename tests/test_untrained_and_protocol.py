"""LGN's sampled-code protocol and the untrained rows, on tiny synthetic shards and real networks.

- The untrained generator of a preset is the very generator a training run of that config starts from
  (paint.train_loop.fit with zero epochs builds the run's Engine and returns it at step 0).
- The default LGN row scores K layouts per pose drawn from seeded codes: label_samples (B, K, H, W), codes that
  differ give layouts that differ, and the row does not depend on the batch size.
- `--protocol reconstruction` keeps the posterior-mean reconstruction scores (paint.validation's compare_outputs).
- `--untrained STAGE` writes a row (role untrained, step 0) for every stage and the pipeline; its spec is plain
  values, as Ray workers rebuild it; bad --codes are refused in one line.
"""
from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from eval.model_eval import ModelEvaluator
from eval.runner import EvalOptions, evaluate
from eval.specs import make_evaluator
from eval.untrained import make_untrained
from paint.data.labels import IGNORE
from paint.data.stream import eval_loader
from paint.inference import load_model, untrained_model
from paint.stages import make_config
from paint.stages.visuals import layout_picture
from paint.train_loop import fit
from paint.validation import validate
from tests.ray_fixtures import tiny_shards  # noqa: F401
from tests.test_eval_runner import VAL_VIEWS, read_csv, run_eval, train_tiny

LAYOUT_COLUMNS = ("miou_all", "miou_garment", "pixel_acc")


@pytest.fixture(scope="module")
def lgn_run(tiny_shards, tmp_path_factory) -> Path:
    """A tiny LGN trained for 2 steps (tests/test_eval_runner.py's train_tiny)."""
    root = tmp_path_factory.mktemp("runs")
    train_tiny("lgn", tiny_shards, root)
    return root / "lgn"


def tiny_untrained_lgn() -> ModelEvaluator:
    model = untrained_model("lgn", make_config("lgn", "tiny"))
    return ModelEvaluator(model, codes=3)


def view_batches(data, shards: Path, batch_size: int):
    return eval_loader("view", dataclasses.replace(data, loader_workers=0), 0, 1, shards=str(shards),
                       batch_size=batch_size)


def samples_by_key(evaluator: ModelEvaluator, shards: Path, batch_size: int) -> dict[str, torch.Tensor]:
    out = {}
    with torch.no_grad():
        for batch in view_batches(evaluator.data, shards, batch_size):
            compared = evaluator.predict(batch)
            out.update(zip(batch["key"], compared.label_samples))
    return out


# --- untrained = step 0 of a real run ----------------------------------------------------------------------------

@pytest.mark.timeout(200)
@pytest.mark.parametrize("stage", ["lgn", "tsn", "afn"])
def test_untrained_generator_is_the_one_a_training_run_starts_from(stage, tmp_path):
    cfg = make_config(stage, "tiny")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=0))   # build the run, train nothing
    threads = torch.get_num_threads()
    try:
        engine = fit(cfg, 0, 1, lambda metrics, folder: None, tmp_path / "log")
    finally:
        torch.set_num_threads(threads)
    assert engine.step_count == 0
    torch.manual_seed(12345)                       # the caller's RNG state must not matter ...
    random.seed(1)
    np.random.seed(1)
    before = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    model = untrained_model(stage, cfg)
    after = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1])
    # ... nor change
    assert torch.equal(before[0], after[0]) and before[1] == after[1] and np.array_equal(before[2], after[2])
    assert (model.step, model.path, model.run_id, model.weights, model.untrained) == (0, None, "untrained-tiny",
                                                                                       "init", True)
    mine = model.generator.state_dict()
    for name, reference in (("G", engine.unwrap(engine.g).state_dict()),
                            ("EMA", engine.inference_generator().state_dict())):   # what a step-0 eval would load
        assert list(reference) == list(mine), name
        assert all(torch.equal(reference[k], mine[k].cpu()) for k in reference), name
    reseeded = untrained_model(stage, dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=1)))
    assert any(not torch.equal(mine[k], v) for k, v in reseeded.generator.state_dict().items())


# --- the sampled protocol -------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_sampled_protocol_draws_k_seeded_layouts_per_pose(tiny_shards):
    evaluator = tiny_untrained_lgn()
    assert (evaluator.role, evaluator.method, evaluator.checkpoint_step) == ("untrained", "untrained", 0)
    batch = next(iter(view_batches(evaluator.data, tiny_shards, 4)))
    compared = evaluator.predict(batch)
    samples = compared.label_samples
    assert samples.shape == (4, 3, 64, 64) and samples.dtype == torch.int64
    assert torch.equal(compared.labels, samples[:, 0]) and torch.equal(compared.gt_labels, batch["layout"])
    assert torch.equal(compared.fake, layout_picture(samples[:, 0]) * 2 - 1)
    assert torch.equal(compared.real, layout_picture(batch["layout"]) * 2 - 1)
    assert compared.fake.min() >= -1 and compared.fake.max() <= 1
    for unit in samples:                            # another code, another layout: for every pose and every pair
        for a in range(3):
            for b in range(a + 1, 3):
                assert (unit[a] != unit[b]).float().mean() > 0.01
    assert torch.equal(evaluator.predict(batch).label_samples, samples)     # seeded: the same again
    other_seed = ModelEvaluator(evaluator.model, dataclasses.replace(evaluator.data, seed=1), codes=3)
    assert not torch.equal(other_seed.predict(batch).label_samples, samples)
    pictures = evaluator.pictures(batch, compared)
    assert list(pictures) == ["pose", "sample_0", "sample_1", "sample_2", "target"]
    assert all(p.shape == (4, 3, 64, 64) for p in pictures.values())


@pytest.mark.timeout(300)
def test_the_sampled_row_does_not_depend_on_the_batch_size(lgn_run, tiny_shards, tmp_path, capsys):
    evaluator = ModelEvaluator(load_model(lgn_run), codes=2)
    one, four = samples_by_key(evaluator, tiny_shards, 1), samples_by_key(evaluator, tiny_shards, 4)
    assert len(one) == VAL_VIEWS and one.keys() == four.keys()
    assert all(torch.equal(one[key], four[key]) for key in one)
    board = tmp_path / "leaderboard.csv"
    for size in ("1", "4"):
        code, _, err = run_eval(capsys, "--stage", "lgn", "--checkpoint", str(lgn_run), "--shards", str(tiny_shards),
                                "--codes", "2", "--batch-size", size, "--metrics", "ssim,layout", "--no-gallery",
                                "--leaderboard", str(board))
        assert code == 0, err
    first, second = read_csv(board)
    assert (first["method"], first["role"]) == ("model", "model")
    assert "lgn protocol sampled: 2 code(s)" in first["notes"]
    for column in LAYOUT_COLUMNS:                    # confusion-matrix counts: exact
        assert first[column] == second[column] != "", column
    assert float(first["ssim"]) == pytest.approx(float(second["ssim"]), abs=1e-6)
    # the row scores the sampled layouts (over all K of them), not a reconstruction: counted here from the same
    correct = labelled = 0
    for batch in view_batches(evaluator.data, tiny_shards, 4):
        for key, gt in zip(batch["key"], batch["layout"]):
            valid = gt != IGNORE
            correct += int(((one[key] == gt) & valid).sum())
            labelled += int(valid.sum()) * one[key].shape[0]
    assert float(first["pixel_acc"]) == pytest.approx(correct / labelled, abs=1e-6)


@pytest.mark.timeout(300)
def test_reconstruction_protocol_keeps_the_posterior_mean_scores(lgn_run, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    code, _, err = run_eval(capsys, "--stage", "lgn", "--checkpoint", str(lgn_run), "--shards", str(tiny_shards),
                            "--protocol", "reconstruction", "--metrics", "ssim,layout", "--leaderboard", str(board),
                            "--gallery-samples", "2")
    assert code == 0, err
    (row,) = read_csv(board)
    assert (row["method"], row["role"], row["checkpoint_step"]) == ("reconstruction", "model", "2")
    assert "lgn protocol reconstruction: posterior-mean code" in row["notes"]
    model = load_model(lgn_run)
    before = validate(model.stage, model.generator, model.cfg, VAL_VIEWS, str(tiny_shards))   # compare_outputs
    assert float(row["pixel_acc"]) == pytest.approx(before["val/pixel_acc"], abs=1e-6)
    assert (tmp_path / "galleries" / "lgn-lgn-2" / "index.html").is_file()


# --- the untrained rows ---------------------------------------------------------------------------------------

@pytest.mark.timeout(300)
@pytest.mark.parametrize("stage", ["lgn", "tsn", "afn", "pipeline"])
def test_untrained_rows_through_the_cli(stage, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    code, out, err = run_eval(capsys, "--untrained", stage, "--preset", "tiny", "--shards", str(tiny_shards),
                              "--limit", "2", "--metrics", "ssim,layout", "--leaderboard", str(board),
                              "--gallery-samples", "2")
    assert code == 0, err
    (row,) = read_csv(board)
    assert (row["stage"], row["role"], row["method"], row["run_id"], row["checkpoint_step"], row["checkpoint_path"]) \
        == (stage, "untrained", "untrained", "untrained-tiny", "0", "")
    assert row["resolution"] == "64" and row["n_gen"] == "2" and 0 < float(row["ssim"]) <= 1
    assert ("untrained: step-0 weights of preset tiny" in row["notes"]) == (stage != "pipeline")
    assert (row["pixel_acc"] != "") == (stage in ("lgn", "pipeline"))
    if stage == "lgn":
        assert "lgn protocol sampled: 4 code(s)" in row["notes"]
    assert (tmp_path / "galleries" / f"untrained-tiny-{stage}-0" / "index.html").is_file()


@pytest.mark.timeout(200)
def test_the_untrained_spec_is_plain_values_as_ray_workers_get_it(tiny_shards):
    options = EvalOptions(shards=str(tiny_shards), limit=3, metrics=("ssim", "layout"), codes=2, progress=False,
                          gallery_samples=0)
    spec = {"kind": "untrained", "stage": "lgn", "preset": "tiny", "resolution": None}
    sent_spec, sent_options = json.loads(json.dumps(spec)), EvalOptions.from_dict(json.loads(json.dumps(
        options.to_dict())))
    rebuilt = evaluate(make_evaluator(sent_spec, sent_options), sent_options)
    direct = evaluate(make_untrained("lgn", options, "tiny"), options)
    assert rebuilt.identity == direct.identity and rebuilt.identity["role"] == "untrained"
    assert rebuilt.eval_list_sha == direct.eval_list_sha
    assert rebuilt.values == direct.values


# --- refusals --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["codes-0", "codes-negative", "codes-for-tsn", "protocol-for-floor",
                                  "untrained-with-checkpoint"])
def test_bad_protocol_requests_are_refused_in_one_line(case, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    common = ["--shards", str(tiny_shards), "--leaderboard", str(board)]
    args, expected = {
        "codes-0": (["--untrained", "lgn", "--preset", "tiny", "--codes", "0"], "--codes must be an integer ≥ 1"),
        "codes-negative": (["--untrained", "lgn", "--preset", "tiny", "--codes", "-1"], "got -1"),
        "codes-for-tsn": (["--untrained", "tsn", "--preset", "tiny", "--codes", "2"], "--codes apply to LGN rows"),
        "protocol-for-floor": (["--floor", "lgn", "--protocol", "reconstruction"], "--protocol apply to LGN rows"),
        "untrained-with-checkpoint": (["--untrained", "afn", "--checkpoint", str(tmp_path)], "takes no checkpoint"),
    }[case]
    code, _, err = run_eval(capsys, *args, *common)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("paint-eval: error: "), err
    assert expected in lines[0]
    assert not board.exists() and not (tmp_path / "galleries").exists()
