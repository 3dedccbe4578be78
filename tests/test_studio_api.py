"""The studio's JSON API against the real Serve application (`paint-studio` in a subprocess, local Ray) on tiny
trained checkpoints: every kind of bad input gets its 4xx and one clear message, the server keeps serving, a good
design is written whole (images, sheet, zip with design.json) and reproduces from its seed, Serve batches variants,
and no name from a request reaches the file system."""
from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pytest
import requests
from PIL import Image

from studio.jobs import JOB_ID
from tests.studio_server import huge_png, png_base64, wait_done

MiB = 1 << 20
RNG = np.random.default_rng(5)
RED = png_base64(np.tile(np.array([200, 30, 40], np.uint8), (48, 64, 1)))
NOISE = png_base64(RNG.integers(0, 256, (40, 40, 3), np.uint8))


def good(**changes) -> dict:
    return {"pose": "standing", "textures": {"top": RED, "bottom": NOISE}, "variants": 2, "views": 3, "seed": 7,
            **changes}


def post(url: str, body) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{url}/api/designs", data=data, headers={"Content-Type": "application/json"}, timeout=120)


BAD = {
    "not JSON": (b"{pose: standing", 400, "not JSON"),
    "missing textures": ({"pose": "standing"}, 422, "textures: Field required"),
    "unknown field": (good(colour="red"), 422, "colour: Extra inputs are not permitted"),
    "unknown region": (good(textures={"hat": RED}), 422, "unknown garment region 'hat'"),
    "no texture": (good(textures={}), 422, "at least one texture"),
    "not base64": (good(textures={"top": "not base64 at all!"}), 400, "texture for 'top' is not base64"),
    "not an image": (good(textures={"top": base64.b64encode(b"hello, not a picture").decode()}), 415,
                     "texture for 'top' cannot be read as an image"),
    "50 megapixels": (good(textures={"top": base64.b64encode(huge_png(10_000, 5_000)).decode()}), 413,
                      "10000x5000 = 50 megapixels; at most 40 megapixels"),
    "gigapixel png": (good(textures={"top": base64.b64encode(huge_png(40_000, 40_000)).decode()}), 413,
                      "decodes to more than 179 megapixels"),
    "texture over 8 MiB": (good(textures={"top": base64.b64encode(b"\0" * (9 * MiB)).decode()}), 413,
                           "at most 8 MiB per texture"),
    "request over 48 MiB": (b" " * (49 * MiB), 413, "at most 48 MiB"),
    "unknown preset": (good(pose="flying"), 422, "unknown pose preset 'flying'"),
    "pose without people": (good(pose={"people": []}), 422, "pose"),
    "pose with two joints": (good(pose={"0": [10, 10], "1": [12, 30]}), 422, "shows 2 joints"),
    "pose outside its canvas": (good(pose={str(j): [900, 900] for j in range(18)}), 422, "outside"),
    "too many images": (good(variants=16, views=4), 413, "variants × views = 16 × 4 = 64 images; at most 48"),
    "too many variants": (good(variants=17, views=1), 413, "at most 16 per request"),
    "zero variants": (good(variants=0), 422, "variants must be ≥ 1"),
    "more views than the pose": (good(views=9, variants=1), 422, "the pose has 4 views"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_its_4xx_and_one_line(studio, case):
    url, out = studio
    before = sorted(p.name for p in out.iterdir()) if out.exists() else []
    body, status, message = BAD[case]
    response = post(url, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else []) == before   # no job was created


def test_a_good_design_after_bad_inputs_is_whole_and_reproducible(studio):
    url, out = studio
    assert post(url, b"[1, 2").status_code == 400
    first, again = post(url, good()), post(url, good())
    assert first.status_code == again.status_code == 202
    done = wait_done(url, first.json()["id"])
    assert done["state"] == "done" and done["done"] == done["total"] == 2, done
    assert [len(v["images"]) for v in done["variants"]] == [3, 3]
    zipped = requests.get(url + done["urls"][done["zip"]], timeout=30)
    assert zipped.headers["content-type"] == "application/zip"
    names = set(zipfile.ZipFile(io.BytesIO(zipped.content)).namelist())
    record = json.loads(zipfile.ZipFile(io.BytesIO(zipped.content)).read("design.json"))
    assert names == set(record["files"]) and record["tool"] == "paint-studio" and record["seed"] == 7
    for variant in done["variants"]:
        for file in variant["images"].values():
            assert file in names
            image = Image.open(io.BytesIO(requests.get(url + done["urls"][file], timeout=30).content))
            assert image.size == (32, 32)
    repeat = wait_done(url, again.json()["id"])
    for variant, twin in zip(done["variants"], repeat["variants"]):
        assert variant["code_seed"] == twin["code_seed"]
        for file in variant["images"].values():   # equal up to rounding: a batch's sums may run in another order
            a, b = (np.asarray(Image.open(io.BytesIO(requests.get(url + s["urls"][file]).content)), np.int16)
                    for s in (done, repeat))
            assert (np.abs(a - b) <= 2).mean() > 0.99 and np.abs(a - b).mean() < 0.5


def test_variants_are_batched_by_serve(studio):
    url, _ = studio
    jobs = [post(url, good(seed=seed, variants=4, views=2)).json()["id"] for seed in (1, 2)]
    for job in jobs:
        assert wait_done(url, job)["state"] == "done"
    batching = requests.get(f"{url}/api/info", timeout=30).json()["batching"]
    assert batching["max_batch_size"] == 8 and 2 <= batching["largest"] <= 8, batching


def test_names_from_requests_never_become_paths(studio):
    url, out = studio
    job = post(url, good(variants=1, views=1)).json()["id"]
    wait_done(url, job)
    for path in (f"/api/designs/{job}/files/status.json", f"/api/designs/{job}/files/..%2Fstatus.json",
                 f"/api/designs/{job}/files/live%2F..%2F..%2F{job}%2Fstatus.json", "/api/designs/..%2F..",
                 "/api/designs/" + "0" * 32, "/static/..%2Fserve_app.py", "/static/index.html"):
        response = requests.get(url + path, timeout=30)
        assert response.status_code == 404, path
    assert all(JOB_ID.fullmatch(p.name) for p in out.iterdir())     # only job folders, named by the studio


def test_page_schema_and_docs_come_from_the_app_alone(studio):
    url, _ = studio
    page = requests.get(url + "/", timeout=30).text
    assert "/static/studio.js" in page and "http://" not in page and "https://" not in page
    assert "function generate" in requests.get(url + "/static/studio.js", timeout=30).text
    schema = requests.get(url + "/openapi.json", timeout=30).json()
    body = schema["paths"]["/api/designs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"pose", "textures", "variants", "views", "seed"} <= set(body["properties"])
    docs = requests.get(url + "/docs", timeout=30).text
    assert "/docs/assets/swagger-ui-bundle.js" in docs and "cdn" not in docs
    assert requests.get(url + "/docs/assets/swagger-ui-bundle.js", timeout=30).status_code == 200
    info = requests.get(url + "/api/info", timeout=30).json()
    assert info["resolution"] == 32 and info["regions"] == ["top", "bottom"] and "standing" in info["poses"]
