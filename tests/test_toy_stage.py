"""A fourth stage defined only in this file: it registers itself (paint.stages.register_stage), trains 2 steps
through the engine and the training loop, is evaluated — its own floor (eval.floors.register_floor) and its
trained checkpoint — into leaderboard rows by `paint-eval`, and its Tune space passes paint-tune's check. Nothing
outside this file knows about it: the trainer, eval/ and tune/ ask the stage what it is."""
from __future__ import annotations

import dataclasses
import shutil

import pytest
import torch
from torch import nn

from eval.cli import main as paint_eval
from eval.floors import FLOOR_IMAGE_METRICS, FLOORS, Floor, FloorEvaluator, register_floor
from eval.leaderboard import read_rows
from paint.config import DataConfig, OptimConfig, StageConfig, TrainConfig
from paint.data.labels import NUM_CLASSES, one_hot
from paint.run_setup import check_config, resolve_config
from paint.stages import build_stage, register_stage, stage_class, stage_names, unregister_stage
from paint.images import to_unit_range
from paint.stages.base import Stage
from paint.stages.visuals import layout_picture
from paint.train_loop import fit
from paint.validation import Compared
from tests.ray_fixtures import tiny_shards  # noqa: F401  (fixture)
from tune.search_space import check_space, load_space, shipped_space


@dataclasses.dataclass
class ToyLossConfig:
    l1: float = 1.0
    adv: float = 0.1


@dataclasses.dataclass
class ToyNetConfig:
    width: int = 8


@dataclasses.dataclass
class ToyConfig(StageConfig):
    stage: str = "toy"
    model: ToyNetConfig = dataclasses.field(default_factory=ToyNetConfig)
    loss: ToyLossConfig = dataclasses.field(default_factory=ToyLossConfig)


def toy_preset(name: str) -> ToyConfig:
    return ToyConfig(preset=name, data=DataConfig(resolution=64, batch_size=2, batches_per_epoch=2, loader_workers=0),
                     optim=OptimConfig(lr_g=1e-2), train=TrainConfig(epochs=1, grid_every=0))


class ToyStage(Stage):
    """Layout → image with two 3×3 convs; D a single conv. Its space searches the L1 weight."""

    name, unit, output = "toy", "view", "image"
    tune_space = {"space": {"loss.l1": {"loguniform": [0.5, 2.0]}}}

    def build_generator(self):
        width = self.cfg.model.width
        return nn.Sequential(nn.Conv2d(NUM_CLASSES, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1),
                             nn.Tanh())

    def build_discriminator(self):
        return nn.Conv2d(3, 1, 4, stride=2, padding=1)

    def g_step(self, g, d, batch):
        fake = g(one_hot(batch["layout"]))
        loss = self.cfg.loss
        losses = {"l1": loss.l1 * (fake - batch["image"]).abs().mean(), "adv": loss.adv * ((d(fake) - 1) ** 2).mean()}
        return losses, fake.detach()

    def d_step(self, d, batch, cache):
        return {"adv": 0.5 * (((d(batch["image"]) - 1) ** 2).mean() + (d(cache) ** 2).mean())}

    @torch.no_grad()
    def infer(self, g, batch, generator=None):
        return g(one_hot(batch["layout"]))

    @torch.no_grad()
    def visuals(self, g, batch):
        return {"layout": layout_picture(batch["layout"]), "output": to_unit_range(self.infer(g, batch)),
                "target": to_unit_range(batch["image"])}


class MidGrey(FloorEvaluator):
    """The toy's floor: every pixel mid-grey."""

    unit = "view"

    def __init__(self, data):
        self.data = data

    def notes(self):
        return ["floor: mid-grey everywhere"]

    def predict(self, batch):
        real = batch["image"].float()
        return Compared(torch.zeros_like(real), real)

    def pictures(self, batch, compared):
        return {"floor": to_unit_range(compared.fake), "target": to_unit_range(compared.real)}


@pytest.fixture
def toy_registered():
    """The toy stage and its floor, registered for this test only (other tests list the registries)."""
    register_stage(ToyStage, toy_preset, ToyConfig)
    register_floor(Floor("toy", "mid-grey", "every pixel mid-grey", FLOOR_IMAGE_METRICS, False, False,
                         lambda request: MidGrey(request.data)))
    yield
    unregister_stage("toy")
    FLOORS.pop("toy", None)


def test_a_stage_defined_outside_paint_trains_is_evaluated_with_its_floor_and_has_a_tune_space(
        toy_registered, tiny_shards, tmp_path, capsys):  # noqa: F811
    assert stage_names()[-1] == "toy" and stage_class("toy").target_key() == "image"
    cfg = resolve_config("toy", "tiny", overrides=["train.val_units=0", f"data.shards={tiny_shards}"])

    kept = {}

    def reporter(metrics, folder):
        if folder is not None:
            kept["checkpoint"] = shutil.copytree(folder, tmp_path / "run" / "checkpoint_000001")
    start = {k: v.clone() for k, v in build_stage(cfg).build_generator().state_dict().items()}
    engine = fit(cfg, 0, 1, reporter, tmp_path / "log")
    assert engine.step_count == 2
    trained = engine.inference_generator().state_dict()
    assert any(not torch.equal(start[k], trained[k].cpu()) for k in start), "2 steps changed no weight"

    board = tmp_path / "leaderboard.csv"
    common = ["--shards", str(tiny_shards), "--limit", "4", "--leaderboard", str(board), "--metrics", "ssim,l1",
              "--no-gallery", "--no-progress"]
    assert paint_eval(["--floor", "toy", "--method", "mid-grey", *common]) == 0, capsys.readouterr().err
    assert paint_eval(["--stage", "toy", "--checkpoint", str(kept["checkpoint"]), *common]) == 0, \
        capsys.readouterr().err
    rows = {row["role"]: row for row in read_rows(board)}
    assert set(rows) == {"floor", "model"}
    assert rows["floor"]["stage"] == rows["model"]["stage"] == "toy"
    assert rows["floor"]["method"] == "mid-grey" and int(rows["model"]["checkpoint_step"]) == 2
    assert float(rows["model"]["l1"]) != float(rows["floor"]["l1"])

    space = load_space(shipped_space("toy"))
    check_space(space, cfg, check_config)           # the space's keys exist in the toy's config and are swept
    assert list(space.param_space()) == ["loss.l1"]
