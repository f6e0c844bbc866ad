"""MkDocs hook of the companion website (``hooks:`` in mkdocs.yml): pages from the files that live
outside ``docs/``, and links that work both on the repository's web view and on the site.

- The README is cut at its ``##`` sections into the home page, the training guide, the design
  page and the chapters' overview (``PAGES``); a section named nowhere goes on the home page,
  so nothing new in the README is lost from the site. BENCHMARKS.md and CHANGELOG.md become
  pages as they are.
- Every notebook ``notebooks/chNN.ipynb`` becomes the page ``chapters/chNN.ipynb``, which
  mkdocs-jupyter executes: in quick mode (``DLZERO_QUICK=1``) unless the variable is already
  set, on a kernel that runs the Python running MkDocs with this checkout's ``src/`` first on
  its path, with figures drawn inline.
- Links are written for the repository (``docs/book.md`` in the README, ``../BENCHMARKS.md`` in
  a guide); each is rewritten to the page that file became, so that ``--strict`` still fails
  on a link to a file that is on no page.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import posixpath
import re
import shutil
import sys
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.dlzero")

ROOT = Path(__file__).resolve().parents[2]
DOCS = "docs"

# Generated page -> (title, the README sections on it). The first page takes the README's
# introduction and every section named on no page and not in COVERED.
PAGES = {
    "index.md": (
        None,  # the README's own title
        [
            "Quick start",
            "What `dlzero train` does",
            "The library in a few lines",
            "*",  # the sections named nowhere else
            "Documentation",
            "Development",
        ],
    ),
    "training.md": (
        "Training: the `dlzero` command",
        [
            "The command",
            "The notes' findings, measured",
            "Chapters 6 to 8, measured",
            "Speed",
            "Data",
        ],
    ),
    "design.md": ("Design", ["Design"]),
    "chapters/index.md": ("Chapters 3 to 8: the notebooks", ["Learn with notebooks"]),
}
# README sections whose guide is a page of its own (docs/book.md, serve.md, onnx.md, ...).
COVERED = {
    "Run the book's own code",
    "Draw a digit in the browser",
    "Beyond dlzero: ONNX, scikit-learn, Dask",
}
# Root files that are pages as they are.
AS_THEY_ARE = {"BENCHMARKS.md": "benchmarks.md", "CHANGELOG.md": "changelog.md"}

WHERE_NEXT = """
## On this site

- [Chapters 3 to 8](chapters/index.md): the notebooks, run when the site was built, with
  their output and figures.
- [Guides](training.md): the `dlzero` command, the book's own scripts, the page that
  recognises your drawing, ONNX, scikit-learn, Dask, and how the package is built.
- [API reference](api/index.md): every public function and class, from its docstring.
- [Benchmarks](benchmarks.md) and the [changelog](changelog.md).
"""

QUICK_NOTE = """
<div class="admonition note dlzero-quick">
<p class="admonition-title">Run when this site was built{quick}</p>
<p>The output and figures below come from running the notebook
<a href="{name}" download><code>notebooks/{name}</code></a> {how}. Run it yourself in
Jupyter: <code>pip install ".[notebooks]" &amp;&amp; jupyter lab notebooks/</code>.</p>
</div>
"""


def _quick() -> bool:
    return os.environ.get("DLZERO_QUICK", "0") == "1"


# --- the notebooks' kernel ---------------------------------------------------------------

_workdir: str | None = None


def workdir() -> Path:
    """A temporary folder for this MkDocs process: the kernel spec, the notebooks' copies."""
    global _workdir
    if _workdir is None:
        _workdir = tempfile.mkdtemp(prefix="dlzero-site-")
        atexit.register(on_shutdown)  # also when MkDocs runs as a library, without shutdown
        _prepare_kernel(Path(_workdir))
    return Path(_workdir)


def _prepare_kernel(folder: Path) -> None:
    """The environment the notebooks run in (the kernel inherits this process's)."""
    os.environ.setdefault("DLZERO_QUICK", "1")
    # Quick mode's small products run several times faster on one BLAS thread than with
    # OpenBLAS's threads spinning on busy cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # The notebooks run on this checkout's dlzero, the one the API reference is read from
    # (an installed copy may be older).
    src = str(ROOT / "src")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    # With MPLBACKEND=Agg in the environment, a kernel shows each figure as text, not a picture.
    os.environ.pop("MPLBACKEND", None)
    # A "python3" kernel spec of our own, first on JUPYTER_PATH: one installed elsewhere on the
    # machine may run another Python, without dlzero or matplotlib.
    from ipykernel.kernelspec import write_kernel_spec

    jupyter = folder / "jupyter"
    write_kernel_spec(str(jupyter / "kernels" / "python3"))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(jupyter), os.environ.get("JUPYTER_PATH")) if p
    )


def on_startup(command, dirty):
    workdir()


def on_shutdown():
    global _workdir
    if _workdir:
        shutil.rmtree(_workdir, ignore_errors=True)
        _workdir = None


@event_priority(100)
def on_config(config):
    workdir()  # the notebooks' environment first: DLZERO_QUICK is part of the cache's key
    # mkdocs-jupyter's cache is keyed by the notebook alone: key it by dlzero's code and the
    # mode too, so a change to the library or DLZERO_QUICK runs the notebooks again.
    digest = hashlib.sha256(f"quick={_quick()}".encode())
    for path in sorted((ROOT / "src" / "dlzero").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    jupyter = config.plugins["mkdocs-jupyter"]
    jupyter.config["cache_dir"] = f".cache/mkdocs-jupyter/{digest.hexdigest()[:16]}"
    return config


# --- pages from the files outside docs/ ----------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")


def _outside_fences(lines: list[str]):
    """Yield (index, line, in_fence) for each line."""
    fenced = False
    for i, line in enumerate(lines):
        opens = bool(_FENCE.match(line))
        yield i, line, fenced or opens
        if opens:
            fenced = not fenced


def readme_sections(text: str) -> tuple[str, str, dict[str, str]]:
    """The README's title, its introduction, and its ``##`` sections by heading (bodies
    without the heading line)."""
    lines = text.splitlines()
    starts = [
        i for i, line, fenced in _outside_fences(lines) if not fenced and line.startswith("## ")
    ]
    head = lines[: starts[0]] if starts else lines
    title = head[0].removeprefix("# ").strip()
    intro = "\n".join(head[1:]).strip()
    sections = {}
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        sections[lines[start][3:].strip()] = "\n".join(lines[start + 1 : end]).strip()
    return title, intro, sections


def readme_pages(text: str) -> dict[str, str]:
    """The generated pages' Markdown, in the README's own links (rewritten later)."""
    title, intro, sections = readme_sections(text)
    named = {name for _, names in PAGES.values() for name in names}
    missing = sorted(named - set(sections) - {"*"})
    if missing:
        # A warning, so that --strict fails: the README was reorganised and PAGES must follow.
        log.warning("README.md has no section %s (docs/hooks/site.py, PAGES)", missing)
    pages = {}
    for uri, (page_title, names) in PAGES.items():
        parts = [f"# {page_title or title}"]
        if uri == "index.md":
            parts.append(intro)
        for name in names:
            if name == "*":
                rest = [s for s in sections if s not in named and s not in COVERED]
                parts += [f"## {s}\n\n{sections[s]}" for s in rest]
            elif name in sections:
                alone = len(names) == 1  # the page's title stands for the section's heading
                parts.append(sections[name] if alone else f"## {name}\n\n{sections[name]}")
        if uri == "index.md":
            parts.append(WHERE_NEXT.strip())
        if uri == "chapters/index.md":
            parts[-1] = re.sub(
                r"`(ch\d\d\w*)\.ipynb`", r"[`\1.ipynb`](notebooks/\1.ipynb)", parts[-1]
            )
        pages[uri] = "\n\n".join(parts) + "\n"
    return pages


# Where each generated page's text comes from in the repository (for its links).
_ORIGIN: dict[str, str] = {}


@event_priority(100)  # before mkdocs-jupyter takes the notebooks as pages
def on_files(files: Files, config) -> Files:
    _ORIGIN.clear()

    def add(uri: str, origin: str, file: File) -> None:
        if files.get_file_from_path(uri) is not None:
            log.warning("docs/%s is made from %s by docs/hooks/site.py: remove one", uri, origin)
            return
        files.append(file)
        _ORIGIN[uri] = origin

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for uri, text in readme_pages(readme).items():
        add(uri, "README.md", File.generated(config, uri, content=text))
    for name, uri in AS_THEY_ARE.items():
        text = (ROOT / name).read_text(encoding="utf-8")
        add(uri, name, File.generated(config, uri, content=text))
    # The notebooks as files of a folder of our own: mkdocs-jupyter reads a notebook from its
    # file's folder (not through a generated file), and runs it there, where it may write.
    chapters = workdir() / "chapters"
    chapters.mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copyfile(notebook, chapters / notebook.name)
        uri = f"chapters/{notebook.name}"
        file = File(uri, str(workdir()), config.site_dir, config.use_directory_urls)
        add(uri, f"notebooks/{notebook.name}", file)
    return files


# --- links -------------------------------------------------------------------------------

_LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")


def site_path(repo_path: str) -> str | None:
    """The page or file of the site that a file of the repository became, or None."""
    if repo_path == "README.md":
        return "index.md"
    if repo_path in AS_THEY_ARE:
        return AS_THEY_ARE[repo_path]
    if repo_path.startswith("notebooks/") and repo_path.endswith(".ipynb"):
        return "chapters/" + repo_path.removeprefix("notebooks/")
    if repo_path.startswith(DOCS + "/"):
        return repo_path.removeprefix(DOCS + "/")
    return None


def rewrite_links(markdown: str, origin: str, uri: str) -> str:
    """Rewrite the relative links of ``markdown`` (written at ``origin`` in the repository) for
    the page ``uri`` of the site; links to files on no page are left for MkDocs to report."""

    def replace(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return match.group(0)  # a URL, an anchor on the page, or an absolute path
        path, hash_, anchor = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        on_site = site_path(repo_path)
        if on_site is None:
            return match.group(0)
        relative = posixpath.relpath(on_site, posixpath.dirname(uri) or ".")
        return f"{match.group(1)}{relative}{hash_}{anchor}{match.group(3)}"

    lines = markdown.split("\n")
    for i, line, fenced in _outside_fences(lines):
        if not fenced:
            lines[i] = _LINK.sub(replace, line)
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    uri = page.file.src_uri
    origin = _ORIGIN.get(uri, f"{DOCS}/{uri}")
    return rewrite_links(markdown, origin, uri)


def on_page_content(html: str, page, config, files) -> str:
    uri = page.file.src_uri
    if uri.startswith("chapters/") and uri.endswith(".ipynb"):
        quick = _quick()
        how = (
            "in quick mode (DLZERO_QUICK=1): on a little data, for a few steps, so the numbers "
            "are smaller than the chapter's; without it the notebook runs the full experiments"
            if quick
            else "at full size"
        )
        name = posixpath.basename(uri)
        note = QUICK_NOTE.format(name=name, how=how, quick=", in quick mode" if quick else "")
        # Under the notebook's title, or first if it has none.
        head, h1, rest = html.partition("</h1>")
        return head + h1 + note + rest if h1 else note + html
    return html


def on_serve(server, config, builder):
    for name in ("README.md", *AS_THEY_ARE, "notebooks"):
        server.watch(str(ROOT / name))
    return server


if __name__ == "__main__":  # pragma: no cover - python docs/hooks/site.py README.md
    print(readme_pages(Path(sys.argv[1]).read_text(encoding="utf-8"))["index.md"])
