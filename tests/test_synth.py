"""The synthetic multi-view generator: deterministic shards, the sample contract, and data worth learning from."""
from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from paint.data.contract import decode_product, encode_product, validate_product
from shards.synth import generate_shards, render_product, split_of, view_ids

SIZE = 64
TOP = (5, 6, 7)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _read_products(folder: Path) -> list:
    """Decode every product of every shard in `folder` (grouping tar members by key, as WebDataset does)."""
    products = []
    for shard in sorted(folder.glob("*.tar")):
        samples: dict[str, dict] = {}
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, name = member.name.partition(".")
                samples.setdefault(key, {"__key__": key})[name] = tar.extractfile(member).read()
        products += [decode_product(raw) for raw in samples.values()]
    return products


@pytest.fixture(scope="module")
def products():
    return [render_product(11, i, 4, SIZE) for i in range(8)]


def test_shards_are_identical_for_a_seed_whatever_the_worker_count(tmp_path):
    one = generate_shards(tmp_path / "one", 12, 4, SIZE, seed=3, products_per_shard=4, workers=1, progress=False)
    two = generate_shards(tmp_path / "two", 12, 4, SIZE, seed=3, products_per_shard=4, workers=2, progress=False)
    assert one == two
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    other = generate_shards(tmp_path / "other", 12, 4, SIZE, seed=4, products_per_shard=4, workers=2,
                            progress=False)
    shard_sums = lambda m: {s["name"]: s["sha256"] for split in m["splits"].values() for s in split["shards"]}  # noqa: E731
    assert set(shard_sums(one)) == set(shard_sums(other))
    assert all(shard_sums(one)[name] != shard_sums(other)[name] for name in shard_sums(one))


def test_written_products_follow_the_contract_and_the_manifest(tmp_path):
    manifest = generate_shards(tmp_path, 20, 3, SIZE, seed=1, products_per_shard=6, workers=2, progress=False)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert manifest["generator"] == "synthetic" and manifest["generator_version"] == 1
    assert (manifest["seed"], manifest["views"], manifest["size"], manifest["products"]) == (1, 3, SIZE, 20)
    assert {k: v["products"] for k, v in manifest["splits"].items()} == {"train": 16, "val": 2, "test": 2}
    assert manifest["splits"]["train"]["pattern"] == "train-{000000..000002}.tar"
    products = _read_products(tmp_path)
    assert sorted(p.product_id for p in products) == [f"synth{i:06d}" for i in range(20)]
    for product in products:
        validate_product(product)
        index = int(product.product_id[5:])
        assert product.split == split_of(index)
        assert product.view_ids == ["front", "back", "side"]
        assert product.image_size == (SIZE, SIZE)
        assert product.category in {"TOPS-PANTS", "TOPS-SHORTS", "TOPS-SKIRTS", "COATS-PANTS", "COATS-SHORTS",
                                     "COATS-SKIRTS", "DRESSES", "COATS-DRESSES"}


def test_a_product_round_trips_through_encode_and_decode(products):
    for product in products[:3]:
        back = decode_product(encode_product(product))
        assert back.meta() == product.meta()
        for view in product.view_ids:
            np.testing.assert_array_equal(back.views[view].image, product.views[view].image)
            np.testing.assert_array_equal(back.views[view].parsing, product.views[view].parsing)
            np.testing.assert_allclose(back.views[view].pose, product.views[view].pose, atol=1e-3)


def test_render_product_is_deterministic_and_depends_on_seed_and_index():
    a, b = render_product(5, 2, 2, 32), render_product(5, 2, 2, 32)
    assert encode_product(a) == encode_product(b)
    assert encode_product(render_product(6, 2, 2, 32)) != encode_product(a)
    assert encode_product(render_product(5, 3, 2, 32))["front.image.png"] != encode_product(a)["front.image.png"]


def test_view_ids_keep_their_order_and_extend_past_four():
    assert view_ids(4) == ["front", "back", "side", "threequarter"]
    product = render_product(0, 0, 6, 32)
    assert product.view_ids == ["front", "back", "side", "threequarter", "view4", "view5"]


def test_garment_colour_agrees_across_views_of_a_product(products):
    means = np.array([[p.views[v].image[np.isin(p.views[v].parsing, TOP)].mean(0) for v in ("front", "back", "side")]
                      for p in products])
    within = np.linalg.norm(means[:, 1:] - means[:, :1], axis=2)          # back, side vs front, per product
    between = np.linalg.norm(means[:, None, 0] - means[None, :, 0], axis=2)[~np.eye(len(products), dtype=bool)]
    assert within.max() < 60, within
    assert within.mean() < 0.3 * between.mean(), (within.mean(), between.mean())


def test_layouts_change_with_the_view(products):
    for p in products:
        front, side = p.views["front"].parsing, p.views["side"].parsing
        person = (front > 0) | (side > 0)
        assert ((front != side) & person).sum() > 0.3 * person.sum()
        back = p.views["back"].parsing
        assert (front == 13).sum() > (back == 13).sum()     # the face is seen from the front, hair from the back
        assert (back == 2).sum() > (front == 2).sum()


def test_keypoints_see_the_face_only_from_the_front(products):
    for p in products:
        front, back, side = (p.views[v].pose for v in ("front", "back", "side"))
        assert front[0, 2] == 1.0 and back[0, 2] == 0.0
        assert back[14, 2] == 0.0 and back[15, 2] == 0.0          # eyes
        assert side[16, 2] == 0.0                                  # side = the person's left: right ear hidden
        for pose in (front, back, side):
            present = pose[:, 2] > 0
            assert present.sum() >= 13
            assert ((pose[present, :2] >= -0.5) & (pose[present, :2] <= SIZE - 0.5)).all()
            assert set(np.unique(pose[:, 2])) <= {0.0, 0.5, 1.0}
            assert (pose[~present, :2] == 0).all()


def test_visible_joints_lie_on_the_person(products):
    on, total = 0, 0
    for p in products:
        for view in p.views.values():
            seen = view.pose[view.pose[:, 2] == 1.0]
            cols, rows = np.round(seen[:, 0]).astype(int), np.round(seen[:, 1]).astype(int)
            on += (view.parsing[rows, cols] > 0).sum()
            total += len(seen)
    assert on >= 0.95 * total


def test_labels_cover_garments_and_body_parts(products):
    present = set()
    for p in products:
        for view in p.views.values():
            present |= set(np.unique(view.parsing).tolist())
    assert {0, 2, 13, 14, 15, 16, 17, 18, 19, 10} <= present
    assert present & {5, 6, 7} and present & {9, 12}
    assert present <= set(range(20))


def test_background_is_a_light_studio_backdrop(products):
    for p in products:
        view = p.views["front"]
        assert view.image[view.parsing == 0].mean() > 200


@pytest.mark.parametrize("bad, word", [
    (dict(products=0), "products"), (dict(views=9), "views"), (dict(size=8), "size"), (dict(seed=-1), "seed"),
    (dict(products_per_shard=0), "products_per_shard"), (dict(workers=0), "workers"), (dict(size=64.0), "size"),
])
def test_bad_arguments_are_refused_with_one_line(tmp_path, bad, word):
    args = dict(products=2, views=2, size=32, seed=0, products_per_shard=1, workers=1, progress=False) | bad
    with pytest.raises(ValueError) as error:
        generate_shards(tmp_path / "out", **args)
    assert str(error.value).startswith(word) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_smaller_rerun_leaves_only_its_own_shards(tmp_path):
    generate_shards(tmp_path, 10, 1, 32, seed=0, products_per_shard=2, workers=1, progress=False)
    assert len(list(tmp_path.glob("train-*.tar"))) == 4
    manifest = generate_shards(tmp_path, 3, 1, 32, seed=0, products_per_shard=2, workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.glob("*.tar")) == ["test-000000.tar", "train-000000.tar",
                                                               "val-000000.tar"]
    assert manifest["products"] == 3 and len(_read_products(tmp_path)) == 3
