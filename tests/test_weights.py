"""Weight files: found in an explicit path or the torch hub cache, never downloaded, read without unpickling objects."""
import hashlib
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from paint.weights import (KnownWeights, MissingWeightsError, WeightsError, hub_checkpoint_dir, is_official,
                           known_weights, load_state_dict, register_weights, resolve_weights, sha256_of)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def _state():
    return {"features.0.weight": torch.randn(4, 3, 3, 3), "features.0.bias": torch.randn(4)}


def test_registry_knows_torchvision_file_names():
    known = known_weights()
    assert known["vgg19"].filename == "vgg19-dcbb9e9d.pth"
    assert known["alexnet"].filename == "alexnet-owt-7be5be79.pth"


def test_cache_is_found_under_torch_home(torch_home):
    assert hub_checkpoint_dir() == torch_home / "hub" / "checkpoints"
    target = torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    target.parent.mkdir(parents=True)
    torch.save(_state(), target)
    assert resolve_weights("alexnet") == target.resolve()


def test_missing_file_error_is_one_line_naming_file_places_and_fix(torch_home):
    with pytest.raises(MissingWeightsError) as err:
        resolve_weights("vgg19", path_option="loss.vgg_weights")
    message = str(err.value)
    assert "\n" not in message
    assert "vgg19-dcbb9e9d.pth" in message
    assert str(torch_home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in message
    assert "machine with internet" in message and "loss.vgg_weights=" in message
    assert isinstance(err.value, WeightsError) and isinstance(err.value, ValueError)


def test_explicit_path_wins_and_must_exist(torch_home, tmp_path):
    cached = torch_home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    cached.parent.mkdir(parents=True)
    torch.save(_state(), cached)
    mine = tmp_path / "my_vgg.pth"
    torch.save(_state(), mine)
    assert resolve_weights("vgg19", mine) == mine.resolve()
    assert resolve_weights("vgg19", "") == cached.resolve()  # "" = not given (config default)
    with pytest.raises(MissingWeightsError, match="given path") as err:
        resolve_weights("vgg19", tmp_path / "typo.pth")  # no silent fall-back to the cache
    assert "typo.pth" in str(err.value) and "\n" not in str(err.value)


def test_unknown_name_is_refused():
    with pytest.raises(WeightsError, match="unknown weights 'vgg91'"):
        resolve_weights("vgg91")


def test_new_weights_can_be_registered(torch_home):
    entry = KnownWeights("test-linear-layers", "test-lin-v0.1.pth", "test linear layers")
    register_weights(entry)
    register_weights(entry)  # same entry again: fine
    with pytest.raises(WeightsError, match="already registered"):
        register_weights(KnownWeights("test-linear-layers", "other.pth", "x"))
    target = torch_home / "hub" / "checkpoints" / "test-lin-v0.1.pth"
    target.parent.mkdir(parents=True)
    torch.save(_state(), target)
    assert resolve_weights("test-linear-layers") == target.resolve()
    assert is_official("test-linear-layers", target) is None


def test_torch_and_safetensors_files_load_alike(tmp_path):
    state = _state()
    torch.save(state, tmp_path / "w.pth")
    save_file(state, str(tmp_path / "w.safetensors"))
    for name in ("w.pth", "w.safetensors"):
        loaded = load_state_dict(tmp_path / name)
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state)


class _Payload:
    """Unpickling this would create a file: the loader must refuse before that happens."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_objects_are_refused_not_executed(tmp_path):
    marker = tmp_path / "unpickled.txt"
    torch.save({"features.0.weight": torch.zeros(1), "payload": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="Python objects other than tensors") as err:
        load_state_dict(tmp_path / "evil.pth")
    assert "\n" not in str(err.value) and "evil.pth" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("content, words", [
    ({"model": {"w": torch.zeros(1)}, "step": 3}, "not a flat state dict"),
    ([torch.zeros(1)], "not a state dict"),
])
def test_files_that_are_not_state_dicts_are_refused(tmp_path, content, words):
    torch.save(content, tmp_path / "ckpt.pth")
    with pytest.raises(WeightsError, match=words) as err:
        load_state_dict(tmp_path / "ckpt.pth")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["broken.pth", "broken.safetensors"])
def test_unreadable_files_fail_in_one_line(tmp_path, name):
    (tmp_path / name).write_bytes(b"this is not a weight file")
    with pytest.raises(WeightsError, match="not a readable") as err:
        load_state_dict(tmp_path / name)
    assert "\n" not in str(err.value)


def test_sha256_matches_file_and_follows_changes(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"first")
    assert sha256_of(path) == hashlib.sha256(b"first").hexdigest()
    path.write_bytes(b"second, longer")
    assert sha256_of(path) == hashlib.sha256(b"second, longer").hexdigest()
    assert is_official("vgg19", path) is False


# torchvision's download entry points: nothing in the library or the evaluation code may reach them.
_DOWNLOADS = re.compile(r"load_state_dict_from_url|download_url_to_file|torch\.hub\.load\(|_Weights\.|"
                        r"weights\s*=\s*[\"'](DEFAULT|IMAGENET)")


def test_no_code_path_downloads_weights():
    offenders = []
    for folder in ("paint", "eval"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if _DOWNLOADS.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "code that would download weights:\n" + "\n".join(offenders)


def test_building_the_vgg_loss_offline_fetches_nothing(torch_home):
    from paint.losses import VGGLoss
    with pytest.raises(MissingWeightsError, match="vgg19-dcbb9e9d.pth"):
        VGGLoss("imagenet")
    assert not torch_home.exists() or not any(os.scandir(torch_home))
