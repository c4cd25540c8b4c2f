"""The demo page in a real browser (Debian's chromium, driven by Selenium through /usr/bin/chromedriver),
served by closet_client.web in front of the session's real TorchServe.

Covers: a swap of the uploaded astronaut photo (the rendered result is read back pixel by pixel and equals
what the API returns for the same request), the API's errors in words (a file that is not a photo, a photo
with no person), a phone-size viewport, and the page server's upload limit (the API's own).
CLOSET_WEB_SCREENSHOTS=<dir> saves web.png and web-phone.png there (`make web-screenshots` -> docs/).
"""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
import requests
import skimage.data
from PIL import Image

import closet_client
from closet import config as closet_config
from closet_client import ApiError, ClosetClient, explain
from closet_dev import web_process

pytestmark = pytest.mark.serve
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Flags that work in this sandbox: no GPU, no network beyond the page, a fresh profile per session.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")
SWAP_WAIT_S = 180
# The overlays' opacity per mask level, read from the page's own script (not copied).
OVERLAY_ALPHA = float(re.search(r"const OVERLAY_ALPHA = ([0-9.]+);", (
    Path(closet_client.__file__).parent / "web" / "static" / "app.js").read_text()).group(1))
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
SHOTS = Path(os.environ["CLOSET_WEB_SCREENSHOTS"]) if os.environ.get("CLOSET_WEB_SCREENSHOTS") else None

# Pixels of both photos read back from the page: size, and a checksum that any changed byte moves.
READ_PIXELS = """
const img = document.getElementById(arguments[0]);
if (!img.complete || !img.naturalWidth) return null;
const c = document.createElement("canvas");
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext("2d");
ctx.drawImage(img, 0, 0);
const d = ctx.getImageData(0, 0, c.width, c.height).data;
let sum = 0, weighted = 0;
for (let i = 0, p = 0; i < d.length; i += 4, p++) {
  const v = d[i] + d[i + 1] + d[i + 2];
  sum += v; weighted = (weighted + v * (p % 9973 + 1)) % 2147483647;
}
return {w: c.width, h: c.height, sum: sum, weighted: weighted, shown: img.getBoundingClientRect().width};
"""
COUNT_CHANGED = """
const read = (id) => { const img = document.getElementById(id); const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight; const x = c.getContext("2d"); x.drawImage(img, 0, 0);
  return x.getImageData(0, 0, c.width, c.height).data; };
const a = read("before"), b = read("after");
let changed = 0;
for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) changed++;
return [changed, a.length / 4];
"""


def checksum(rgb: np.ndarray) -> dict:
    """READ_PIXELS' checksum of an RGB array, computed the same way."""
    v = rgb.reshape(-1, 3).astype(np.int64).sum(axis=1)
    weights = np.arange(v.size, dtype=np.int64) % 9973 + 1
    weighted = 0
    for chunk in range(0, v.size, 4096):  # modular sum in the page's order (no int64 overflow)
        weighted = (weighted + int((v[chunk:chunk + 4096] * weights[chunk:chunk + 4096]).sum())) % 2147483647
    return {"w": rgb.shape[1], "h": rgb.shape[0], "sum": int(v.sum()), "weighted": weighted}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def web(torchserve, tmp_path_factory):
    """The page's server (python -m closet_client.web, as `make serve` starts it) in front of TorchServe."""
    torchserve.require("closet")
    torchserve.require("translation")  # describe (the targets) comes from its checkpoint
    logs = tmp_path_factory.mktemp("web")
    url = web_process.start(logs, "127.0.0.1", free_port(), torchserve.inference_url)
    try:
        yield url.rstrip("/")
    finally:
        web_process.stop(logs)


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("Debian chromium + chromium-driver are not installed: run `make browser`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="closet-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(path)
    return path


def open_page(driver, url: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    WebDriverWait(driver, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#target option") and d.find_elements(By.CSS_SELECTOR, "#samples img"))
    return driver


def swap_and_wait(driver):
    """Click Swap and wait until either the result or an error is shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "swap").click()
    WebDriverWait(driver, SWAP_WAIT_S).until(
        lambda d: d.find_element(By.ID, "result").is_displayed() or d.find_element(By.ID, "error").is_displayed())


def save_full_page(driver, path: Path, width: int = 1280) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_swap_the_uploaded_astronaut(web, browser, torchserve, astronaut_png, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = open_page(browser, web)
    targets = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#target option")]
    target = targets[-1]  # not the server's default (the first), so the choice must travel
    Select(driver.find_element(By.ID, "target")).select_by_value(target)
    driver.find_element(By.ID, "seed").clear()
    driver.find_element(By.ID, "seed").send_keys("7")
    driver.find_element(By.ID, "photo").send_keys(str(astronaut_png))
    swap_and_wait(driver)
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text

    expected = ClosetClient(torchserve.inference_url).swap(astronaut_png.read_bytes(), target=target, seed=7,
                                                           preserve_color=True, format="png", details=True)
    after = driver.execute_script(READ_PIXELS, "after")
    assert after is not None and after["shown"] > 0, "the result image is not rendered"
    want = checksum(np.asarray(Image.open(io.BytesIO(expected.image)).convert("RGB")))
    assert {k: after[k] for k in want} == want, "the page shows another image than the API's result"
    before = driver.execute_script(READ_PIXELS, "before")
    assert {k: before[k] for k in want} == checksum(skimage.data.astronaut())
    changed, total = driver.execute_script(COUNT_CHANGED)
    assert 0.005 < changed / total < 0.9, f"{changed / total:.1%} of the pixels differ from the input"

    facts = {e.get_attribute("data-fact"): e.text for e in driver.find_elements(By.CSS_SELECTOR, "#facts dd")}
    assert facts["parser"] == expected.parser and facts["target"] == target and facts["style"] == "random, seed 7"
    stages = [r.find_element(By.CSS_SELECTOR, "td").text for r in driver.find_elements(By.CSS_SELECTOR, "#timings tr")]
    assert stages == [*expected.timings, "total"]

    driver.find_element(By.ID, "show-garment").click()
    tinted = driver.execute_script(
        "const c = document.getElementById('garment-overlay'); if (c.hidden) return -1;"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
    mask = np.asarray(Image.open(io.BytesIO(expected.garment_mask)))
    alpha = np.rint(mask * OVERLAY_ALPHA)  # as app.js tints it; the canvas rounds to 0..255
    assert tinted == int((alpha > 0).sum()) > 0, "the garment overlay does not show the API's garment mask"
    driver.find_element(By.ID, "show-garment").click()

    # The keypoints overlay: a dot on every keypoint the API calls visible (left on for the screenshot).
    assert facts["people swapped"] == str(len(expected.raw["people"])) == "1"
    h, w = mask.shape[:2]
    seen = [(x, y) for x, y, _, v in expected.raw["people"][0]["keypoints"] if v >= 0.5 and 0 <= x < w and 0 <= y < h]
    driver.find_element(By.ID, "show-pose").click()
    painted = driver.execute_script(
        "const c = document.getElementById('pose-overlay'); if (c.hidden) return null;"
        "const ctx = c.getContext('2d');"
        "return arguments[0].map(p => ctx.getImageData(Math.floor(p[0]), Math.floor(p[1]), 1, 1).data[3]);", seen)
    assert len(seen) >= 8 and painted is not None and all(a > 0 for a in painted), (seen, painted)

    # Every request the page made went to its own server: TorchServe's ports never reach the browser.
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(web + "/") for u in urls), urls
    if SHOTS:
        save_full_page(driver, SHOTS / "web.png")


def test_errors_show_the_apis_detail_in_words(web, browser, torchserve, tmp_path):
    from selenium.webdriver.common.by import By

    api = ClosetClient(torchserve.inference_url, retries=0)
    notes = tmp_path / "notes.txt"
    notes.write_text("a shopping list, not a photo\n")
    driver = open_page(browser, web)
    driver.find_element(By.ID, "photo").send_keys(str(notes))
    swap_and_wait(driver)
    with pytest.raises(ApiError) as bad:
        api.swap(notes.read_bytes(), target=driver.find_element(By.ID, "target").get_attribute("value"), seed=0)
    assert driver.find_element(By.ID, "error").is_displayed()
    assert not driver.find_element(By.ID, "result").is_displayed()
    assert driver.find_element(By.ID, "error-message").text == explain(bad.value)
    assert driver.find_element(By.ID, "error-reason").text == "bad_image"

    # A photo without a person: scikit-image's coffee cup.
    cup = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()).save(cup)
    driver.find_element(By.ID, "photo").send_keys(str(cup))
    swap_and_wait(driver)
    with pytest.raises(ApiError) as nobody:
        api.swap(cup.read_bytes(), seed=0, target=driver.find_element(By.ID, "target").get_attribute("value"))
    message = driver.find_element(By.ID, "error-message").text
    assert message == explain(nobody.value) and message.startswith("No person was found in the photo.")
    assert driver.find_element(By.ID, "error-reason").text == nobody.value.reason == "no_person"


def test_phone_size_viewport(web, browser):
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        driver = open_page(browser, web)
        no_scroll = "return [document.documentElement.scrollWidth, window.innerWidth]"
        scroll_width, inner = driver.execute_script(no_scroll)
        assert inner == PHONE["width"] and scroll_width <= inner, "the page scrolls sideways on a phone"
        controls = ["photo", "target", "seed", "reference", "swap"]
        for el in [*(driver.find_element(By.ID, c) for c in controls),
                   *driver.find_elements(By.CSS_SELECTOR, "#samples button, #options [name]")]:
            rect = el.rect
            assert el.is_displayed() and rect["x"] >= 0 and rect["x"] + rect["width"] <= inner, (el.get_attribute("id"), rect)
        driver.find_element(By.CSS_SELECTOR, "#samples button[data-sample=astronaut]").click()
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "swap").is_enabled())
        swap_and_wait(driver)
        assert driver.find_element(By.ID, "result").is_displayed(), driver.find_element(By.ID, "error").text
        scroll_width, inner = driver.execute_script(no_scroll)
        assert scroll_width <= inner
        after = driver.execute_script(READ_PIXELS, "after")
        assert 0 < after["shown"] <= inner
        # The before/after slider moves the split.
        driver.execute_script("const s = document.getElementById('slider'); s.value = 20;"
                              "s.dispatchEvent(new Event('input'));")
        assert driver.execute_script("return getComputedStyle(document.getElementById('after')).clipPath") == \
            "inset(0px 0px 0px 20%)"
        driver.execute_script("const s = document.getElementById('slider'); s.value = 50;"
                              "s.dispatchEvent(new Event('input'));"
                              "document.getElementById('result').scrollIntoView();")
        driver.find_element(By.ID, "show-garment").click()  # the screenshot shows the garment mask's tint
        assert driver.find_element(By.ID, "garment-overlay").is_displayed()
        if SHOTS:
            driver.save_screenshot(str(SHOTS / "web-phone.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_page_refuses_what_the_api_refuses(web, torchserve):
    limit = closet_config.load().server.max_request_size
    assert requests.get(f"{web}/api/config", timeout=60).json()["max_request_size"] == limit
    body = b"\0" * (limit + 1)
    page = requests.post(f"{web}/api/swap", data=body, timeout=120,
                         headers={"Content-Type": "multipart/form-data; boundary=x"})
    api = requests.post(torchserve.require("closet"), data=body, timeout=120,
                        headers={"Content-Type": "application/octet-stream"})
    assert page.status_code == api.status_code == 413
    assert page.json()["reason"] == ApiError.from_response(api).reason == "too_large"
