"""Typed configs: YAML and dotted overrides, type-checked, unknown keys refused with one line."""
import dataclasses

import pytest

from paint.config import ConfigError, DataConfig, apply_overrides, dump_yaml, flatten, load_yaml


@dataclasses.dataclass
class Loss:
    style: float = 50.0
    kinds: tuple[str, ...] = ("l1",)


@dataclasses.dataclass
class Root:
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    loss: Loss = dataclasses.field(default_factory=Loss)
    name: str = "x"
    amp: bool = False


def test_overrides_are_typed():
    cfg = apply_overrides(Root(), ["loss.style=250", "data.resolution=64", "amp=true", "name=run-1",
                                   "data.shards=pipe:cat a.tar"])
    assert cfg.loss.style == 250.0 and isinstance(cfg.loss.style, float)
    assert cfg.data.resolution == 64 and cfg.amp is True and cfg.data.shards == "pipe:cat a.tar"
    assert apply_overrides(Root(), {"loss.style": 1e-4}).loss.style == 1e-4
    assert apply_overrides(Root(), ["loss.style=1e-4"]).loss.style == 1e-4


@pytest.mark.parametrize("override, words", [
    ("loss.stlye=3", "unknown config key 'loss.stlye'"),
    ("data.resolution=big", "expected a whole number"),
    ("amp=3", "expected true or false"),
    ("nokey", "key=value"),
    ("name.sub=1", "unknown config key 'name'"),
])
def test_bad_overrides_fail_in_one_line(override, words):
    with pytest.raises(ConfigError) as err:
        apply_overrides(Root(), [override])
    assert words in str(err.value) and "\n" not in str(err.value)


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(Root(), ["loss.style=7", "loss.kinds=[a, b]"])
    dump_yaml(cfg, tmp_path / "c.yaml")
    back = load_yaml(Root, tmp_path / "c.yaml")
    assert back == cfg and back.loss.kinds == ("a", "b")
    assert flatten(back)["loss.style"] == 7.0
    (tmp_path / "bad.yaml").write_text("loss: {nope: 1}\n")
    with pytest.raises(ConfigError, match="unknown config key 'loss.nope'"):
        load_yaml(Root, tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(Root, tmp_path / "missing.yaml")


def test_overrides_replace_only_the_path_they_name_and_literals_are_checked_on_load(tmp_path):
    from paint.stages import make_config

    cfg = make_config("tsn", "tiny")
    new = apply_overrides(cfg, ["optim.lr_g=0.01", "train.mixed_precision=bf16"])
    assert new.optim.lr_g == 0.01 and new.train.mixed_precision == "bf16" and cfg.optim.lr_g != 0.01
    assert new.loss is cfg.loss and new.data is cfg.data and new.model is cfg.model   # untouched sections kept
    for override, words in (("optim.schedule=cosin", "'optim.schedule': 'cosin' is not one of"),
                            ("train.mixed_precision=fp8", "'train.mixed_precision': 'fp8' is not one of")):
        with pytest.raises(ConfigError, match=words):
            apply_overrides(cfg, [override])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  schedule: step\n")
    with pytest.raises(ConfigError, match="'optim.schedule': 'step' is not one of"):
        load_yaml(type(cfg), bad, base=cfg)


def test_mixed_precision_auto_is_bf16_only_where_the_hardware_has_it():
    import torch

    from paint.engine import native_bf16, resolve_precision
    from paint.stages import STAGE_NAMES, make_config

    cpu_native = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert native_bf16(cuda=False) == cpu_native
    assert resolve_precision("auto", cuda=False) == ("bf16" if cpu_native else "no")
    for explicit in ("no", "bf16", "fp16"):
        assert resolve_precision(explicit, cuda=False) == explicit
    assert {make_config(stage, "small").train.mixed_precision for stage in STAGE_NAMES} == {"auto"}
    assert {make_config(stage, "tiny").train.mixed_precision for stage in STAGE_NAMES} == {"no"}   # tests: exact
    assert {make_config(stage, "paper").train.mixed_precision for stage in STAGE_NAMES} == {"no"}
