"""paint-eval in one process: real tiny checkpoints (trained by paint.train_loop.fit for 1 epoch × 2 steps on tiny
synthetic shards), the real FID Inception, leaderboard rows read back with csv, galleries on disk; baselines, the
pipeline row, refusals of bad requests, and the cheap validation hook of the training loop.

FID runs on a few units only (each image goes through Inception-v3 at 299 px, ~1 s on a loaded 2-core machine).
"""
from __future__ import annotations

import csv
import math
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
import torchvision

from eval.floors.lgn import pose_keypoints
from eval.floors.tsn import tile_patch
from eval.cli import main
from eval.leaderboard import COLUMNS, eval_list_sha
from eval.metrics.inception import TORCHSCRIPT_SHA256, locate_inception
from paint.inference import load_model
from eval.pipeline import make_pipeline
from eval.validation import validate_with_fid
from paint.data.contract import decode_product
from paint.data.keypoints import pose_maps
from paint.data.stream import eval_loader
from paint.data.units import eval_units
from paint.run_setup import resolve_config
from paint.train_loop import fit
from paint.validation import make_validator
from paint.weights import MissingWeightsError, sha256_of
from tests.ray_fixtures import tiny_shards  # noqa: F401

STEPS = 2
VAL_VIEWS, VAL_PAIRS = 9, 6          # 3 val products × 3 views; AFN "first" pairs: 2 per product


def train_tiny(stage: str, shards: Path, root: Path, *extra: str) -> tuple[Path, list[dict]]:
    """Train `stage` (tiny preset) for 1 epoch of STEPS steps; keep the checkpoint as <root>/<stage>/checkpoint_0."""
    cfg = resolve_config(stage, "tiny", None, [f"data.shards={shards}", f"data.batches_per_epoch={STEPS}",
                                               "train.epochs=1", *extra])
    target, reported = root / stage / "checkpoint_000000", []

    def reporter(metrics, folder):
        reported.append(metrics)
        if folder is not None:
            shutil.copytree(folder, target)
    threads = torch.get_num_threads()
    try:
        fit(cfg, 0, 1, reporter, root / stage / "log",   # the validator as paint/ray_train.py builds it
            validator=make_validator(cfg) if cfg.train.val_units > 0 else None)
    finally:
        torch.set_num_threads(threads)
    return target, reported


@pytest.fixture(scope="module")
def runs(tiny_shards, tmp_path_factory) -> Path:
    """A folder holding lgn/ tsn/ afn/ run folders, each with one checkpoint."""
    root = tmp_path_factory.mktemp("runs")
    for stage in ("lgn", "tsn", "afn"):
        train_tiny(stage, tiny_shards, root)
    return root


@pytest.fixture(scope="module")
def alexnet(tmp_path_factory) -> Path:
    """torchvision's AlexNet layout with random values: exercises LPIPS' real offline loading path."""
    path = tmp_path_factory.mktemp("weights") / "alexnet-owt-7be5be79.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == list(COLUMNS)
    return rows


def run_eval(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--no-progress"])
    out = capsys.readouterr()
    return code, out.out, out.err


def expected_keys(shards: Path, unit: str, split: str = "val") -> list[str]:
    """Unit keys of a split, decoded from the tar files directly (independently of the eval stream)."""
    cfg = resolve_config("lgn", "tiny").data
    keys = []
    for tar in sorted(shards.glob(f"{split}-*.tar")):
        products: dict[str, dict] = {}
        with tarfile.open(tar) as archive:
            for member in archive.getmembers():
                key, _, name = member.name.partition(".")
                products.setdefault(key, {"__key__": key})[name] = archive.extractfile(member).read()
        for raw in products.values():
            keys.extend(unit_["key"] for unit_ in eval_units(decode_product(raw), unit, cfg))
    return keys


# --- one row per stage ----------------------------------------------------------------------------------------

@pytest.mark.timeout(400)
@pytest.mark.parametrize("stage", ["lgn", "tsn", "afn"])
def test_stage_evaluation_appends_a_complete_row_and_a_gallery(stage, runs, tiny_shards, alexnet, tmp_path, capsys):
    inception = locate_inception()
    board = tmp_path / "board" / "leaderboard.csv"
    lpips_args = ["--alexnet-weights", str(alexnet)] if stage == "tsn" else []   # others: LPIPS weights missing
    code, out, err = run_eval(capsys, "--stage", stage, "--checkpoint", str(runs / stage), "--shards",
                              str(tiny_shards), "--limit", "2", "--leaderboard", str(board), "--notes", "smoke",
                              *lpips_args)
    assert code == 0, err
    (row,) = read_csv(board)
    assert (row["stage"], row["method"], row["run_id"], row["checkpoint_step"]) == (stage, "model", stage, str(STEPS))
    assert row["checkpoint_path"] == str((runs / stage / "checkpoint_000000").resolve())
    assert (row["dataset"], row["split"], row["resolution"]) == (str(tiny_shards), "val", "64")
    assert row["n_real"] == row["n_gen"] == "2" and row["seed"] == "0" and row["device"] == "cpu"
    assert len(row["eval_list_sha"]) == 64 and row["git_commit"] not in ("", "unknown")
    assert math.isfinite(float(row["fid"])) and float(row["fid"]) > 0 and 0 < float(row["ssim"]) <= 1
    assert row["fid_weights_sha256"] == sha256_of(inception) == TORCHSCRIPT_SHA256
    assert "fid: tf-inception-2015-12-05" in row["metric_impl"] and row["notes"].startswith("smoke; EMA")
    if stage == "tsn":
        assert float(row["lpips"]) > 0 and row["lpips_weights_sha256"] == sha256_of(alexnet)
    else:   # the weights are missing here: the cell stays empty and the reason is printed and recorded
        assert row["lpips"] == "" and row["lpips_weights_sha256"] == ""
        assert "lpips skipped" in row["notes"] and "paint-eval: note: lpips skipped" in err
    layout = [row[c] for c in ("miou_all", "miou_garment", "pixel_acc")]
    if stage == "lgn":
        assert 0 <= float(row["miou_all"]) <= 1 and 0 <= float(row["pixel_acc"]) <= 1
    else:
        assert layout == ["", "", ""]
    gallery = board.parent / "galleries" / f"{stage}-{stage}-{STEPS}"
    assert (gallery / "index.html").is_file() and (gallery / "grid.png").is_file()
    assert len({p.name[:4] for p in (gallery / "images").glob("*.png")}) == 2     # 2 samples
    assert f"gallery: {gallery / 'index.html'}" in out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("stage, unit, count", [("tsn", "view", VAL_VIEWS), ("afn", "pair", VAL_PAIRS)])
def test_every_unit_is_scored_exactly_once_whatever_the_batching(stage, unit, count, runs, tiny_shards, tmp_path,
                                                                  capsys):
    board = tmp_path / "leaderboard.csv"
    for extra in (["--batch-size", "4", "--loader-workers", "0"], ["--batch-size", "3", "--loader-workers", "2"]):
        code, _, err = run_eval(capsys, "--stage", stage, "--checkpoint", str(runs / stage), "--shards",
                                str(tiny_shards), "--metrics", "ssim", "--no-gallery", "--leaderboard", str(board),
                                *extra)
        assert code == 0, err
    first, second = read_csv(board)
    keys = expected_keys(tiny_shards, unit)
    assert len(keys) == len(set(keys)) == count
    for row in (first, second):
        assert row["n_gen"] == row["n_real"] == str(count)
        assert row["eval_list_sha"] == eval_list_sha(sorted(keys))
    assert float(second["ssim"]) == pytest.approx(float(first["ssim"]), abs=1e-6)   # batch size changes float sums
    assert not (tmp_path / "galleries").exists()


# --- baselines and the pipeline -----------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_real_fid_statistics_are_reused_for_the_same_eval_set_only(runs, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    copy = tmp_path / "copied-shards"
    shutil.copytree(tiny_shards, copy)     # same content, another folder: the same eval set
    common = ["--stage", "tsn", "--checkpoint", str(runs / "tsn"), "--metrics", "fid", "--no-gallery",
              "--leaderboard", str(board)]
    for shards, limit in ((tiny_shards, "2"), (copy, "2"), (tiny_shards, "3")):
        code, _, err = run_eval(capsys, *common, "--shards", str(shards), "--limit", limit)
        assert code == 0, err
    first, reused, other = read_csv(board)
    files = sorted((tmp_path / "fid_stats").glob("fid-real-*.npz"))
    assert len(files) == 2       # limit 2 and limit 3 are different eval sets
    assert "FID real statistics from" not in first["notes"] + other["notes"]
    assert "FID real statistics from fid-real-views-val-n2-" in reused["notes"]
    assert float(reused["fid"]) == pytest.approx(float(first["fid"]), rel=1e-6)
    assert float(other["fid"]) != float(first["fid"])


@pytest.mark.timeout(300)
def test_baselines_write_rows_on_the_same_units(runs, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    for stage in ("lgn", "tsn", "afn"):
        code, _, err = run_eval(capsys, "--baseline", stage, "--preset", "tiny", "--shards", str(tiny_shards),
                                "--metrics", "ssim,layout", "--leaderboard", str(board), "--gallery-samples", "2")
        assert code == 0, err
    code, _, err = run_eval(capsys, "--stage", "tsn", "--checkpoint", str(runs / "tsn"), "--shards",
                            str(tiny_shards), "--metrics", "ssim", "--leaderboard", str(board), "--no-gallery")
    assert code == 0, err
    lgn, tsn, afn, model = read_csv(board)
    assert [r["method"] for r in (lgn, tsn, afn)] == ["nearest-pose-mean-layout", "tiled-patch", "copy-source"]
    assert [r["run_id"] for r in (lgn, tsn, afn)] == [f"floor-{r['method']}" for r in (lgn, tsn, afn)]
    assert all(r["checkpoint_step"] == "" and r["n_gen"] == str(n) for r, n in
               ((lgn, VAL_VIEWS), (tsn, VAL_VIEWS), (afn, VAL_PAIRS)))
    assert float(lgn["miou_all"]) > 0 and float(lgn["pixel_acc"]) > 0.5       # a real baseline, not noise
    assert "8 nearest of 54 train views" in lgn["notes"]                      # the train split, not val
    assert tsn["eval_list_sha"] == model["eval_list_sha"] and tsn["resolution"] == model["resolution"]
    assert (tmp_path / "galleries" / "floor-tiled-patch-tsn" / "index.html").is_file()


def test_baseline_building_blocks():
    keypoints = torch.tensor([[10.0, 20.0, 1.0]] * 17 + [[0.0, 0.0, 0.0]])
    xy, present = pose_keypoints(pose_maps(keypoints.numpy(), (64, 64))[None])
    assert present[0].tolist() == [True] * 17 + [False]
    assert torch.allclose(xy[0, 0], torch.tensor([10.5 / 64, 20.5 / 64]), atol=1e-6)
    canvas, valid = torch.zeros(3, 8, 8), torch.zeros(8, 8, dtype=torch.bool)
    canvas[:, 2:4, 3:6] = torch.arange(6.0).view(1, 2, 3) / 10
    valid[2:4, 3:6] = True
    valid[3, 5] = False                                     # an invalid pixel takes the mean of the valid ones
    region = torch.zeros(6, 7, dtype=torch.bool)
    region[1:, 2:] = True
    tiled = tile_patch(canvas, valid, region)
    assert tiled.shape == (3, 6, 7)
    assert torch.allclose(tiled[0, 1, 2:5], torch.tensor([0.0, 0.1, 0.2]))    # the patch starts at the region corner
    assert torch.allclose(tiled[0, 2, 2:5], torch.tensor([0.3, 0.4, 0.2]))    # mean of 0, .1, .2, .3, .4
    assert torch.allclose(tiled[0, 3, 5:7], tiled[0, 1, 2:4])                 # and repeats
    assert tile_patch(canvas, torch.zeros_like(valid), region) is None


@pytest.mark.timeout(300)
def test_pipeline_row_and_its_patches_follow_the_tsn_eval_units(runs, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    code, _, err = run_eval(capsys, "--stage", "pipeline", "--checkpoint", str(runs), "--shards", str(tiny_shards),
                            "--metrics", "ssim,layout", "--limit", "3", "--leaderboard", str(board))
    assert code == 0, err
    (row,) = read_csv(board)
    assert (row["stage"], row["method"], row["run_id"], row["n_gen"]) == ("pipeline", "pipeline", "lgn+tsn+afn", "3")
    assert row["fid"] == "" and float(row["ssim"]) > 0 and row["pixel_acc"] != ""
    assert all(f"{s}=" in row["checkpoint_path"] for s in ("lgn", "tsn", "afn"))
    # TSN's input patches in the pipeline are exactly those of the TSN eval unit of the source view.
    pipeline = make_pipeline({s: runs / s for s in ("lgn", "tsn", "afn")})
    pairs = next(iter(eval_loader("pair", pipeline.data, 0, 1, shards=str(tiny_shards), batch_size=2)))
    view_batch = next(iter(eval_loader("view", pipeline.data, 0, 1, shards=str(tiny_shards), batch_size=VAL_VIEWS)))
    views = {key: i for i, key in enumerate(view_batch["key"])}
    patches, masks = pipeline._patches(pairs)
    for i, key in enumerate(pairs["key"]):
        j = views[key.split("->")[0]]
        for region in patches:
            assert torch.equal(patches[region][i], view_batch[f"patch_{region}"][j])
            assert torch.equal(masks[region][i], view_batch[f"patch_{region}_mask"][j])
    first, again = pipeline.predict(pairs).fake, pipeline.predict(pairs).fake
    assert torch.equal(first, again)                       # seeded codes: the row is reproducible


# --- refusals --------------------------------------------------------------------------------------------------

def _empty_tar(path: Path) -> Path:
    with tarfile.open(path, "w"):
        pass
    return path


@pytest.mark.parametrize("case", ["missing-checkpoint", "other-stage", "no-val-split", "empty-shard",
                                  "pipeline-lacks-afn", "bad-metric"])
def test_bad_requests_are_refused_in_one_line_without_a_row(case, runs, tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    assert run_eval(capsys, "--baseline", "afn", "--shards", str(tiny_shards), "--metrics", "ssim", "--no-gallery",
                    "--leaderboard", str(board))[0] == 0
    before = board.read_bytes()
    train_only = tmp_path / "train_only"
    train_only.mkdir()
    shutil.copy(tiny_shards / "train-000000.tar", train_only)
    partial = tmp_path / "partial"
    shutil.copytree(runs / "lgn", partial / "lgn")
    shutil.copytree(runs / "tsn", partial / "tsn")
    args = {
        "missing-checkpoint": ["--stage", "tsn", "--checkpoint", str(tmp_path / "nope"), "--shards", str(tiny_shards)],
        "other-stage": ["--stage", "lgn", "--checkpoint", str(runs / "tsn"), "--shards", str(tiny_shards)],
        "no-val-split": ["--stage", "tsn", "--checkpoint", str(runs / "tsn"), "--shards", str(train_only)],
        "empty-shard": ["--stage", "tsn", "--checkpoint", str(runs / "tsn"), "--shards",
                        str(_empty_tar(tmp_path / "empty.tar"))],
        "pipeline-lacks-afn": ["--stage", "pipeline", "--checkpoint", str(partial), "--shards", str(tiny_shards)],
        "bad-metric": ["--stage", "tsn", "--checkpoint", str(runs / "tsn"), "--shards", str(tiny_shards),
                       "--metrics", "fid,psnr"],
    }[case]
    code, out, err = run_eval(capsys, *args, "--leaderboard", str(board))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("paint-eval: error: "), err
    assert {"missing-checkpoint": "not found", "other-stage": "belongs to stage 'tsn'", "no-val-split": "'val'",
            "empty-shard": "hold no samples", "pipeline-lacks-afn": "afn", "bad-metric": "psnr"}[case] in lines[0]
    assert board.read_bytes() == before and not (tmp_path / "galleries").exists()


# --- the console script and the leaderboard command ---------------------------------------------------------

@pytest.mark.timeout(120)
def test_console_script_prints_the_leaderboard_and_writes_a_chart(tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    assert run_eval(capsys, "--baseline", "afn", "--shards", str(tiny_shards), "--metrics", "ssim",
                    "--no-gallery", "--leaderboard", str(board))[0] == 0
    script = Path(sys.executable).with_name("paint-eval")
    done = subprocess.run([str(script), "leaderboard", "--leaderboard", str(board), "--sort-by", "ssim", "--chart",
                           str(tmp_path / "chart.png")], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr
    assert "copy-source" in done.stdout and "by afn ssim" in done.stdout
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = subprocess.run([str(script), "leaderboard", "--leaderboard", str(tmp_path / "none.csv")],
                             capture_output=True, text=True, timeout=100)
    assert missing.returncode == 2 and missing.stderr.startswith("paint-eval: error: no leaderboard")


# --- cheap validation -----------------------------------------------------------------------------------------

@pytest.mark.timeout(200)
def test_validation_scores_and_the_training_hook(runs, tiny_shards, tmp_path):
    model = load_model(runs / "tsn")
    scores = validate_with_fid(model.stage, model.generator, model.cfg, 2, str(tiny_shards), fid=True)
    assert scores["val/units"] == 2 and scores["val/l1"] > 0 and 0 < scores["val/ssim"] <= 1 and scores["val/fid"] > 0
    lgn = load_model(runs / "lgn")
    assert 0 <= validate_with_fid(lgn.stage, lgn.generator, lgn.cfg, 2, str(tiny_shards))["val/pixel_acc"] <= 1
    with pytest.raises(MissingWeightsError):
        validate_with_fid(model.stage, model.generator, model.cfg, 2, str(tiny_shards), fid=True,
                 inception_weights=str(tmp_path / "none.pt"))
    _, reported = train_tiny("afn", tiny_shards, tmp_path, "train.val_units=3", f"data.val_shards={tiny_shards}")
    (metrics,) = reported
    assert metrics["val/units"] == 3 and metrics["val/l1"] > 0 and 0 < metrics["val/ssim"] <= 1
    assert "G/total" in metrics                                     # the epoch's own metrics are still there

