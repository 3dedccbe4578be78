"""Property over the whole config schema (Hypothesis, derandomised so CI sees the same examples every run): for every
key of every stage's config, a value of the wrong type, out of range, NaN/inf or empty is either accepted by the
schema and the validation pass, or refused by them with one ConfigError line naming the key — never another
exception, and never later (the validation pass is what `train_<stage>` runs before Ray and data)."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paint.config import ConfigError, apply_overrides, flatten, to_dict
from paint.run_setup import check_config
from paint.stages import STAGE_NAMES, make_config

ODD_VALUES = st.one_of(
    st.sampled_from([float("nan"), float("inf"), -float("inf"), "", " ", "nan", "-1", "1e400", [], {}, None,
                     True, False, 0, -1, 2 ** 62, -(2 ** 62), 0.5, -0.5, 1e-300, "text", [1, 2], {"a": 1}]),
    st.integers(min_value=-10 ** 6, max_value=10 ** 6),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(max_size=8),
)


def keys_of(stage: str) -> list[str]:
    # scaling.*/run.storage_path are about the machine, not the schema; data.shards is read later by design
    return [k for k in flatten(to_dict(make_config(stage, "tiny")))
            if k not in ("stage", "preset", "data.shards", "data.val_shards", "run.resume_from", "run.storage_path")]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stage", STAGE_NAMES)
@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_key_accepts_or_refuses_odd_values_in_one_line(stage, data, tmp_path_factory):
    key = data.draw(st.sampled_from(keys_of(stage)), label="key")
    value = data.draw(ODD_VALUES, label="value")
    storage = tmp_path_factory.getbasetemp() / "property-runs"
    try:
        cfg = apply_overrides(make_config(stage, "tiny"), {"run.storage_path": str(storage), key: value})
        check_config(cfg)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.strip(), repr(message)
        assert key.split(".")[-1] in message or key in message or "config key" in message, (key, value, message)
        return
    # accepted: the value is what the config holds now, and it is a sane one
    held = flatten(to_dict(cfg))[key]
    if isinstance(held, float):
        assert math.isfinite(held), (key, value)
