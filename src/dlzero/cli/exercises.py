"""``dlzero exercises``: the exercise notebooks of chapters 4-7, to write the book's code yourself.

::

    dlzero exercises                   # chapters 4 to 7, into the current folder
    dlzero exercises 5 --dir work      # chapter 5 only, into work/ (created if missing)
    dlzero exercises 5 --solutions     # the solved notebook: ch05_solutions.ipynb and .py

Each exercise is a layer, optimizer or function to complete, followed by a cell that checks it
(:func:`dlzero.check_layer` and friends): as handed out, every check says "not written yet".
Each chapter is a jupytext pair, ``chNN_exercises.ipynb`` and ``chNN_exercises.py`` (percent
format), as the chapter notebooks are.

One source per chapter: the package's ``exercises/chNN.py`` (and its ``.ipynb``) holds the
solutions between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines (nbgrader's markers).
Handed out, each such block becomes ``raise NotImplementedError("your code here")``; with
``--solutions`` only the marker lines go. A learner's file is never replaced without
``--force``.
"""

from __future__ import annotations

import argparse
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from dlzero.cli.options import CommandError

CHAPTERS = {
    4: "numerical differentiation: the derivative, the gradient, gradient descent",
    5: "backpropagation: MulLayer, AddLayer, Relu, Sigmoid, Affine, SoftmaxWithLoss, "
    "a TwoLayerNet of your layers trained on MNIST",
    6: "SGD, Momentum, AdaGrad, Adam, Dropout, BatchNormalization",
    7: "im2col, Convolution, Pooling",
}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BLANK = 'raise NotImplementedError("your code here")'


def chapter(text: str) -> int:
    """argparse type: a chapter with exercises, ``5``, ``05`` or ``ch05``."""
    match = re.fullmatch(r"(?:ch)?0*(\d+)", text.strip().lower())
    if not match or int(match.group(1)) not in CHAPTERS:
        raise argparse.ArgumentTypeError(
            f"expected a chapter with exercises, {', '.join(map(str, CHAPTERS))} (or ch05), "
            f"got {text!r}"
        )
    return int(match.group(1))


def add_parsers(subparsers: Any) -> None:
    """Add ``exercises`` to the ``dlzero`` command's subparsers."""
    lines = "; ".join(f"{n}: {what}" for n, what in CHAPTERS.items())
    p = subparsers.add_parser(
        "exercises",
        help="copy the exercise notebooks: write the book's layers yourself, each one checked",
        description="Copy the exercise notebooks of chapters 4-7 (jupytext pairs, "
        "chNN_exercises.ipynb and chNN_exercises.py): each exercise a layer, optimizer or "
        "function to complete, followed by a cell that checks it. Chapters: "
        f"{lines}. A notebook already there is never replaced without --force.",
    )
    p.add_argument(
        "chapter",
        nargs="?",
        type=chapter,
        metavar="CHAPTER",
        help="4, 5, 6 or 7 (default: all four)",
    )
    p.add_argument(
        "--dir",
        type=Path,
        default=Path("."),
        metavar="D",
        help="folder to write to, created if missing (default: the current folder)",
    )
    p.add_argument(
        "--solutions",
        action="store_true",
        help="the solved notebooks instead (chNN_solutions.*): every check says PASS",
    )
    p.add_argument(
        "--force", action="store_true", help="replace notebooks already there (their work is lost)"
    )
    p.set_defaults(func=run_exercises, parser=p)


def hand_out(source: str, solutions: bool) -> str:
    """``source`` with each solution block replaced by a blank, or just its markers removed.

    The blank is ``raise NotImplementedError("your code here")`` at the indentation of the
    ``### BEGIN SOLUTION`` line, so that the cell still runs and the check below it reports
    "not written yet".
    """
    out: list[str] = []
    inside = False
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == BEGIN:
            inside = True
            if not solutions:
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}{BLANK}\n")
        elif stripped == END:
            inside = False
        elif solutions or not inside:
            out.append(line)
    return "".join(out)


def _notebook(source: str, solutions: bool) -> str:
    """The ``.ipynb`` text with every cell handed out the same way as the ``.py``."""
    nb = json.loads(source)
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        text = hand_out(source, solutions)
        if text.endswith("\n") and not source.endswith("\n"):  # (a cell's last line has none)
            text = text[:-1]
        cell["source"] = text.splitlines(keepends=True)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def run_exercises(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero exercises``: write the notebooks, or refuse to replace any file (status 1)."""
    chapters = [args.chapter] if args.chapter else list(CHAPTERS)
    kind = "solutions" if args.solutions else "exercises"
    folder: Path = args.dir
    if folder.exists() and not folder.is_dir():
        parser.error(f"argument --dir: {str(folder)!r} is a file, not a folder")
    targets = {n: [folder / f"ch{n:02d}_{kind}.{ext}" for ext in ("ipynb", "py")] for n in chapters}
    there = [p for paths in targets.values() for p in paths if p.exists()]
    if there and not args.force:
        names = ", ".join(p.name for p in there)
        raise CommandError(
            f"{names} already in {str(folder.resolve())!r}: not replaced, so your work there is "
            "safe (--force replaces them; --dir writes elsewhere)"
        )
    package = resources.files("dlzero") / "exercises"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for n, (ipynb, py) in targets.items():
            # The .py second, so that it is the newer of the pair, as jupytext expects.
            ipynb.write_text(
                _notebook((package / f"ch{n:02d}.ipynb").read_text("utf-8"), args.solutions),
                encoding="utf-8",
            )
            py.write_text(
                hand_out((package / f"ch{n:02d}.py").read_text("utf-8"), args.solutions),
                encoding="utf-8",
            )
            print(f"wrote {ipynb} and {py.name}: chapter {n}, {CHAPTERS[n]}")
    except OSError as exc:
        raise CommandError(f"could not write to {str(folder)!r}: {exc.strerror or exc}") from exc
    first = targets[chapters[0]][0]
    print(f"open them with: jupyter lab {first}")
    return 0
