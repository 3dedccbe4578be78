"""The K-sample layout protocol on hand-made label maps (best-of-K ties, per-unit choice, pairwise diversity), the
role of rows from files without a role column, and `paint-eval leaderboard --summary / --require-beats` on a
hand-made board (exit codes, one line per stage)."""
from __future__ import annotations

import csv

import pytest
import torch

from eval.cli import main
from eval.leaderboard import FIRST_COLUMNS, append_row, eval_list_sha, read_rows
from eval.leaderboard_compare import PAIRED_METRIC, beaten_floors, summary_lines
from eval.metrics.segmentation import LayoutScores, best_samples, pairwise_disagreement


def test_best_sample_is_chosen_per_unit_and_ties_go_to_the_lowest_k():
    gt = torch.tensor([[[1, 1], [2, 255]], [[3, 3], [3, 3]]])           # unit 0 has one ignored pixel
    samples = torch.stack([
        torch.tensor([[[1, 0], [2, 7]], [[3, 3], [0, 0]]]),            # k=0: unit 0 2/3 right, unit 1 2/4
        torch.tensor([[[0, 1], [2, 1]], [[3, 3], [3, 0]]]),            # k=1: unit 0 2/3 (tie), unit 1 3/4
        torch.tensor([[[0, 0], [0, 1]], [[0, 0], [0, 0]]]),            # k=2: worst for both
    ], dim=1)
    chosen = best_samples(samples, gt)
    assert torch.equal(chosen[0], samples[0, 0]) and torch.equal(chosen[1], samples[1, 1])
    # unit 0: pairs (0,1) differ at 3 of 4 pixels (ignored ones count), (0,2) 3, (1,2) 2 → (3/4 + 3/4 + 2/4) / 3
    # unit 1: (0,1) 1 of 4, (0,2) 2, (1,2) 3 → (1/4 + 2/4 + 3/4) / 3
    assert pairwise_disagreement(samples).tolist() == pytest.approx([2 / 3, 0.5])
    metric = LayoutScores()
    metric.update(samples[:, 0], gt, samples)
    scores = metric.compute()
    assert scores["diversity"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert scores["pixel_accuracy"] == pytest.approx((2 + 2 + 0 + 2 + 3 + 0) / (3 * 3 + 3 * 4))   # all K samples
    best = LayoutScores()
    best.update(chosen, gt)
    assert scores["miou_best"] == best.compute()["miou"]
    assert metric.counts() == {"n_pixels": 21, "n_units": 2, "samples_per_unit": 3.0}
    with pytest.raises(ValueError, match="label samples"):
        metric.update(samples[:, 0], gt, samples[:, :, :1])            # (B, K, 1, 2) does not match gt


def test_rows_from_a_file_without_roles_get_them_from_their_method(tmp_path):
    path = tmp_path / "old.csv"
    cells = {"model": "model", "pipeline": "model", "tiled-patch": "floor", "real-train-images": "reference"}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIRST_COLUMNS)
        for method in cells:
            writer.writerow([{"run_id": f"r-{method}", "stage": "tsn", "method": method}.get(c, "")
                             for c in FIRST_COLUMNS])
    assert {r["method"]: r["role"] for r in read_rows(path)} == cells
    assert append_row(path, {"run_id": "u", "stage": "tsn", "method": "untrained", "role": "untrained"})["role"] \
        == "untrained"
    with pytest.raises(ValueError, match="role='champion'"):
        append_row(path, {"run_id": "x", "stage": "tsn", "method": "model", "role": "champion"})


def _row(stage: str, role: str, method: str, **metrics) -> dict:
    return {"run_id": f"{role}-{method}", "stage": stage, "role": role, "method": method, "checkpoint_step":
            None if role != "model" else 500, "dataset": "synth", "split": "val", "eval_list_sha":
            eval_list_sha(["a"]), "resolution": 64, "n_real": 1, "n_gen": 1, **metrics}


def _board(tmp_path, tsn_ssim: float):
    path = tmp_path / "board.csv"
    for row in (_row("lgn", "floor", "pose-bin-mean-layout", miou_all=0.30, pixel_acc=0.7),
                _row("lgn", "model", "model", miou_all=0.45, pixel_acc=0.6, diversity=0.2),
                _row("tsn", "floor", "tiled-patch", ssim=0.60, l1=0.20),
                _row("tsn", "floor", "patch-mean", ssim=0.65, l1=0.15),
                _row("tsn", "model", "model", ssim=tsn_ssim, l1=0.10),
                _row("tsn", "model", "model", ssim=0.10, l1=0.10, dataset="other"),   # other units: not compared
                _row("afn", "floor", "copy-source", ssim=0.5)):
        append_row(path, row)
    return path


def test_summary_and_require_beats_on_a_hand_made_board(tmp_path, capsys):
    path = _board(tmp_path, tsn_ssim=0.62)
    rows = read_rows(path)
    tsn_model = [r for r in rows if r["stage"] == "tsn" and r["role"] == "model"][0]
    assert beaten_floors(rows, tsn_model) == {"tiled-patch": ["ssim", "l1"], "patch-mean": ["l1"]}
    lgn_model = [r for r in rows if r["stage"] == "lgn" and r["role"] == "model"][0]
    # diversity is descriptive: a deterministic floor's 0 is not "beaten"
    assert beaten_floors(rows, lgn_model) == {"pose-bin-mean-layout": ["miou_all"]}
    lines = summary_lines(rows)
    assert lines[0] == "lgn model (run model-model step 500) beats pose-bin-mean-layout on miou_all; beats none " \
                       "on pixel_acc"
    # the latest tsn model row was scored on other units: no floor is comparable with it
    assert lines[1] == "tsn model (run model-model step 500): no comparable floor row"
    assert lines[2] == "afn: no model row"
    assert main(["leaderboard", "--leaderboard", str(path), "--summary"]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    assert main(["leaderboard", "--leaderboard", str(path), "--require-beats", "--stage", "lgn"]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--leaderboard", str(path), "--require-beats"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["paint-eval leaderboard: tsn: tsn model (run model-model step 500) beats no floor on "
                   f"{PAIRED_METRIC['tsn']} (no comparable floor row reports it)"]
    assert main(["leaderboard", "--leaderboard", str(path), "--require-beats", "--stage", "afn"]) == 1
    assert capsys.readouterr().err.strip() == "paint-eval leaderboard: afn: no model row"


def test_the_grouped_table_names_what_each_model_beats(tmp_path, capsys):
    path = _board(tmp_path, tsn_ssim=0.62)
    assert main(["leaderboard", "--leaderboard", str(path), "--stage", "tsn", "--sort-by", "ssim"]) == 0
    out = capsys.readouterr().out.splitlines()
    table = [cells[1:] if cells[0].startswith("≠") else cells for cells in (line.split() for line in out[3:] if line)]
    assert [cells[:3] for cells in table if cells[0] == "tsn"] == [
        ["tsn", "floor", "patch-mean"], ["tsn", "floor", "tiled-patch"], ["tsn", "model", "model"],
        ["tsn", "model", "model"]]
    beats = [line.strip() for line in out if line.strip().startswith("↳")]
    assert beats == ["↳ beats tiled-patch on ssim, l1; patch-mean on l1", "↳ no comparable floor row"]
