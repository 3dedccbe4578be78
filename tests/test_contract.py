"""The sample contract: valid products round-trip; broken ones are refused with a message naming the problem."""
import json

import numpy as np
import pytest

from paint.data.contract import ContractError, decode_product, encode_product, validate_product
from tests.products import make_product


def test_round_trip_is_lossless():
    product = make_product(1, views=3, size=33)
    back = decode_product(encode_product(product))
    assert back.product_id == product.product_id and back.view_ids == product.view_ids
    for vid in product.view_ids:
        np.testing.assert_array_equal(back.views[vid].image, product.views[vid].image)
        np.testing.assert_array_equal(back.views[vid].parsing, product.views[vid].parsing)
        np.testing.assert_allclose(back.views[vid].pose, product.views[vid].pose, atol=1e-3)
    assert back.meta()["image_size"] == [33, 33]


@pytest.mark.parametrize("breakage, words", [
    (lambda p: setattr(p.views["v0"], "parsing", np.full((32, 32), 20, np.uint8)), "label 20"),
    (lambda p: setattr(p.views["v1"], "pose", np.zeros((17, 3), np.float32)), "18 keypoints"),
    (lambda p: setattr(p.views["v0"], "image", np.zeros((32, 30, 3), np.uint8)), "square"),
    (lambda p: setattr(p.views["v2"], "image", np.zeros((32, 32), np.uint8)), "(H, W, 3) uint8"),
    (lambda p: setattr(p.views["v0"], "parsing", np.zeros((16, 16), np.uint8)), "differs from the image"),
    (lambda p: setattr(p, "product_id", "a.b"), "no dots"),
    (lambda p: setattr(p, "split", "training"), "split"),
    (lambda p: p.views["v0"].pose.__setitem__((0, 2), 2.0), "confidence"),
])
def test_validation_rejects_bad_samples(breakage, words):
    product = make_product(2)
    breakage(product)
    with pytest.raises(ContractError) as err:
        validate_product(product)
    message = str(err.value)
    assert words in message and "\n" not in message


def test_decode_names_missing_and_corrupt_members():
    raw = encode_product(make_product(3))
    broken = dict(raw)
    del broken["v1.pose.json"]
    with pytest.raises(ContractError, match="v1.pose.json: member missing"):
        decode_product(broken)
    broken = dict(raw, **{"v0.parsing.png": b"not a png"})
    with pytest.raises(ContractError, match="v0.parsing.png: cannot decode"):
        decode_product(broken)
    broken = dict(raw, **{"v0.image.png": raw["v0.parsing.png"]})  # single-channel where RGB belongs decodes...
    assert decode_product(broken).views["v0"].image.shape == (32, 32, 3)  # ...as grey RGB, which is valid
    broken = dict(raw, **{"v0.parsing.png": raw["v0.image.png"]})
    with pytest.raises(ContractError, match="single-channel"):
        decode_product(broken)
    meta = json.loads(raw["meta.json"])
    del meta["views"]
    with pytest.raises(ContractError, match="missing keys"):
        decode_product(dict(raw, **{"meta.json": json.dumps(meta).encode()}))
