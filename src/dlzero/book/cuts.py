"""The ``DLZERO_QUICK`` cuts: the book's notebook cells that train for minutes, shortened.

``DLZERO_QUICK=1 dlzero book notebooks/ch06.ipynb`` runs the book's notebooks in minutes on a
laptop instead of hours: before a cell runs, each :class:`Cut` whose ``where`` texts are all in
the cell replaces ``old`` with ``new`` (fewer iterations, epochs, trials or images) and marks
the line ``# DLZERO_QUICK: the book has ...``, so that the executed notebook shows the code that
ran. The cuts also keep the book's trained weights: a cut training cell does not save its
weights over ``ch07/params.pkl`` or ``ch08/deep_convnet_params.pkl``, which later cells load.

The cuts are found by the book's own text, so a notebook of the book's that is not listed here,
or a cell the learner edited, runs as it is. Measuring the book's own code uses the same cuts
(docs/book.md, "The book's notebooks").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CUTS", "Cut", "apply"]

MARK = "# DLZERO_QUICK"


@dataclass(frozen=True)
class Cut:
    """Replace ``old`` with ``new`` in a cell that contains every text in ``where``.

    Attributes
    ----------
    where : tuple of str
        Texts that identify the cell (``old`` itself is always required too).
    old, new : str
        The book's text and what runs instead (``new`` may span lines).
    why : str
        What the cut does, for the report.
    """

    where: tuple[str, ...]
    old: str
    new: str
    why: str


_NO_SAVE = "pass  # DLZERO_QUICK: a cut run keeps the book's trained weights"

# Each keyed by the book's text. The numbers follow the shortened runs of the book's scripts
# (docs/book.md); "where" texts tell apart cells that share a line (max_epochs = 20).
CUTS: tuple[Cut, ...] = (
    # ch04, ch05: the two-layer net, 10,000 iterations (600 to an epoch).
    Cut((), "iters_num = 10000", "iters_num = 2000", "2,000 iterations (the book: 10,000)"),
    # ch06: optimizers and initial weights compared, 2,000 iterations each.
    Cut((), "max_iterations = 2000", "max_iterations = 500", "500 iterations (the book: 2,000)"),
    # ch06: batch norm against plain, 16 weight scales of 20 epochs.
    Cut(
        ("weight_scale_list",),
        "np.logspace(0, -4, num=16)",
        "np.logspace(0, -4, num=4)",
        "4 weight scales (the book: 16)",
    ),
    Cut(
        ("weight_scale_list",),
        "max_epochs = 20",
        "max_epochs = 10",
        "10 epochs (the book: 20)",
    ),
    # ch06: overfitting, weight decay 201 epochs and dropout 301.
    Cut((), "max_epochs = 201", "max_epochs = 51", "51 epochs (the book: 201)"),
    Cut((), "epochs=301,", "epochs=61,", "61 epochs (the book: 301)"),
    # ch06: the random search, 100 trials of 50 epochs.
    Cut((), "optimization_trial = 100", "optimization_trial = 6", "6 trials (the book: 100)"),
    Cut((), "epocs=50", "epocs=20", "20 epochs a trial (the book: 50)"),
    # ch07: SimpleConvNet on 60,000 images for 20 epochs; the book's own shortening, uncommented.
    Cut(
        ("SimpleConvNet",),
        "#x_train, t_train = x_train[:5000], t_train[:5000]",
        "x_train, t_train = x_train[:5000], t_train[:5000]",
        "5,000 training images (the book: 60,000)",
    ),
    Cut(
        ("SimpleConvNet",),
        "#x_test, t_test = x_test[:1000], t_test[:1000]",
        "x_test, t_test = x_test[:1000], t_test[:1000]",
        "1,000 test images (the book: 10,000)",
    ),
    Cut(
        ("SimpleConvNet", "trainer.train()"),
        "max_epochs = 20",
        "max_epochs = 2",
        "2 epochs (the book: 20)",
    ),
    Cut(
        (),
        'network.save_params("../ch07/params.pkl")',
        _NO_SAVE,
        "not saved over ../ch07/params.pkl (the book's weights, which the next cells load)",
    ),
    # ch08: DeepConvNet on 60,000 images for 20 epochs.
    Cut(
        ("DeepConvNet()", "trainer.train()"),
        "(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)",
        "(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)\n"
        "x_train, t_train, x_test, t_test = x_train[:1000], t_train[:1000], "
        "x_test[:1000], t_test[:1000]",
        "1,000 training and 1,000 test images (the book: 60,000 and 10,000)",
    ),
    Cut(("DeepConvNet()", "trainer.train()"), "epochs=20,", "epochs=1,", "1 epoch (the book: 20)"),
    Cut(
        (),
        'network.save_params("../ch08/deep_convnet_params.pkl")',
        _NO_SAVE,
        "not saved over ../ch08/deep_convnet_params.pkl (the book's weights, which the next "
        "cells load)",
    ),
    Cut(
        (_NO_SAVE,),
        'print("Saved Network Parameters!")',
        'print("Not saved (DLZERO_QUICK keeps the book\'s weights)")  ' + MARK,
        "",
    ),
    # ch08: the book's weights on the test set; its own shortening, uncommented.
    Cut((), "#sampled = 1000", "sampled = 1000", "1,000 test images (the book: 10,000)"),
    Cut(("sampled = 1000",), "#x_test = x_test[:sampled]", "x_test = x_test[:sampled]", ""),
    Cut(("sampled = 1000",), "#t_test = t_test[:sampled]", "t_test = t_test[:sampled]", ""),
    Cut((), "sampled = 10000", "sampled = 1000", "1,000 test images (the book: 10,000)"),
)


def apply(source: str) -> tuple[str, list[str]]:
    """The cell's source with the cuts that match it, and one line per cut applied.

    Parameters
    ----------
    source : str
        A code cell's source.

    Returns
    -------
    source : str
        The cut source (``source`` itself when no cut matches).
    notes : list of str
        What was cut.
    """
    notes = []
    for cut in CUTS:
        if cut.old not in source or not all(w in source for w in cut.where):
            continue
        lines, changed = [], False
        for line in source.split("\n"):
            if cut.old in line and MARK not in line:  # a line cut before is left alone
                line, changed = line.replace(cut.old, cut.new) + _mark(cut), True
            lines.append(line)
        source = "\n".join(lines)
        if changed and cut.why:
            notes.append(cut.why)
    return source, notes


def _mark(cut: Cut) -> str:
    """The comment that ends a cut line: what the book has there."""
    if MARK in cut.new:
        return ""
    if cut.new.startswith(cut.old):
        return f"  {MARK}: added"
    if cut.old == "#" + cut.new:
        return f"  {MARK}: uncommented"
    return f"  {MARK}: the book has {cut.old}"
