"""The studio page in a real browser: headless Chromium (Debian's chromium + chromium-driver, which the setup
installs) driven by Selenium against the real Serve app on tiny checkpoints. Two different textures are uploaded,
Generate is clicked, the variants × views grid fills, the zip holds every image, a changed texture changes the
designs, and a refused request shows its one-line message on the page. A screenshot is saved; with
PAINT_STUDIO_SCREENSHOT=docs/studio.png it also goes there (the README's picture, made with
PAINT_STUDIO_CHECKPOINTS=runs/demo after `make demo`)."""
from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.studio_server import running_studio

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, DRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or \
    "/usr/bin/chromedriver"
VARIANTS, VIEWS = 2, 3


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, DRIVER) if not Path(p).exists()]
    assert not missing, f"{missing} missing: `make setup` installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _texture(folder: Path, name: str, array: np.ndarray) -> str:
    path = folder / name
    Image.fromarray(array).save(path)
    return str(path)


def _set(driver, element_id: str, value) -> None:
    driver.execute_script("document.getElementById(arguments[0]).value = arguments[1]", element_id, str(value))


def _generate_and_wait(driver) -> list[str]:
    """Click Generate, wait until the job is done; the grid's image URLs, row by row."""
    driver.find_element(By.ID, "generate").click()
    WebDriverWait(driver, 240).until(lambda d: d.find_element(By.ID, "downloads").is_displayed()
                                     or d.find_element(By.ID, "error").is_displayed())
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text
    return [img.get_attribute("src") for img in driver.find_elements(By.CSS_SELECTOR, "#grid img.result")]


@pytest.fixture(scope="module")
def served(request, tmp_path_factory):
    """The suite's studio on tiny checkpoints; PAINT_STUDIO_CHECKPOINTS=runs/demo serves other checkpoints instead
    (how the README's screenshot shows the demo's designs)."""
    chosen = os.environ.get("PAINT_STUDIO_CHECKPOINTS")
    if not chosen:
        yield request.getfixturevalue("studio")
        return
    root = tmp_path_factory.mktemp("studio-chosen")
    with running_studio(Path(chosen).resolve(), root / "out", root / "studio.log") as url:
        yield url, root / "out"


def test_designer_uploads_textures_generates_and_downloads(served, browser, tmp_path):
    url, _ = served
    rng = np.random.default_rng(11)
    stripes = np.zeros((90, 120, 3), np.uint8)
    stripes[::6] = [250, 220, 30]
    first = {"top": _texture(tmp_path, "red.png", np.tile(np.array([210, 30, 40], np.uint8), (64, 80, 1))),
             "bottom": _texture(tmp_path, "stripes.jpg", stripes)}
    green = _texture(tmp_path, "green.webp", np.clip(rng.normal((40, 190, 60), 12, (70, 70, 3)), 0, 255)
                     .astype(np.uint8))

    browser.get(url + "/")
    WebDriverWait(browser, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#pose-preset option")) > 0)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#skeleton circle.joint")) >= 14
    for region, path in first.items():
        browser.find_element(By.CSS_SELECTOR, f"input[data-region={region}]").send_keys(path)
    WebDriverWait(browser, 30).until(lambda d: "KiB" in d.find_element(By.CSS_SELECTOR, ".region .note").text)
    _set(browser, "variants", VARIANTS)
    _set(browser, "views", VIEWS)
    _set(browser, "seed", 3)

    sources = _generate_and_wait(browser)
    assert len(sources) == VARIANTS * VIEWS
    screenshot = tmp_path / "studio.png"
    browser.set_window_size(1400, 1280)      # the whole page: pose, both textures, options, grid
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(screenshot))
    assert Image.open(screenshot).size[0] >= 1000
    if os.environ.get("PAINT_STUDIO_SCREENSHOT"):
        shutil.copy(screenshot, ROOT / os.environ["PAINT_STUDIO_SCREENSHOT"])

    archive = zipfile.ZipFile(io.BytesIO(requests.get(browser.find_element(By.ID, "zip").get_attribute("href"),
                                                      timeout=30).content))
    shown = {src.rsplit("/", 1)[1] for src in sources}
    assert shown <= set(archive.namelist()) and "design.json" in archive.namelist() and "sheet.png" in archive.namelist()
    first_images = [np.asarray(Image.open(io.BytesIO(requests.get(src, timeout=30).content))) for src in sources]

    browser.find_element(By.CSS_SELECTOR, "input[data-region=top]").send_keys(green)   # same seed, other top
    WebDriverWait(browser, 30).until(lambda d: "green.webp" in d.find_element(By.CSS_SELECTOR, ".region .note").text)
    again = _generate_and_wait(browser)
    assert len(again) == VARIANTS * VIEWS and set(again).isdisjoint(sources)
    changed = [np.abs(np.asarray(Image.open(io.BytesIO(requests.get(src, timeout=30).content)), np.float32)
                      - old).mean() for src, old in zip(again, first_images)]
    assert min(changed) > 1.0, changed      # every view of every variant follows the new top

    img = browser.find_elements(By.CSS_SELECTOR, "#grid img.result")[0]
    img.click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "lightbox").is_displayed())
    assert "seed 3" in browser.find_element(By.ID, "lightbox-title").text
    shown = browser.find_elements(By.CSS_SELECTOR, "#lightbox-images img")
    assert len(shown) >= VIEWS + 1 and any("patch" in img.get_attribute("src") for img in shown)   # views, patches
    browser.find_element(By.ID, "lightbox-close").click()

    _set(browser, "variants", 16)
    _set(browser, "views", 4)
    browser.find_element(By.ID, "generate").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "variants × views = 16 × 4 = 64 images" in browser.find_element(By.ID, "error").text
