"""A checkpoint that is not one PAINT wrote is refused in one line that never advises loading it unsafely: a
pickle of arbitrary Python objects (which must not run), a truncated file, random bytes."""
from __future__ import annotations

import pytest
import torch

from paint.checkpoint import STATE_FILE, CheckpointError, load_checkpoint, read_meta


RAN = []


def mark_ran():
    RAN.append(True)
    return 0


class Payload:        # unpickling it would call mark_ran: weights_only loading must refuse to
    def __reduce__(self):
        return (mark_ran, ())


@pytest.mark.parametrize("content", ["python-objects", "truncated", "random-bytes"])
def test_a_foreign_or_damaged_state_file_is_refused_without_unsafe_advice(content, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    state = folder / STATE_FILE
    if content == "python-objects":
        torch.save({"engine": Payload(), "stage": "tsn"}, state)
    elif content == "truncated":
        torch.save({"engine": {"g": torch.zeros(1000)}, "stage": "tsn", "epoch": 1}, state)
        state.write_bytes(state.read_bytes()[:300])
    else:
        state.write_bytes(bytes(range(256)) * 8)
    for read in (load_checkpoint, read_meta):
        with pytest.raises(CheckpointError) as err:
            read(folder)
        message = str(err.value)
        assert "\n" not in message and str(state) in message and "cannot be read" in message
        assert "weights_only=False" not in message and "weights_only set to False" not in message
        assert "can still be loaded" not in message and "trust the source" not in message
    if content == "python-objects":
        assert "Python objects other than tensors" in message and not RAN
