"""Evaluation v2's metric and leaderboard behaviour on hand-made inputs: the metric registry drives the suite and
the leaderboard columns, L1 and the K-sample layout scores give their defined values, an old leaderboard CSV is
upgraded without losing a row, a CSV that is not a leaderboard is refused untouched, two evaluations saving the
same real-statistics cache at once leave a readable file, and the grouped table says which floors a model beats."""
from __future__ import annotations

import csv
import json
import multiprocessing as mp
import subprocess
import sys

import pytest
import torch

from eval.leaderboard import COLUMNS, LeaderboardError, append_row, eval_list_sha, read_rows
from eval.leaderboard_compare import beaten_floors, summary_lines, unbeaten
from eval.leaderboard_table import format_table
from eval.metrics import MetricSuite
from eval.metrics.fid import FeatureStats, RealStatsKey, load_real_stats, save_real_stats
from eval.metrics.l1 import L1
from eval.metrics.segmentation import LayoutScores

# The leaderboard header before Evaluation v2, as files written then have it.
OLD_COLUMNS = ("timestamp", "run_id", "git_commit", "stage", "method", "checkpoint_step", "checkpoint_path",
               "dataset", "split", "eval_list_sha", "resolution", "n_real", "n_gen", "fid", "ssim", "lpips",
               "miou_all", "miou_garment", "pixel_acc", "metric_impl", "fid_weights_sha256",
               "lpips_weights_sha256", "seed", "device", "notes")


def test_a_registered_metric_reaches_the_suite_the_columns_and_the_cli_list():
    """In a fresh interpreter (the registry is process-wide): one file's spec + one register() call."""
    code = """
import json, torch
from torchmetrics import Metric
from eval.metrics.registry import Column, MetricSpec, register
class MaxAbs(Metric):
    def __init__(self):
        super().__init__()
        self.add_state("top", torch.zeros(()), dist_reduce_fx="max")
    def update(self, fake, real):
        self.top = torch.maximum(self.top, (fake - real).abs().max())
    def compute(self):
        return self.top
register(MetricSpec(name="maxabs", columns=(Column("maxabs", "max_abs", higher_is_better=False),), inputs="pairs",
                    build=lambda s: MaxAbs(), implementation="test", impl_id=lambda meta: "maxabs"))
from eval.leaderboard import COLUMNS, HIGHER_IS_BETTER
from eval.metrics import MetricSuite
from eval.runner import ALL_METRICS
suite = MetricSuite(("maxabs",))
suite.update(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5))
print(json.dumps({"columns": list(COLUMNS), "metrics": list(HIGHER_IS_BETTER), "cli": list(ALL_METRICS),
                  "values": suite.compute().values}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["columns"][-1] == "max_abs" and "max_abs" in out["metrics"] and "maxabs" in out["cli"]
    assert out["values"] == {"maxabs": 0.5}


def test_l1_is_the_mean_absolute_difference_on_unit_images():
    metric = L1()                                   # inputs in [-1, 1]
    fake, real = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    fake[0] = 1.0                                   # one image off by 0.5 on [0, 1] everywhere
    metric.update(fake, real)
    assert float(metric.compute()) == pytest.approx(0.25)
    with pytest.raises(ValueError):                 # no data is the one "skipped" case
        L1().compute()


def test_layout_scores_for_k_samples_mean_best_diversity_and_body_parts():
    gt = torch.zeros(1, 4, 4, dtype=torch.long)
    gt[0, :2] = 13                                  # face on top, legs below
    gt[0, 2:] = 16
    wrong = torch.full_like(gt, 9)                  # all pants
    metric = LayoutScores()
    metric.update(gt, gt, torch.stack([wrong, gt], dim=1))    # K = 2: one sample exact, one all wrong
    scores = metric.compute()
    assert scores["miou_best"] == 1.0               # the best sample per unit is the exact one
    assert scores["pixel_accuracy"] == pytest.approx(0.5)     # mean over both samples
    assert scores["diversity"] == 1.0               # the two samples differ at every pixel
    assert scores["miou_body"] == pytest.approx(0.5)          # face and leg IoU: 8 / 16 each
    single = LayoutScores()                          # one layout per unit: best = mean, diversity 0
    single.update(gt, gt)
    scores = single.compute()
    assert scores["miou_best"] == scores["miou"] == 1.0 and scores["diversity"] == 0.0


def test_a_bug_in_a_metric_is_raised_not_skipped(monkeypatch):
    suite = MetricSuite(("ssim",))
    suite.update(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))
    monkeypatch.setattr(suite.metrics["ssim"], "compute", lambda: (_ for _ in ()).throw(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):
        suite.compute()
    assert "ssim" in MetricSuite(("ssim",)).compute().skipped    # no data at all: skipped with the reason


def _old_row(run: str, method: str, ssim: str) -> list[str]:
    values = {"timestamp": "2026-11-01T00:00:00+00:00", "run_id": run, "stage": "tsn", "method": method,
              "ssim": ssim, "notes": 'old, "quoted"'}
    return [values.get(column, "") for column in OLD_COLUMNS]


def test_an_old_leaderboard_gets_the_new_columns_and_keeps_every_row(tmp_path):
    path = tmp_path / "leaderboard.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(
            [OLD_COLUMNS, _old_row("demo", "model", "0.9"), _old_row("floor", "tiled-patch", "0.8")])
    append_row(path, {"run_id": "new", "stage": "tsn", "role": "model", "method": "model", "ssim": 0.95,
                      "l1": 0.05})
    with open(path, newline="") as handle:
        header = next(csv.reader(handle))
    assert tuple(header) == COLUMNS and header[:len(OLD_COLUMNS)] == list(OLD_COLUMNS)
    rows = read_rows(path)
    assert [(r["run_id"], r["role"], r["ssim"], r["l1"]) for r in rows] == [
        ("demo", "model", 0.9, None), ("floor", "floor", 0.8, None), ("new", "model", 0.95, 0.05)]
    assert rows[0]["notes"] == 'old, "quoted"'


def test_a_csv_that_is_not_a_leaderboard_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes(b"item,price\r\ncoat,120\r\n")
    for call in (lambda: append_row(path, {"run_id": "r", "stage": "tsn", "method": "model"}),
                 lambda: read_rows(path)):
        with pytest.raises(LeaderboardError, match="not a leaderboard") as refused:
            call()
        assert "\n" not in str(refused.value)
    assert path.read_bytes() == b"item,price\r\ncoat,120\r\n"


def _save_many(path: str, seed: int, times: int) -> None:
    gen = torch.Generator().manual_seed(0)              # same statistics from both writers, as a shared cache has
    stats = FeatureStats(torch.randn(2048, generator=gen, dtype=torch.float64),
                         torch.eye(2048, dtype=torch.float64), 40)
    for _ in range(times):
        save_real_stats(path, stats, RealStatsKey("val-set", 64, "ab" * 32))


def test_two_evaluations_saving_one_real_stats_cache_at_once_leave_a_readable_file(tmp_path):
    path = tmp_path / RealStatsKey("val-set", 64, "ab" * 32).filename()
    context = mp.get_context("spawn")
    writers = [context.Process(target=_save_many, args=(str(path), seed, 6)) for seed in (1, 2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
    assert [w.exitcode for w in writers] == [0, 0]
    loaded = load_real_stats(path, RealStatsKey("val-set", 64, "ab" * 32))
    assert loaded.n == 40 and loaded.mean.shape == (2048,)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".lock"]   # no temporary left


def _row(role: str, method: str, **metrics) -> dict:
    return {"run_id": f"{role}-{method}", "stage": "afn", "role": role, "method": method, "dataset": "synth",
            "split": "val", "eval_list_sha": eval_list_sha(["a", "b"]), "resolution": 64, "n_real": 2, "n_gen": 2,
            "fid_weights_sha256": "f" * 64, **metrics}


def test_the_table_groups_roles_and_names_the_floors_a_model_beats(tmp_path):
    path = tmp_path / "board.csv"
    for row in (_row("model", "model", fid=70.0, ssim=0.90, l1=0.05),
                _row("floor", "copy-source", fid=60.0, ssim=0.76, l1=0.12),
                _row("floor", "colour-prior", fid=90.0, ssim=0.92, l1=0.07),
                _row("untrained", "untrained", fid=200.0, ssim=0.5, l1=0.3),
                _row("reference", "real-train-images", fid=20.0)):
        append_row(path, row)
    rows = read_rows(path)
    realism = {("afn", "copy-source")}
    model = next(r for r in rows if r["role"] == "model")
    beaten = beaten_floors(rows, model, realism)
    assert beaten == {"copy-source": ["ssim", "l1"], "colour-prior": ["fid", "l1"]}   # FID vs real images: no beat
    table = format_table(rows)
    order = [line.split()[1] for line in table.splitlines() if line.split()[:1] == ["afn"]]
    assert order == ["reference", "floor", "floor", "untrained", "model"]
    assert any("afn" in line and "copy-source" in line for line in summary_lines(rows, realism))
    assert unbeaten(rows, realism) == []                # ssim beats copy-source
    worse = [r for r in rows if r["role"] != "model"] + [{**model, "ssim": 0.5, "l1": 0.5}]
    assert [line.split()[0].rstrip(":") for line in unbeaten(worse, realism)] == ["afn"]
