"""The companion website: ``mkdocs build --strict`` succeeds (a broken link, a docstring reference
that does not resolve or a notebook cell that fails would each fail it), every page is there,
and in real headless Chromium the pages render from the file system, the chapter-5 page shows
its figure, search finds ``SoftmaxWithLoss``, the console stays free of errors and no request
leaves the machine.

The site is built once for the module (30-55 s on 2 cores, most of it running the seven
notebooks in quick mode), into a temporary folder, from a temporary working directory so that
mkdocs-jupyter's cache starts empty. Skipped, saying why, without the docs extra (``pip install
-e ".[docs]"``, which ``dev`` includes); the browser tests also without selenium or Debian's
``chromium`` and ``chromium-driver`` (as tests/test_serve_browser.py).
``DLZERO_SITE_SCREENSHOTS=folder`` keeps screenshots of the home page and the chapter-5 page.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from browser import chromium

for module in ("mkdocs", "material", "mkdocs_jupyter", "mkdocstrings_handlers.python"):
    pytest.importorskip(
        module, reason='building the site needs the docs extra: pip install ".[docs]"'
    )

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["ch03", "ch04", "ch05", "ch05_notes", "ch06", "ch07", "ch08"]
GUIDES = ["training", "book", "serve", "onnx", "sklearn", "dask", "architecture", "design"]
API = ["functions", "gradient", "layers", "networks", "convnets", "optimizers", "training"]
API += ["datasets", "files"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built by ``mkdocs build --strict`` as the README says: its folder."""
    work = tmp_path_factory.mktemp("site-build")
    env = dict(os.environ)
    # (The hook runs the notebooks on this checkout's src/, as mkdocstrings reads it.)
    env.update(
        DLZERO_QUICK="1",
        # Jupyter's connection files and IPython's profile here, not in a home directory.
        JUPYTER_RUNTIME_DIR=str(work / "jupyter-runtime"),
        IPYTHONDIR=str(work / "ipython"),
        NO_MKDOCS_2_WARNING="1",  # Material's banner about MkDocs 2.0 (the extra pins 1.x)
    )
    out = work / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    command += ["-f", str(ROOT / "mkdocs.yml"), "-d", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    log = done.stdout + done.stderr
    # What --strict counted first (it may be far up a log of notebook runs), then the end.
    counted = "\n".join(line for line in log.splitlines() if re.match(r"(WARNING|ERROR) +-", line))
    assert done.returncode == 0, (
        f"mkdocs build --strict failed ({seconds:.0f} s):\n{counted}\n...\n{log[-4000:]}"
    )
    print(f"\nmkdocs build --strict: {seconds:.1f} s")
    return out


def test_every_page_is_built(site):
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    expected = {"index.html", "chapters/index.html", "benchmarks.html", "changelog.html"}
    expected |= {f"chapters/{name}.html" for name in CHAPTERS}
    expected |= {f"{name}.html" for name in GUIDES}
    expected |= {"api/index.html"} | {f"api/{name}.html" for name in API}
    assert expected <= pages, sorted(expected - pages)
    # The notebooks themselves sit beside their pages, stored without outputs, to download.
    for name in CHAPTERS:
        assert (site / "chapters" / f"{name}.ipynb").read_bytes() == (
            ROOT / "notebooks" / f"{name}.ipynb"
        ).read_bytes()


class _Resources(HTMLParser):
    """What a page loads by itself (scripts, styles, images, frames): not the links to follow."""

    def __init__(self):
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed") and attrs.get(
            "src"
        ):
            self.loaded.append(attrs["src"])
        if tag == "link" and attrs.get("href") and attrs.get("rel") != "canonical":
            self.loaded.append(attrs["href"])


def test_no_page_loads_anything_from_elsewhere(site):
    for page in site.rglob("*.html"):
        parser = _Resources()
        parser.feed(page.read_text(encoding="utf-8"))
        remote = [u for u in parser.loaded if re.match(r"^(https?:)?//", u)]
        assert not remote, f"{page.relative_to(site)} loads {remote}"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis" not in index and "api.github.com" not in index


def test_chapter_pages_show_their_output_and_figures(site):
    for name in CHAPTERS:
        page = (site / "chapters" / f"{name}.html").read_text(encoding="utf-8")
        assert 'src="data:image/png;base64,' in page, f"{name}: no figure on the page"
        assert "in quick mode (DLZERO_QUICK=1)" in page  # the note says how it was run
        assert "Traceback" not in page
    ch05 = (site / "chapters" / "ch05.html").read_text(encoding="utf-8")
    assert "price 220" in ch05  # the apple example's printed output


def _article(page: Path) -> str:
    """The page's own content, without the navigation around it."""
    return re.search(r"<article.*?</article>", page.read_text(encoding="utf-8"), re.S).group(0)


def test_links_between_pages_are_rewritten_and_roles_linked(site):
    assert 'src="accuracy.png"' in _article(site / "index.html")  # docs/accuracy.png in README
    design = _article(site / "design.html")  # README's links to docs/book.md, architecture.md
    assert 'href="book.html"' in design and 'href="architecture.html"' in design
    assert 'href="docs/' not in design
    architecture = _article(site / "architecture.html")
    assert 'href="benchmarks.html"' in architecture  # ../BENCHMARKS.md in the repository
    assert 'href="ch05.html"' in _article(site / "chapters" / "index.html")
    # The docstrings' Sphinx roles (:class:`History`) are linked code, not ":class:" text.
    training = (site / "api" / "training.html").read_text(encoding="utf-8")
    prose = re.sub(r'<details class="mkdocstrings-source">.*?</details>', "", training, flags=re.S)
    assert ":class:" not in prose and ":func:" not in prose
    assert re.search(r'<a class="autorefs autorefs-internal"[^>]*href="#dlzero\.training\.', prose)


# --- the hook's rewriting, alone -------------------------------------------------------------


@pytest.fixture(scope="module")
def hook():
    spec = importlib.util.spec_from_file_location("dlzero_site_hook", ROOT / "docs/hooks/site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_are_rewritten_from_the_repository_to_the_site(hook):
    text = "[b](docs/book.md#x) ![a](docs/a.png) [n](notebooks/ch05.ipynb) [w](https://e.org/x.md)"
    assert hook.rewrite_links(text, "README.md", "chapters/index.md") == (
        "[b](../book.md#x) ![a](../a.png) [n](ch05.ipynb) [w](https://e.org/x.md)"
    )
    assert hook.rewrite_links(
        "see [it](../BENCHMARKS.md)", "docs/architecture.md", "architecture.md"
    ) == ("see [it](benchmarks.md)")
    # Inside a fenced block nothing changes; a file on no page is left for --strict to report.
    fenced = "```\n[b](docs/book.md)\n```\n[s](src/dlzero/x.py)"
    assert hook.rewrite_links(fenced, "README.md", "index.md") == fenced


def test_every_readme_section_lands_on_a_page(hook):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    _, intro, sections = hook.readme_sections(readme)
    pages = hook.readme_pages(readme)
    assert intro in pages["index.md"]
    for name, body in sections.items():
        if name not in hook.COVERED:
            assert sum(body[-60:] in text for text in pages.values()) == 1, name
    # A section named on no page goes on the home page.
    extra = hook.readme_pages(readme + "\n## Something new\n\nText.\n")
    assert "## Something new\n\nText." in extra["index.md"]


# --- in the browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    # The console, and every request the pages make (Chrome's performance log).
    with chromium(1280, 1000, {"browser": "ALL", "performance": "ALL"}) as driver:
        yield driver


def _open(driver, site: Path, page: str):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # forget what earlier pages logged
    driver.get_log("performance")
    driver.get((site / page).as_uri())
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _check_quiet_and_local(driver):
    """No console errors, and every request stayed on the machine (file:, data:, blob:)."""
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    assert requests, "the performance log saw no request at all"
    away = [u for u in requests if not re.match(r"^(file|data|blob|about|chrome):", u)]
    assert not away, f"requests off the machine: {away}"


def _screenshot(driver, name: str):
    folder = os.environ.get("DLZERO_SITE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def _images_shown(driver, selector: str) -> int:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".filter(img => img.complete && img.naturalWidth > 0).length",
        selector,
    )


def test_home_page_renders_with_its_figure_and_navigation(site, browser):
    from selenium.webdriver.common.by import By

    _open(browser, site, "index.html")
    assert "dlzero" in browser.title
    tabs = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".md-tabs__link")]
    for tab in ("Chapters", "Guides", "API reference", "Benchmarks", "Changelog"):
        assert any(tab.lower() in t.lower() for t in tabs), (tab, tabs)
    assert _images_shown(browser, "article img[src='accuracy.png']") == 1
    # Material's own code copy button on the README's commands.
    assert browser.find_elements(
        By.CSS_SELECTOR, "pre button[data-md-type='copy'], button.md-clipboard"
    )
    _screenshot(browser, "home.png")
    if os.environ.get("DLZERO_SITE_SCREENSHOTS"):
        browser.execute_script(
            "document.querySelector(\"article img[src='accuracy.png']\")"
            ".scrollIntoView({block: 'center'})"
        )
        time.sleep(1)
        _screenshot(browser, "home_figure.png")
    _check_quiet_and_local(browser)


def test_chapter_5_page_shows_its_figures_and_output(site, browser):
    from selenium.webdriver.common.by import By

    _open(browser, site, "chapters/ch05.html")
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text.startswith("Chapter 5")
    assert _images_shown(browser, ".jupyter-wrapper img") >= 1
    assert "price 220" in browser.find_element(By.CSS_SELECTOR, ".jupyter-wrapper").text
    # The figure in view, for the screenshot.
    if os.environ.get("DLZERO_SITE_SCREENSHOTS"):
        browser.execute_script(
            "document.querySelector('.jupyter-wrapper img').scrollIntoView({block: 'center'})"
        )
        time.sleep(1)  # the header's title changes as the page scrolls: let it settle
        _screenshot(browser, "chapter5.png")
    _check_quiet_and_local(browser)


def test_search_finds_softmax_with_loss(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _open(browser, site, "index.html")
    box = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    WebDriverWait(browser, 10).until(
        lambda d: box.is_displayed(),
        "no search box: Material hides it when its search worker does not start (from file://, "
        "the iframe-worker shim named in mkdocs.yml stands in for the worker)",
    )
    box.click()
    box.send_keys("SoftmaxWithLoss")
    results = WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item a")
    )
    hrefs = [r.get_attribute("href") for r in results]
    assert any("api/layers.html" in h for h in hrefs), hrefs
    _check_quiet_and_local(browser)
