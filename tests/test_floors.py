"""Floors (eval/floors/): each floor's output on hand-made inputs, the registry, and `paint-eval --floor` end to end
on tiny synthetic shards into a leaderboard CSV. The existing floors' own tests (nearest pose, tiled patch, copy
source) are in tests/test_eval_runner.py."""
from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
import torch

from eval.cli import main
from eval.floors import (FLOORS, floor_stages, FloorRequest, describe_floors, floor_data, get_floor, make_floor,
                         real_output_floors)
from eval.floors.afn import INIT_BLEND, ColourPrior, PriorBlendSource
from eval.floors.lgn import PoseBinLayout, PoseReferences, fit_pose_bins, pose_keypoints
from eval.floors.pipeline import CHAINED_TSN
from eval.floors.tsn import PatchMean, TiledPatch
from eval.runner import ALL_METRICS, EvalError, EvalOptions
from eval.specs import make_evaluator
from paint.data.keypoints import pose_maps
from paint.data.labels import NUM_CLASSES, one_hot
from paint.models.afn import AFNNetConfig, build_afn_generator
from paint.models.blocks import PRIOR_LIMIT
from paint.models.tsn import TSNNetConfig, build_tsn_generator
from paint.data.labels import afn_groups
from tests.ray_fixtures import tiny_shards  # noqa: F401

SIDE = 16
TOP, BOTTOM, FACE, HAIR, PANTS, IGNORE = 5, 9, 13, 2, 9, 255


# --- the registry -----------------------------------------------------------------------------------------------

def test_registry_lists_every_floor_with_description_and_metrics():
    names = {stage: [e.name for e in entries] for stage, entries in FLOORS.items()}
    assert names == {"lgn": ["nearest-pose-mean-layout", "pose-bin-mean-layout"],
                     "tsn": ["tiled-patch", "patch-mean"],
                     "afn": ["copy-source", "colour-prior", "prior-blend-source"],
                     "pipeline": ["chained-floors"]}
    assert floor_stages() == ("lgn", "tsn", "afn", "pipeline")
    for stage, entries in FLOORS.items():
        listing = describe_floors(stage)
        for entry in entries:
            assert entry.stage == stage and len(entry.description) > 20 and entry.name in listing
            assert entry.metrics and set(entry.metrics) <= set(ALL_METRICS) | {"l1"}
            assert ("layout" in entry.metrics) == (stage in ("lgn", "pipeline"))
            assert entry.needs_train == (stage != "afn")
        assert get_floor(stage) is entries[0]
    assert real_output_floors() == {("afn", "copy-source")}
    assert CHAINED_TSN in get_floor("pipeline").description
    with pytest.raises(EvalError, match="choose --method from tiled-patch, patch-mean"):
        get_floor("tsn", "mean-patch")


# --- TSN patch-mean ---------------------------------------------------------------------------------------------

def _view_batch(patch_top: torch.Tensor, top_mask: torch.Tensor, side: int = SIDE) -> dict:
    """One side × side view: background, a top block (rows 2..7), a bottom block (rows 9..13), a face pixel and an
    ignore pixel; the top patch given, no bottom patch."""
    layout = torch.zeros(1, side, side, dtype=torch.long)
    layout[0, 2:8, 4:12] = TOP
    layout[0, 9:14, 4:12] = BOTTOM
    layout[0, 0, 0], layout[0, 0, 1] = FACE, IGNORE
    return {"key": ["p/0"], "layout": layout, "image": torch.zeros(1, 3, side, side),
            "patch_top": patch_top[None], "patch_top_mask": top_mask[None],
            "patch_bottom": torch.full((1, 3, 8, 8), 0.9), "patch_bottom_mask": torch.zeros(1, 1, 8, 8)}


def _class_colours() -> torch.Tensor:
    return torch.linspace(-0.8, 0.8, (NUM_CLASSES + 1) * 3).view(NUM_CLASSES + 1, 3)


def test_patch_mean_fills_a_region_with_its_patch_mean_and_leaves_the_rest_at_class_colours():
    canvas, mask = torch.zeros(3, 8, 8), torch.zeros(1, 8, 8)
    canvas[:, 1:3, 2:4] = torch.tensor([[0.1, 0.3], [0.5, 0.7]])   # valid pixels: mean 0.4 in every channel
    canvas[0, 1:3, 2:4] -= 0.6                                       # red channel: mean -0.2
    canvas[:, 5:, 5:] = 0.99                                         # invalid pixels: not part of the mean
    mask[0, 1:3, 2:4] = 1
    colours = _class_colours()
    batch = _view_batch(canvas, mask)
    out = PatchMean(None, colours).predict(batch).fake[0]
    top = batch["layout"][0] == TOP
    assert torch.allclose(out[:, top], torch.tensor([-0.2, 0.4, 0.4])[:, None], atol=1e-6)
    rest = ~top
    expected = colours[batch["layout"][0].clamp(max=NUM_CLASSES)].permute(2, 0, 1)
    assert torch.equal(out[:, rest], expected[:, rest])              # background, bottom (no patch), face, ignore
    assert torch.equal(out[:, 0, 1], colours[NUM_CLASSES]) and torch.equal(out[:, 0, 0], colours[FACE])
    # A white patch renders as TSN's prior does: clamped to the prior's limit.
    white = PatchMean(None, colours).predict(_view_batch(torch.ones(3, 8, 8), torch.ones(1, 8, 8))).fake[0]
    assert torch.allclose(white[:, top], torch.full((3, int(top.sum())), PRIOR_LIMIT), atol=1e-6)


@pytest.mark.parametrize("floor_class, gate_bias", [(PatchMean, -50.0), (TiledPatch, 50.0)])
def test_tsn_floors_are_what_tsn_renders_in_garment_regions_with_a_zero_residual(floor_class, gate_bias):
    """Texture gate shut: the patch-mean floor (TSN's colour prior); gate open: the tiled-patch floor. At step 0
    the gate sits at sigmoid(texture_gate_bias = −4) ≈ 0.02, near the patch-mean floor."""
    torch.manual_seed(0)
    net = dataclasses.replace(TSNNetConfig.tiny(), init_gain=1e-6, texture_gate_bias=gate_bias)
    generator = build_tsn_generator(net).eval()
    canvas, mask = torch.rand(3, 8, 8) * 0.6 + 0.1, (torch.rand(1, 8, 8) > 0.3).float()
    batch = _view_batch(canvas, mask, side=32)     # the tiny net halves 4 times
    with torch.no_grad():
        rendered = generator(one_hot(batch["layout"]), {r: batch[f"patch_{r}"] for r in ("top", "bottom")},
                             {r: batch[f"patch_{r}_mask"] for r in ("top", "bottom")})[0]
    floor = floor_class(None, _class_colours()).predict(batch).fake[0]
    top = batch["layout"][0] == TOP
    assert torch.allclose(floor[:, top], rendered[:, top], atol=1e-4)
    assert not torch.allclose(floor[:, top], torch.zeros(3, int(top.sum())), atol=0.05)    # not grey
    assert (floor[:, top].std(1) > 0.05).all() == (floor_class is TiledPatch)              # the tiles vary


# --- AFN colour-prior and prior-blend-source ----------------------------------------------------------------------

def _pair_batch() -> dict:
    """Source: background colour C, hair block colour A, upper-clothes block colour B; the target layout moves the
    blocks, adds a coat (same AFN group as upper clothes), pants (a group the source lacks) and an ignore pixel."""
    a, b, c = torch.tensor([0.6, -0.4, 0.2]), torch.tensor([-0.5, 0.98, 0.1]), torch.tensor([0.9, 0.9, 0.9])
    src = c[:, None, None].repeat(1, SIDE, SIDE)
    src_layout = torch.zeros(SIDE, SIDE, dtype=torch.long)
    src_layout[0:4, 0:4], src[:, 0:4, 0:4] = HAIR, a[:, None, None]
    src_layout[4:8, 0:8], src[:, 4:8, 0:8] = TOP, b[:, None, None]
    tgt_layout = torch.zeros(SIDE, SIDE, dtype=torch.long)
    tgt_layout[8:12, 8:12] = HAIR
    tgt_layout[0:4, 8:16] = TOP
    tgt_layout[4:6, 8:16] = 7               # coat
    tgt_layout[12:16, 0:4] = PANTS
    tgt_layout[15, 15] = IGNORE
    return {"key": ["p/0->1"], "src_image": src[None], "src_layout": src_layout[None],
            "tgt_layout": tgt_layout[None], "tgt_image": torch.zeros(1, 3, SIDE, SIDE),
            "colours": (a, b, c, (16 * a + 32 * b) / 48)}      # person mean: hair and clothes pixels


def _expected_prior(batch) -> torch.Tensor:
    a, b, c, person = batch["colours"]
    tgt = batch["tgt_layout"][0]
    expected = c[:, None, None].repeat(1, SIDE, SIDE)
    for classes, colour in (((HAIR,), a), ((TOP, 7), b), ((PANTS,), person), ((IGNORE,), torch.zeros(3))):
        where = torch.isin(tgt, torch.tensor(classes))
        expected[:, where] = colour[:, None]
    return expected


def test_colour_prior_paints_group_means_into_the_target_layout():
    batch = _pair_batch()
    out = ColourPrior(None).predict(batch).fake[0]
    assert torch.allclose(out, _expected_prior(batch), atol=1e-6)


def test_prior_blend_source_is_half_source_half_clamped_prior():
    batch = _pair_batch()
    out = PriorBlendSource(None).predict(batch).fake[0]
    expected = INIT_BLEND * batch["src_image"][0] + (1 - INIT_BLEND) * _expected_prior(batch).clamp(-0.95, 0.95)
    assert INIT_BLEND == 0.5 and torch.allclose(out, expected, atol=1e-6)
    assert out[1, 0, 8] == pytest.approx(0.5 * 0.9 + 0.5 * 0.95)    # clothes green 0.98 clamped by the prior


def test_prior_blend_source_is_the_afn_output_of_a_generator_initialised_with_gain_to_zero():
    """With its texture gate shut; at step 0 the gate is sigmoid(−4) ≈ 0.02 (model.texture_gate_bias)."""
    torch.manual_seed(0)
    net = dataclasses.replace(AFNNetConfig.tiny(), init_gain=1e-6, texture_gate_bias=-50.0)
    generator = build_afn_generator(net).eval()
    batch = _pair_batch()
    batch["src_image"] = batch["src_image"] + 0.05 * torch.randn_like(batch["src_image"])   # texture to warp
    with torch.no_grad():
        out = generator(batch["src_image"], afn_groups(batch["src_layout"]), afn_groups(batch["tgt_layout"]))
    assert torch.allclose(out.image, PriorBlendSource(None).predict(batch).fake, atol=1e-4)
    assert torch.allclose(out.blend, torch.full_like(out.blend, INIT_BLEND), atol=1e-4)


# --- LGN pose-bin-mean-layout ---------------------------------------------------------------------------------

def _pose(x: float, jitter: float = 0.0, side: int = 32) -> torch.Tensor:
    """Pose maps (18, side, side) of a stick figure whose joints sit in a column at pixel x (+ jitter)."""
    keypoints = np.array([[x + jitter, 4 + 1.4 * j, 1.0] for j in range(18)], dtype=np.float32)
    keypoints[17, 2] = 0.0 if jitter > 0 else 1.0        # some poses miss a joint
    return pose_maps(keypoints, (side, side))


def _references(poses: list[torch.Tensor], layouts: list[torch.Tensor]) -> PoseReferences:
    points, present = pose_keypoints(torch.stack(poses))
    return PoseReferences(points, present, torch.stack(layouts).to(torch.uint8))


def _layout(value: int, stripe: int | None = None) -> torch.Tensor:
    layout = torch.full((8, 8), value, dtype=torch.long)
    if stripe is not None:
        layout[:, 0] = stripe
    return layout


def test_pose_bin_query_gets_its_bins_majority_layout():
    left = [_pose(6, j) for j in (0.0, 0.5, 1.0)]
    right = [_pose(25, j) for j in (0.0, 0.5, 1.0, 1.5)]
    # Left bin, per pixel: column 0 holds 5, 3, 3 → 3; elsewhere 5, 5, 2 → 5. Right bin: 9, 9, 9, 12 → 9.
    # Over all seven the majority is 9 everywhere, so the left query tells a bin from the global layout.
    left_layouts = [_layout(5), _layout(5, stripe=3), _layout(2, stripe=3)]
    right_layouts = [_layout(9), _layout(9), _layout(9), _layout(12)]
    refs = _references(left + right, left_layouts + right_layouts)
    _, assign = fit_pose_bins(refs.poses, 2, 10)
    assert assign.tolist() == [0, 0, 0, 1, 1, 1, 1]
    floor = PoseBinLayout(None, refs, bins=2, iterations=10)
    queries = torch.stack([_pose(7, 0.2), _pose(24, 0.7)])
    labels = floor.predict({"pose": queries, "layout": torch.zeros(2, 8, 8, dtype=torch.long)}).labels
    assert floor.empty == 0
    assert torch.equal(labels[0], _layout(5, stripe=3)) and torch.equal(labels[1], _layout(9))


def test_an_empty_pose_bin_falls_back_to_the_global_majority_layout():
    # Two distinct poses for three bins: farthest-point seeding repeats the first centre, whose twin bin (the
    # higher index) loses every tie and stays empty.
    refs = _references([_pose(6), _pose(6), _pose(25)], [_layout(2), _layout(7), _layout(7)])
    floor = PoseBinLayout(None, refs, bins=3, iterations=3)
    assert floor.empty == 1
    assert torch.equal(floor.freq[0].argmax(0), _layout(2))      # 2 vs 7 once each: the lower class
    assert torch.equal(floor.freq[1].argmax(0), _layout(7))
    assert torch.allclose(floor.freq[2][7], torch.full((8, 8), 2 / 3)) and torch.equal(floor.freq[2].argmax(0),
                                                                                        _layout(7))


# --- paint-eval --floor end to end ------------------------------------------------------------------------------

def _rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.timeout(400)
def test_every_floor_runs_end_to_end_into_the_leaderboard(tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    entries = [e for stage in floor_stages() for e in FLOORS[stage]]
    for entry in entries:
        code = main(["--floor", entry.stage, "--method", entry.name, "--preset", "tiny", "--shards",
                     str(tiny_shards), "--metrics", "ssim,layout", "--leaderboard", str(board), "--no-progress",
                     "--gallery-samples", "1"])
        assert code == 0, capsys.readouterr().err
    rows = _rows(board)
    assert [(r["stage"], r["method"], r["run_id"]) for r in rows] == \
        [(e.stage, e.name, f"floor-{e.name}") for e in entries]
    for row, entry in zip(rows, entries):
        assert row["n_gen"] == ("9" if entry.stage in ("lgn", "tsn") else "6") and 0 < float(row["ssim"]) <= 1
        assert (row["pixel_acc"] != "") == ("layout" in entry.metrics)
        assert row.get("role", "floor") == "floor"
        assert (tmp_path / "galleries" / f"floor-{entry.name}-{entry.stage}" / "index.html").is_file()
    chained = rows[-1]
    assert float(chained["pixel_acc"]) > 0.5 and "colour prior" in chained["notes"]


def test_built_floors_carry_their_registry_identity(tiny_shards):
    options = EvalOptions(shards=str(tiny_shards))
    for stage, entries in FLOORS.items():
        for entry in entries:
            spec = {"kind": "baseline", "stage": stage, "method": entry.name, "preset": "tiny", "train_limit": 12}
            who = make_evaluator(spec, options).identity()
            assert (who["role"], who["stage"], who["method"], who["run_id"]) == \
                ("floor", stage, entry.name, f"floor-{entry.name}")
    floor = make_floor("lgn", "pose-bin-mean-layout", FloorRequest(floor_data("lgn", "tiny"), str(tiny_shards), "val"))
    assert floor.metrics == get_floor("lgn", "pose-bin-mean-layout").metrics and "16 k-means pose bins" in \
        floor.notes()[0]


def test_floor_listing_alias_and_unknown_names(tiny_shards, tmp_path, capsys):
    board = tmp_path / "leaderboard.csv"
    with pytest.raises(SystemExit) as done:
        main(["--method", "list", "--floor", "afn"])          # no --shards needed, like --help
    out = capsys.readouterr().out
    assert done.value.code == 0 and all(name in out for name in ("copy-source", "colour-prior",
                                                                  "prior-blend-source"))
    code = main(["--floor", "tsn", "--method", "mean-patch", "--shards", str(tiny_shards), "--leaderboard",
                 str(board)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "tiled-patch, patch-mean" in lines[0] and not board.exists()
    code = main(["--baseline", "afn", "--shards", str(tiny_shards), "--metrics", "ssim", "--no-gallery",
                 "--leaderboard", str(board), "--no-progress"])
    assert code == 0 and [r["method"] for r in _rows(board)] == ["copy-source"]
    code = main(["--stage", "tsn", "--method", "patch-mean", "--checkpoint", str(tmp_path), "--shards",
                 str(tiny_shards), "--leaderboard", str(board)])
    assert code == 2 and "--method applies to --floor" in capsys.readouterr().err


def test_floors_of_one_process_share_each_train_scan(tiny_shards, monkeypatch):
    """Two LGN floors (and two TSN floors) on the same request scan the train views once per stage, not per floor,
    and the shared tables equal those of a fresh scan."""
    import eval.floors as floors_module
    scans = []
    real_scan = floors_module.scan_train_views
    monkeypatch.setattr(floors_module, "scan_train_views",
                        lambda *args, **kwargs: scans.append(args[3:]) or real_scan(*args, **kwargs))
    monkeypatch.setattr(floors_module, "_SCANS", {})

    def request(stage):
        return FloorRequest(floor_data(stage, "tiny"), str(tiny_shards), "val",
                            settings=floors_module.FloorSettings(train_limit=12))
    nearest = make_floor("lgn", "nearest-pose-mean-layout", request("lgn"))
    make_floor("lgn", "pose-bin-mean-layout", request("lgn"))
    tiled = make_floor("tsn", "tiled-patch", request("tsn"))
    mean = make_floor("tsn", "patch-mean", request("tsn"))
    assert [type(c).__name__ for args in scans for c in args] == ["PoseCollector", "ColourCollector"]
    assert torch.equal(tiled.colours, mean.colours)
    monkeypatch.setattr(floors_module, "_SCANS", {})
    fresh = make_floor("lgn", "nearest-pose-mean-layout", request("lgn"))
    assert len(scans) == 3 and torch.equal(fresh.layouts, nearest.layouts)
    assert all(torch.equal(a, b) for a, b in zip(fresh.refs, nearest.refs))
