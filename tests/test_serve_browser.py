"""``dlzero serve`` in a real browser: headless Chromium from Debian's packages, driven by
Selenium through Debian's chromedriver. Nothing is downloaded: both binaries are named
explicitly and Selenium Manager is told to stay offline.

Skipped, saying why, without selenium (``pip install -e ".[dev]"``) or without the browser
(``apt-get install chromium chromium-driver``; the paths can be given with ``DLZERO_CHROMIUM``
and ``DLZERO_CHROMEDRIVER``). ``DLZERO_SERVE_SCREENSHOT=path.png`` keeps the screenshot of the
draw tab (``docs/serve.png`` was taken so), ``DLZERO_BACKPROP_SCREENSHOT=path.png`` the
backprop tab's (``docs/backprop.png``), ``DLZERO_BACKPROP_PHONE_SCREENSHOT=path.png`` the same
tab 390 pixels wide (``docs/screenshots/backprop-tab-phone.png``).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest

pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the dev extra)")
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytest.importorskip("PIL", reason="reading the drawing needs Pillow (dlzero[cli])")

from browser import CHROMEDRIVER, CHROMIUM, NO_BROWSER, chromium

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason=NO_BROWSER)


@pytest.fixture(scope="module")
def browser():
    with chromium(1280, 900) as driver:
        yield driver


def _text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def _open(driver, server):
    driver.get(server.url)
    WebDriverWait(driver, 20).until(lambda d: "network:" in _text(d, "model-info"))


def draw(driver, strokes, steps=8):
    """Draw ``strokes`` (lists of (x, y) points in the 280x280 canvas) with the mouse, then
    wait for the page's prediction and return it (the digit shown on the page)."""
    driver.find_element(By.ID, "clear").click()
    stroke(driver, driver.find_element(By.ID, "pad"), strokes, steps)
    WebDriverWait(driver, 20).until(
        lambda d: (
            d.find_element(By.ID, "prediction").get_attribute("data-busy") == "false"
            and _text(d, "prediction").isdigit()
        )
    )
    return _text(driver, "prediction")


def stroke(driver, pad, strokes, steps=8):
    """Draw ``strokes`` on the canvas ``pad`` with mouse events, as a hand draws."""
    actions = ActionChains(driver, duration=5)
    for points in strokes:
        x, y = points[0]
        # Offsets from the canvas's centre (Selenium 4); then small moves, as a hand draws.
        actions.move_to_element_with_offset(pad, x - 140, y - 140).click_and_hold()
        for tx, ty in points[1:]:
            sx, sy = x, y
            for k in range(1, steps + 1):
                nx, ny = round(sx + (tx - sx) * k / steps), round(sy + (ty - sy) * k / steps)
                actions.move_by_offset(nx - x, ny - y)
                x, y = nx, ny
        actions.release()
    actions.perform()


ONE = [[(150, 40), (135, 240)]]
SEVEN = [[(80, 50), (200, 50), (120, 240)]]
INKED = "return Array.from(arguments[0].getContext('2d').getImageData(0, 0, 28, 28).data)"


@pytest.fixture
def page(browser, start_server, digit_model):
    network, path = digit_model
    server = start_server(copy.deepcopy(network), source=path.name)
    _open(browser, server)
    return browser


def test_drawing_a_1_and_a_7_shows_them_recognised(page, tmp_path):
    assert draw(page, ONE) == "1"
    assert draw(page, SEVEN) == "7"
    # What came back is drawn: the prepared 28x28 input, ten bars (the top one marked), the
    # hidden units and the saliency map.
    pixels = page.execute_script(INKED, page.find_element(By.ID, "input28"))
    assert sum(pixels[0::4]) > 20 * 255  # white ink arrived in the 28x28 picture
    bars = page.find_elements(By.CSS_SELECTOR, "#bars .bar")
    assert len(bars) == 10 and "top" in bars[7].get_attribute("class")
    assert "Relu1: 50 units" in _text(page, "hidden")
    saliency = page.execute_script(INKED, page.find_element(By.ID, "saliency"))
    strongest = sorted([max(saliency[0::4]), max(saliency[2::4])])  # red, blue
    assert strongest[1] > 240 and strongest[0] > 60  # both signs, the larger at full colour
    shot = Path(os.environ.get("DLZERO_SERVE_SCREENSHOT") or tmp_path / "serve.png")
    assert page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    page.find_element(By.ID, "clear").click()
    assert _text(page, "prediction") == "–"


def test_a_training_run_started_from_the_page_reaches_its_end(page):
    page.find_element(By.ID, "tab-train").click()
    iters = page.find_element(By.NAME, "iters")
    iters.clear()
    iters.send_keys("300")
    page.find_element(By.ID, "train-start").click()
    WebDriverWait(page, 40).until(
        lambda d: (
            d.find_element(By.ID, "train-status").get_attribute("data-state")
            not in ("idle", "running")
        )
    )
    status = page.find_element(By.ID, "train-status")
    assert status.get_attribute("data-state") == "done", status.text
    assert "test accuracy" in status.text
    # The loss curve was drawn (its red pixels), and the draw tab now reads digits with the
    # network just trained.
    red = page.execute_script(
        "const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        ".data; let n = 0; for (let i = 0; i < d.length; i += 4) "
        "if (d[i] > 180 && d[i + 1] < 90 && d[i + 3] > 200) n++; return n;",
        page.find_element(By.ID, "loss-plot"),
    )
    assert red > 100
    WebDriverWait(page, 10).until(lambda d: "trained on the page" in _text(d, "model-info"))
    page.find_element(By.ID, "tab-draw").click()
    assert draw(page, ONE) == "1"


def _images(driver):
    return len(driver.find_elements(By.CSS_SELECTOR, "#bp-graph image"))


def _wait_traced(driver, words):
    WebDriverWait(driver, 20).until(
        lambda d: (
            d.find_element(By.ID, "bp-status").get_attribute("data-busy") == "false"
            and words in _text(d, "bp-summary")
        )
    )
    return _text(driver, "bp-summary")


def test_the_backprop_tab_steps_through_the_graph_learns_and_resets(page, tmp_path):
    page.find_element(By.ID, "tab-backprop").click()
    stroke(page, page.find_element(By.ID, "bp-pad"), SEVEN)
    # The label defaults to the prediction.
    summary = _wait_traced(page, "label t = 7")
    assert summary.startswith("prediction 7 (")
    checked = page.find_element(By.CSS_SELECTOR, "#bp-labels [aria-checked='true']")
    assert checked.text == "7"
    nodes = page.find_elements(By.CSS_SELECTOR, "#bp-graph g.node")
    names = [n.get_attribute("data-name") for n in nodes]
    assert names == ["Affine1", "Relu1", "Affine2", "SoftmaxWithLoss"]
    shapes = _text(page, "bp-graph")
    assert all(s in shapes for s in ("1×784", "1×50", "1×10", "scalar"))
    # Everything shown: four values forward, four gradients back, four parameter gradients.
    assert _images(page) == 12 and _text(page, "bp-step-text") == "all 8 steps shown"
    assert len(page.find_elements(By.CSS_SELECTOR, "#bp-dw canvas")) == 8

    # Step through: the input alone, then forward node by node, then backward.
    page.find_element(By.ID, "bp-first").click()
    assert _images(page) == 1 and "step 0 of 8" in _text(page, "bp-step-text")
    step = page.find_element(By.ID, "bp-step")
    for _ in range(2):
        step.click()
    assert _text(page, "bp-step-text") == "forward 2 of 4: Relu1"
    assert "units pass" in _text(page, "bp-explain") and _images(page) == 3
    current = page.find_element(By.CSS_SELECTOR, "#bp-graph g.node.current")
    assert current.get_attribute("data-name") == "Relu1"
    for _ in range(3):
        step.click()
    assert _text(page, "bp-step-text") == "backward 1 of 4: SoftmaxWithLoss"
    assert "y − t" in _text(page, "bp-explain") and _images(page) == 5
    step.click()  # Affine2's backward: its dx, dW2 and db2
    assert _text(page, "bp-step-text") == "backward 2 of 4: Affine2"
    assert "dW2: 50×10" in _text(page, "bp-explain") and _images(page) == 8
    page.find_element(By.ID, "bp-back").click()
    assert _images(page) == 5
    page.find_element(By.ID, "bp-all").click()
    assert _images(page) == 12

    # Another label: a larger loss.
    loss_7 = float(summary.rsplit("loss ", 1)[1])
    page.find_element(By.CSS_SELECTOR, "#bp-labels [data-digit='3']").click()
    summary = _wait_traced(page, "label t = 3")
    loss_3 = float(summary.rsplit("loss ", 1)[1])
    assert loss_3 > loss_7

    # Learn this digit as a 3 (a smaller step than the default), then check, then reset.
    lr = page.find_element(By.ID, "bp-lr")
    lr.clear()
    lr.send_keys("0.01")
    page.find_element(By.ID, "bp-learn").click()
    WebDriverWait(page, 20).until(
        lambda d: d.find_element(By.ID, "bp-learn-status").get_attribute("data-steps") == "1"
    )
    result = _text(page, "bp-learn-result")
    before, after = (float(p) for p in re.findall(r"([\d.]+)%", result))
    assert result.startswith("p(3):") and after > before
    summary = _wait_traced(page, "the copy after 1 learning step")
    assert float(summary.split("loss ")[1].split(";")[0]) < loss_3
    page.find_element(By.ID, "bp-check").click()
    WebDriverWait(page, 20).until(lambda d: "times longer" in _text(d, "bp-check-times"))
    rows = page.find_elements(By.CSS_SELECTOR, "#bp-check-table tr")
    assert len(rows) == 5 and rows[1].text.startswith("W1[")

    page.execute_script("window.scrollTo(0, 0)")
    page.set_window_size(1280, 1600)  # the whole tab in the picture
    try:
        shot = Path(os.environ.get("DLZERO_BACKPROP_SCREENSHOT") or tmp_path / "backprop.png")
        assert page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        page.set_window_size(1280, 900)

    page.find_element(By.ID, "bp-reset").click()
    WebDriverWait(page, 20).until(
        lambda d: d.find_element(By.ID, "bp-learn-status").get_attribute("data-steps") == "0"
    )
    summary = _wait_traced(page, "label t = 3")
    assert "copy" not in summary and float(summary.rsplit("loss ", 1)[1]) == loss_3


def test_the_backprop_tab_fits_a_phones_screen(page, tmp_path):
    """390 CSS pixels wide (a phone): nothing wider than the screen but the graph, which
    scrolls inside its own box; the pad, the labels and the step buttons usable."""
    page.set_window_size(390, 844)
    try:
        page.find_element(By.ID, "tab-backprop").click()
        stroke(page, page.find_element(By.ID, "bp-pad"), SEVEN)
        _wait_traced(page, "label t = 7")
        width = page.execute_script("return document.documentElement.clientWidth")
        assert page.execute_script("return document.documentElement.scrollWidth") <= width
        for element in ("bp-pad", "bp-labels", "bp-step", "bp-learn", "bp-check"):
            box = page.find_element(By.ID, element).rect
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (element, box)
        assert width <= 400, width  # the window really is a phone's width
        page.find_element(By.ID, "bp-first").click()  # the buttons still work at this size
        page.find_element(By.ID, "bp-step").click()
        assert _text(page, "bp-step-text") == "forward 1 of 4: Affine1"
        shot = Path(os.environ.get("DLZERO_BACKPROP_PHONE_SCREENSHOT") or tmp_path / "phone.png")
        assert page.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        page.set_window_size(1280, 900)
