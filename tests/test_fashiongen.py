"""Fashion-Gen import: a tiny HDF5 in the official layout + keypoints in both formats + parsings → shards.

Bad rows (missing keypoints, malformed JSON, missing parsing, nobody detected) must be skipped and counted,
never replaced; the kept images must equal the HDF5 pixels exactly. Bad input through the real console script
must end in one stderr line, a non-zero exit and no shard file.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from paint.data.contract import decode_product
from shards.annotations import RowSkipped, keypoint_index, read_keypoints, read_parsing
from shards.cli import main
from shards.fashiongen import as_text, import_fashiongen
from shards.verify import read_samples, verify

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".venv" / "bin" / "paint-shards"
SIZE = 32
# (product id, view, what to do with its annotations); rows of product 101 are deliberately not contiguous.
ROWS = [
    (101, 1, "openpose"),
    (101, 2, "paint-nested"),
    (202, 1, "openpose-two-people"),
    (202, 2, "no-keypoints"),
    (303, 1, "malformed-json"),
    (303, 2, "paint-nested"),
    (303, 3, "no-parsing"),
    (101, 3, "openpose"),
    (404, 1, "nobody"),
    (202, 3, "openpose-nested"),
]
KEPT = {"101": ["1", "2", "3"], "202": ["1", "3"], "303": ["2"]}
SKIPPED = {"202_2": "missing keypoints", "303_1": "malformed keypoints", "303_3": "missing parsing",
           "404_1": "no person"}


def _pose(rng) -> np.ndarray:
    pose = np.zeros((18, 3))
    pose[:, :2] = rng.uniform(2, SIZE - 2, (18, 2)).round(2)
    pose[:, 2] = rng.uniform(0.3, 1.0, 18).round(3)
    pose[4] = (0, 0, 0)  # a joint OpenPose did not find
    return pose


def _openpose_json(*people: np.ndarray) -> str:
    return json.dumps({"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p.reshape(-1).tolist()}
                                                  for p in people]})


def build_fixture(root: Path) -> dict:
    """Write the HDF5, keypoint and parsing folders under `root`; return what the test needs to check."""
    rng = np.random.default_rng(7)
    n = len(ROWS)
    images = rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)
    h5_path = root / "fashiongen_32_32_validation.h5"
    with h5py.File(h5_path, "w") as h5:
        h5["input_image"] = images
        h5["input_brand"] = np.array([[b"ACME"]] * n, "S8")  # fields the importer does not use are ignored
        h5["input_productID"] = np.array([[pid] for pid, _, _ in ROWS], dtype=np.int32)
        h5["input_pose"] = np.array([[f"id_gridfs_{v}".encode()] for _, v, _ in ROWS], dtype="S20")
        h5["input_category"] = np.array([[b"TOPS" if pid != 303 else b"PANTS"] for pid, _, _ in ROWS], "S10")
        h5["input_description"] = np.array([[b"Caf\xe9 shirt %d" % pid] for pid, _, _ in ROWS], "S40")
    keypoints, parsing = root / "pose", root / "parsing"
    (keypoints / "sub" / "a").mkdir(parents=True)
    (parsing / "F1" / "deep").mkdir(parents=True)
    poses, parsings = {}, {}
    for row, (pid, view, kind) in enumerate(ROWS):
        name = f"{pid}_{view}"
        pose = _pose(rng)
        if kind in ("openpose", "openpose-nested", "no-parsing"):
            folder = keypoints / "sub" if kind.endswith("nested") else keypoints
            (folder / f"{name}_keypoints.json").write_text(_openpose_json(pose))
        elif kind == "openpose-two-people":
            faint = pose.copy()
            faint[:, 0] += 1.0
            faint[:, 2] = 0.05
            (keypoints / f"{name}_keypoints.json").write_text(_openpose_json(faint, pose))
        elif kind == "paint-nested":
            joints = {str(j): [float(x), float(y)] for j, (x, y, _) in enumerate(pose)}
            joints["4"] = [0.0, 0.0]
            pose[:, 2] = 1.0
            pose[4] = (0, 0, 0)
            (keypoints / "sub" / "a" / f"{name}.json").write_text(json.dumps(joints))
        elif kind == "malformed-json":
            (keypoints / f"{name}_keypoints.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2,')
        elif kind == "nobody":
            (keypoints / f"{name}_keypoints.json").write_text('{"version": 1.3, "people": []}')
        poses[name] = pose
        labels = rng.integers(0, 20, (SIZE, SIZE), dtype=np.uint8)
        labels[0, 0] = 255
        parsings[name] = labels
        if kind != "no-parsing":
            Image.fromarray(labels).save(parsing / ("F1/deep" if row % 2 else "F1") / f"{name}.png")
    return {"h5": h5_path, "keypoints": keypoints, "parsing": parsing, "images": images,
            "poses": poses, "parsings": parsings}


@pytest.fixture
def fixture(tmp_path) -> dict:
    return build_fixture(tmp_path)


def _products(out: Path) -> dict:
    return {raw["__key__"]: decode_product(raw) for path in sorted(out.glob("*.tar")) for raw in read_samples(path)}


def test_import_keeps_valid_views_and_counts_skipped_rows(fixture, tmp_path):
    out = tmp_path / "out"
    manifest = import_fashiongen(fixture["h5"], fixture["keypoints"], fixture["parsing"], out,
                                 products_per_shard=2, block_rows=3, progress=False)
    products = _products(out)
    assert {pid: p.view_ids for pid, p in products.items()} == KEPT
    assert manifest["skipped"] == {reason: 1 for reason in SKIPPED.values()}
    assert {r["name"]: r["reason"] for r in manifest["skipped_rows"]} == SKIPPED
    assert manifest["rows"] == 10 and manifest["imported_rows"] == 6 and manifest["dropped_products"] == 1
    assert manifest["several_people"] == 1 and manifest["splits"]["val"]["products"] == 3
    assert [s["name"] for s in manifest["splits"]["val"]["shards"]] == ["val-000000.tar", "val-000001.tar"]

    row_of = {f"{pid}_{view}": row for row, (pid, view, _) in enumerate(ROWS)}
    for pid, product in products.items():
        assert product.split == "val" and product.source == "fashiongen"
        assert product.category == ("PANTS" if pid == "303" else "TOPS")
        assert product.extra["description"] == f"Café shirt {pid}"
        for view_id, view in product.views.items():
            name = f"{pid}_{view_id}"
            np.testing.assert_array_equal(view.image, fixture["images"][row_of[name]])  # lossless round trip
            np.testing.assert_array_equal(view.parsing, fixture["parsings"][name])
            np.testing.assert_allclose(view.pose, fixture["poses"][name], atol=1e-3)  # two people: the confident
    # No skipped row's pixels may turn up anywhere, under any name.
    stored = [v.image for p in products.values() for v in p.views.values()]
    for name in SKIPPED:
        assert not any(np.array_equal(image, fixture["images"][row_of[name]]) for image in stored)
    assert verify(str(out)).ok


def test_list_restricts_the_import(fixture, tmp_path):
    listing = tmp_path / "names.txt"
    listing.write_text("101_1\nimageyy/F/101_3.jpg\n202_2\n999_1\n")
    manifest = import_fashiongen(fixture["h5"], fixture["keypoints"], fixture["parsing"], tmp_path / "out",
                                 split="test", list_file=listing, progress=False)
    products = _products(tmp_path / "out")
    assert {pid: p.view_ids for pid, p in products.items()} == {"101": ["1", "3"]}
    assert manifest["not_listed"] == 7 and manifest["skipped"] == {"missing keypoints": 1}
    assert manifest["dropped_products"] == 1 and products["101"].split == "test"
    assert manifest["listed_not_found"] == 1


def test_other_field_layouts_text_ids_and_row_axis_first(tmp_path):
    """Product ids as bytes with shape (N,), view ids with shape (1, N), no category field; 48 px images."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    h5_path = tmp_path / "fashiongen_train.h5"
    with h5py.File(h5_path, "w") as h5:
        h5["input_image"] = images
        h5["input_productID"] = np.array([b"A-7", b"A-7", b"B_2"])
        h5["input_pose"] = np.array([[b"id_gridfs_2", b"id_gridfs_1", b"id_gridfs_1"]])
    (tmp_path / "kp").mkdir()
    (tmp_path / "seg").mkdir()
    for name in ("A-7_1", "A-7_2", "B_2_1"):
        (tmp_path / "kp" / f"{name}_keypoints.json").write_text(_openpose_json(np.full((18, 3), 0.5)))
        Image.fromarray(np.zeros((48, 48), np.uint8)).save(tmp_path / "seg" / f"{name}.png")
    manifest = import_fashiongen(h5_path, tmp_path / "kp", tmp_path / "seg", tmp_path / "out", progress=False)
    products = _products(tmp_path / "out")
    assert {pid: p.view_ids for pid, p in products.items()} == {"A-7": ["1", "2"], "B_2": ["1"]}
    np.testing.assert_array_equal(products["A-7"].views["2"].image, images[0])  # views ordered by number
    assert products["A-7"].category == "unknown" and products["A-7"].split == "train"
    assert manifest["image_size"] == [48, 48] and manifest["skipped"] == {}


def test_text_cells_decode_bytes_numbers_and_singleton_arrays():
    assert as_text(np.array([b"id_gridfs_3"])) == "id_gridfs_3"
    assert as_text(np.array([[101]], dtype=np.int32)) == "101"
    assert as_text(b"Caf\xe9\x00") == "Café"


@pytest.mark.parametrize("content, reason, words", [
    (_openpose_json(np.full((25, 3), 0.5)), "malformed keypoints", "COCO"),
    (_openpose_json(np.full((18, 3), 0.5) * [200, 200, 1]), "keypoints outside image", "32x32"),
    ('{"people": [{"face_keypoints_2d": []}]}', "malformed keypoints", "pose_keypoints_2d"),
    ('{"0": [3, 4]}', "malformed keypoints", "joint 1"),
    ("[1, 2, 3]", "malformed keypoints", "top level"),
])
def test_bad_keypoint_files_name_their_reason(tmp_path, content, reason, words):
    path = tmp_path / "1_1_keypoints.json"
    path.write_text(content)
    with pytest.raises(RowSkipped) as caught:
        read_keypoints(path, (SIZE, SIZE))
    assert caught.value.reason == reason and words in caught.value.detail


@pytest.mark.parametrize("array, reason_words", [
    (np.zeros((SIZE, SIZE, 3), np.uint8), "mode RGB"),
    (np.full((SIZE, SIZE), 25, np.uint8), "label 25"),
    (np.zeros((SIZE * 2, SIZE * 2), np.uint8), "differs from the image"),
])
def test_bad_parsing_files_name_their_reason(tmp_path, array, reason_words):
    path = tmp_path / "1_1.png"
    Image.fromarray(array).save(path)
    with pytest.raises(RowSkipped) as caught:
        read_parsing(path, (SIZE, SIZE))
    assert caught.value.reason == "malformed parsing" and reason_words in caught.value.detail


def test_a_name_found_twice_is_ambiguous_not_guessed(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "5_1_keypoints.json").write_text("{}")
    with pytest.raises(RowSkipped, match="ambiguous keypoints"):
        keypoint_index(tmp_path).find("5_1")


def _run(*args: str) -> subprocess.CompletedProcess:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} missing; run '.venv/bin/pip install --no-deps -e .'")
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def _assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paint-shards: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def _no_shard_files(out: Path) -> bool:
    return not out.exists() or not [p for p in out.iterdir() if p.suffix in (".tar", ".partial")]


def test_console_script_imports_and_verifies(fixture, tmp_path):
    out = tmp_path / "shards"
    result = _run("fashiongen", "--h5", fixture["h5"], "--keypoints", fixture["keypoints"],
                  "--parsing", fixture["parsing"], "--out", out)
    assert result.returncode == 0, result.stderr
    assert "val: 3 products, 6 views" in result.stdout and "missing keypoints 1" in result.stdout
    checked = _run("verify", out)
    assert checked.returncode == 0 and "val: 1 shard(s), 3 products, 6 views" in checked.stdout


def test_bad_input_gives_one_line_and_writes_nothing(fixture, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    common = ["--keypoints", fixture["keypoints"], "--parsing", fixture["parsing"], "--out", out]
    _assert_one_line_error(_run("fashiongen", "--h5", tmp_path / "nope.h5", *common), "nope.h5", "--h5")

    no_images = tmp_path / "fashiongen_validation.h5"
    with h5py.File(no_images, "w") as h5:
        h5["input_productID"] = np.array([[1]], dtype=np.int32)
        h5["input_pose"] = np.array([[b"id_gridfs_1"]])
    _assert_one_line_error(_run("fashiongen", "--h5", no_images, *common), "input_image")

    _assert_one_line_error(_run("verify", f"{out}/train-{{000000..000003}}.tar"), "no shard matches")
    assert _no_shard_files(out)


def test_more_bad_input_in_process(fixture, tmp_path, capsys):
    """The same one-line contract through main() itself (no subprocess, to keep the suite fast)."""
    out = tmp_path / "out"
    common = ["--keypoints", str(fixture["keypoints"]), "--parsing", str(fixture["parsing"]), "--out", str(out)]

    def one_line(argv: list[str], *words: str) -> None:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("paint-shards: error: ") and all(w in err[0] for w in words)

    not_h5 = tmp_path / "fashiongen_train.h5"
    not_h5.write_text("not hdf5")
    one_line(["fashiongen", "--h5", str(not_h5), *common], "HDF5")
    unrelated = tmp_path / "unrelated_pose"
    unrelated.mkdir()
    (unrelated / "999_1_keypoints.json").write_text(_openpose_json(np.ones((18, 3))))
    one_line(["fashiongen", "--h5", str(fixture["h5"]), "--keypoints", str(unrelated), "--parsing",
              str(fixture["parsing"]), "--out", str(out)], "no product could be imported", "missing keypoints 10")
    one_line(["fashiongen", "--h5", str(fixture["h5"]), *common, "--per-shard", "0"], "--per-shard")
    one_line(["fashiongen", "--h5", str(fixture["h5"]), *common, "--split", "training"], "--split")
    undetermined = tmp_path / "fashiongen.h5"
    undetermined.write_bytes(fixture["h5"].read_bytes())
    one_line(["fashiongen", "--h5", str(undetermined), *common], "--split")
    one_line(["fashiongen", "--h5", str(fixture["h5"]), *common[:-1], str(fixture["h5"])], "is a file")
    assert not out.exists()  # a failed import leaves not even its folder behind

    assert main(["fashiongen", "--h5", str(fixture["h5"]), *common]) == 0
    before = sorted(p.name for p in out.iterdir())
    one_line(["fashiongen", "--h5", str(fixture["h5"]), *common], "already holds shards")
    assert sorted(p.name for p in out.iterdir()) == before == ["manifest.json", "val-000000.tar"]
