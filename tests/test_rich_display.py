"""Tests of what a notebook shows: dlzero's figures inline, tables for its objects, the bar.

Jupyter displays an object through ``_repr_html_`` when it has one, and a matplotlib figure
through the shell's PNG formatter; these tests call the same hooks Jupyter calls.
"""

import subprocess
import sys
import types

import numpy as np
import pytest

from dlzero import TwoLayerNet, gradient_check
from dlzero._html import html_table, network_html, register_ipython_display
from dlzero._progress import interactive
from dlzero.gradient import GradientCheckReport, ParamCheck
from dlzero.layers import Affine, Relu
from dlzero.networks import Sequential
from dlzero.studies.evaluation import evaluate
from dlzero.training import History

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_html_table_escapes_and_aligns():
    html = html_table(["name", "value"], [["<b>x</b>", 0.5], ["y", "97.5%"]], caption="a & b")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x" not in html
    assert "<caption" in html and "a &amp; b" in html
    assert '<td style="text-align:right">0.5</td>' in html
    assert '<td style="text-align:right">97.5%</td>' in html
    assert '<td style="text-align:left">y</td>' in html


def test_history_html_has_one_row_per_evaluation():
    history = History(
        iterations=20,
        iterations_per_epoch=10,
        loss=np.ones(20),
        iterations_done=20,
        epochs=[0, 1, 2],
        epoch_iterations=[0, 10, 20],
        accuracy={"train": [0.1, 0.5, 0.9], "test": [0.1, 0.45, 0.875]},
        epoch_loss=[None, 1.25, 0.5],
        train_time=[0.0, 0.5, 0.5],
        eval_time=[0.1, 0.1, 0.1],
        config={"network": "TwoLayerNet"},
        seed=7,
        stop_reason="completed",
    )
    html = history._repr_html_()
    assert html.count("<tr>") == 4  # the header and three evaluations
    assert "<th>train acc</th><th>test acc</th>" in html
    assert ">0.8750<" in html and ">1.2500<" in html
    assert "TwoLayerNet: 20 of 20 iterations, completed, seed 7" in html


def test_network_html_lists_layers_and_parameter_shapes():
    net = TwoLayerNet(784, 50, 10, rng=0)
    html = network_html(net)
    for row in ("Affine1", "Relu1", "Affine2", "SoftmaxWithLoss"):
        assert row in html
    assert "W1 (784, 50), b1 (50,)" in html
    assert ">39250<" in html  # 784 * 50 + 50 values in the first layer
    assert "39,760 trainable values" in html
    named = Sequential({"<odd>": Affine(np.zeros((2, 3)), np.zeros(3)), "r": Relu()})
    assert "&lt;odd&gt;" in network_html(named)


def test_a_running_ipython_shows_every_network_as_its_table():
    # The network classes carry no display code: dlzero registers network_html with IPython.
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    try:
        register_ipython_display()
        net = TwoLayerNet(4, 3, 2, rng=0)
        formatted, _ = shell.display_formatter.format(net)
        assert formatted["text/html"] == network_html(net)
        assert not hasattr(net, "_repr_html_")
    finally:
        interactiveshell.InteractiveShell.clear_instance()


def test_gradient_check_html_shows_every_parameter_and_the_verdict():
    rng = np.random.default_rng(0)
    net = TwoLayerNet(6, 4, 3, rng=0)
    report = gradient_check(net, rng.random((2, 6)), np.array([0, 2]))
    html = report._repr_html_()
    assert html.count(">ok<") == 4 and "PASS" in html
    failing = GradientCheckReport([ParamCheck("W1", (2, 2), 1.0, 0.5, 0.3, False)])
    assert ">FAIL<" in failing._repr_html_() and "FAIL: relative" in failing._repr_html_()


def test_evaluation_html_has_per_class_precision_and_recall():
    net = TwoLayerNet(4, 3, 2, rng=0)
    x = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    ev = evaluate(net, x, np.array([0, 1] * 5))
    html = ev._repr_html_()
    assert f"accuracy: {ev.accuracy:.4f}" in html
    assert html.count("<tr>") == 3  # the header and two classes
    assert ">5<" in html  # five samples of each class


# -- figures inline --------------------------------------------------------------------------


def fake_ipython(monkeypatch):
    """A stand-in for a running IPython shell, with IPython's real display formatters."""
    formatters = pytest.importorskip("IPython.core.formatters")
    shell = types.SimpleNamespace(
        display_formatter=types.SimpleNamespace(
            formatters={
                "image/png": formatters.PNGFormatter(),
                "image/svg+xml": formatters.SVGFormatter(),
            }
        )
    )
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    return shell.display_formatter.formatters


def test_a_figure_displays_as_png_in_ipython(monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from dlzero.plotting import new_figure

    formatters = fake_ipython(monkeypatch)
    fig = new_figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    png = formatters["image/png"](fig)
    assert png is not None and png.startswith(PNG_MAGIC)
    formatters["image/png"].pop(Figure)  # the formatters are IPython-wide: leave them clean


def test_a_printer_the_user_chose_is_kept(monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from dlzero.plotting import new_figure

    formatters = fake_ipython(monkeypatch)
    formatters["image/svg+xml"].for_type(Figure, lambda fig: "<svg/>")
    new_figure()
    assert Figure not in formatters["image/png"].type_printers


def test_outside_ipython_plots_import_neither_pyplot_nor_ipython():
    pytest.importorskip("matplotlib")
    code = (
        "import sys, numpy as np\n"
        "from dlzero.plotting import plot_filters\n"
        "plot_filters(np.zeros((4, 1, 3, 3)))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot'\n"
        "assert 'IPython' not in sys.modules, 'IPython'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- progress bars ---------------------------------------------------------------------------


def test_a_jupyter_kernel_counts_as_someone_watching(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.delitem(sys.modules, "IPython")
    assert not interactive()
    ZMQInteractiveShell = type("ZMQInteractiveShell", (), {})  # ipykernel's shell, by name
    module = types.ModuleType("IPython")
    module.get_ipython = ZMQInteractiveShell
    monkeypatch.setitem(sys.modules, "IPython", module)
    assert interactive()
    TerminalInteractiveShell = type("TerminalInteractiveShell", (), {})
    module.get_ipython = TerminalInteractiveShell  # plain IPython with stderr redirected: no
    assert not interactive()
