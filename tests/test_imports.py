"""The package's import graph: no circles, and arrows that point one way.

Every ``import`` in ``src/dlzero`` is read with :mod:`ast`, wherever it stands (top level, inside
a function, under ``if TYPE_CHECKING``), and resolved to the most specific dlzero module it
names (``from dlzero.training import background`` is an edge to ``dlzero.training.background``).
Importing ``dlzero.pkg.mod`` also runs ``dlzero/pkg/__init__.py`` first, so it is an arrow to
``dlzero.pkg`` too (a circle through a package's ``__init__`` fails at import time), except from
inside ``dlzero.pkg`` itself and to ``dlzero`` (the public API, which every import runs first).

``python tests/test_imports.py`` prints the graph, one module and what it imports per line.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(src: Path = SRC, package: str = "dlzero") -> dict[str, set[str]]:
    """Each module of ``package`` (under ``src``) and the modules of it that it imports."""
    modules = {_module_name(p, src): p for p in sorted((src / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith(package))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package this module is in
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                if not base.startswith(package):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        found = {t for t in targets if t in modules}
        for target in list(found):
            parts = target.split(".")
            for n in range(2, len(parts)):  # the packages above target, below the top one
                above = ".".join(parts[:n])
                if not (name == above or name.startswith(above + ".")):
                    found.add(above)
        graph[name] = found - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


GRAPH = import_graph()


def _imports_of(module: str) -> set[str]:
    """``module`` (a module or package) and everything it imports, directly or not."""
    seen, todo = set(), [m for m in GRAPH if m == module or m.startswith(module + ".")]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(GRAPH[m])
    return seen


def test_the_graph_is_read():
    # If parsing broke, every other test here would pass on an empty graph.
    assert "dlzero.fast" in GRAPH["dlzero.training.background"]
    assert "dlzero.layers" in GRAPH["dlzero.networks"]
    assert len(GRAPH) > 20


def test_there_are_no_import_circles():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_a_submodule_import_runs_its_package(tmp_path):
    # p/a.py imports p.sub.b; p/sub/__init__.py imports p.a: a circle through the package's
    # __init__, which fails at import time, though no module imports another in a loop.
    (tmp_path / "p" / "sub").mkdir(parents=True)
    (tmp_path / "p" / "__init__.py").write_text("")
    (tmp_path / "p" / "a.py").write_text("from p.sub.b import x\n")
    (tmp_path / "p" / "sub" / "__init__.py").write_text("from p import a\n")
    (tmp_path / "p" / "sub" / "b.py").write_text("from p.sub import c\nx = 1\n")
    (tmp_path / "p" / "sub" / "c.py").write_text("")
    graph = import_graph(tmp_path, "p")
    assert graph["p.a"] == {"p.sub.b", "p.sub"}
    assert graph["p.sub.b"] == {"p.sub.c"}  # inside p.sub: not an arrow to its own __init__
    assert find_cycle(graph) == ["p.a", "p.sub", "p.a"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    ("module", "must_not_reach"),
    [
        ("dlzero.functions", ["dlzero.layers", "dlzero.networks", "dlzero.training"]),
        ("dlzero.layers", ["dlzero.networks", "dlzero.training", "dlzero.files.serialization"]),
        ("dlzero.networks", ["dlzero.training", "dlzero.convnets", "dlzero.plotting"]),
        ("dlzero.gradient", ["dlzero.networks", "dlzero.training"]),
        ("dlzero.layers.im2col", ["dlzero.layers.basic", "dlzero.layers.conv", "dlzero.networks"]),
        (
            "dlzero.files.model_file",
            ["dlzero.networks", "dlzero.layers", "dlzero.files.serialization"],
        ),
        (
            "dlzero.interop.onnx",
            ["dlzero.networks", "dlzero.convnets", "dlzero.files.serialization"],
        ),
        ("dlzero.training", ["dlzero.plotting", "dlzero.files.serialization", "dlzero.datasets"]),
        ("dlzero.serve", ["dlzero.cli", "dlzero.plotting", "dlzero.files.serialization"]),
    ],
)
def test_arrows_point_one_way(module, must_not_reach):
    reached = _imports_of(module)
    for other in must_not_reach:
        assert not any(m == other or m.startswith(other + ".") for m in reached), (
            f"{module} imports {other}"
        )


# The learner's path, in reading order (docs/architecture.md), and the machinery it must not
# reach, directly or through another module.
LEARNERS_PATH = [
    "dlzero.functions",
    "dlzero.gradient",
    "dlzero.formula_net",
    "dlzero.layers",
    "dlzero.sequential",
    "dlzero.networks",
    "dlzero.optimizers",
    "dlzero.convnets",
]
MACHINERY = [
    "dlzero.fast",
    "dlzero.files",
    "dlzero.book",
    "dlzero.interop",
    "dlzero.studies",
    "dlzero.plotting",
    "dlzero.serve",
    "dlzero.cli",
    "dlzero.datasets",
    "dlzero.training",
    "dlzero._progress",
    "dlzero._threads",
    "dlzero._io",
]
# What the learner's files must not import from outside dlzero either: pickles, zip archives,
# the bridges, plots, servers, threads.
OUTSIDE_MACHINERY = {
    "pickle", "pickletools", "zipfile", "onnx", "matplotlib", "http", "threading",
    "concurrent", "sklearn", "distributed", "threadpoolctl", "tqdm",
}  # fmt: skip


def _outside_imports(module: str) -> set[str]:
    """The top-level names of what ``module`` (a module, or a package's modules) imports from
    outside dlzero, wherever the import stands."""
    names: set[str] = set()
    base = SRC / Path(*module.split("."))
    paths = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", LEARNERS_PATH)
def test_the_learners_path_imports_none_of_the_machinery(module):
    reached = _imports_of(module)
    for other in MACHINERY:
        assert not any(m == other or m.startswith(other + ".") for m in reached), (
            f"{module} imports {other}: a learner reading it would have to read that too"
        )
    for m in reached:
        if m.startswith("dlzero."):
            found = _outside_imports(m) & OUTSIDE_MACHINERY
            assert not found, f"{module} reaches {m}, which imports {sorted(found)}"


def test_the_trainer_reaches_speed_through_one_door():
    # The loop may ask dlzero.fast for a step (its one function), nothing else of the machinery.
    reached = _imports_of("dlzero.training.trainer") - _imports_of("dlzero.fast")
    for other in MACHINERY:
        if other in ("dlzero.training", "dlzero.fast", "dlzero._threads", "dlzero._progress"):
            continue
        if other == "dlzero._io":  # the history's files are written atomically
            continue
        assert not any(m == other or m.startswith(other + ".") for m in reached), other
    assert "dlzero.fast" in GRAPH["dlzero.training.trainer"]


def test_the_fast_paths_read_networks_without_importing_them():
    reached = _imports_of("dlzero.fast")
    for other in ("dlzero.sequential", "dlzero.networks", "dlzero.convnets", "dlzero.training"):
        assert other not in reached, f"dlzero.fast imports {other}"


def test_no_module_is_over_500_lines():
    too_long = {
        str(p.relative_to(SRC)): n
        for p in (SRC / "dlzero").rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not too_long, f"split these modules: {too_long}"


def test_sequential_stays_about_150_lines():
    # Chapter 5's idea, kept short enough to read in one sitting (issue: at most 200 lines).
    tree = ast.parse((SRC / "dlzero" / "sequential.py").read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Sequential"]
    assert cls.end_lineno - cls.lineno + 1 <= 200


def test_nothing_imports_the_command_line():
    for module, targets in GRAPH.items():
        if module == "dlzero.__main__" or module.startswith("dlzero.cli"):
            continue
        assert not any(t.startswith("dlzero.cli") for t in targets), module


def test_only_the_command_line_imports_the_server():
    # `dlzero train` and the library never load http.server or the page.
    for module, targets in GRAPH.items():
        if module.startswith(("dlzero.serve", "dlzero.cli")):
            continue
        assert not any(t.startswith("dlzero.serve") for t in targets), module


if __name__ == "__main__":
    width = max(map(len, GRAPH))
    for module in sorted(GRAPH):
        print(f"{module:<{width}}  -> {', '.join(sorted(GRAPH[module])) or '-'}")
    cycle = find_cycle(GRAPH)
    print("import circle: " + " -> ".join(cycle) if cycle else "no import circles")
    sys.exit(1 if cycle else 0)
