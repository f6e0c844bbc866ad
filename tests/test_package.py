"""The package namespace: every public name from its module; optional imports kept out."""

import subprocess
import sys

import pytest

import dlzero


@pytest.mark.parametrize("name", [n for n in dlzero.__all__ if n != "__version__"])
def test_every_public_name_comes_from_its_module(name):
    value = getattr(dlzero, name)
    assert value.__module__.startswith("dlzero.")
    assert getattr(sys.modules[value.__module__], name) is value


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Convolutions'"):
        dlzero.Convolutions  # noqa: B018
    assert not hasattr(dlzero, "nothing_here")


def test_star_import_and_dir_list_the_public_names():
    namespace: dict = {}
    exec("from dlzero import *", namespace)
    assert set(dlzero.__all__) <= set(namespace)
    assert set(dlzero.__all__) <= set(dir(dlzero))


def test_the_version_has_one_source():
    from importlib.metadata import version

    from dlzero._version import __version__

    assert dlzero.__version__ == __version__ == version("dlzero")


def test_importing_the_library_does_not_import_matplotlib():
    # A fresh interpreter: this one may have imported it for the plotting tests.
    code = "import sys, dlzero, dlzero.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_modules_are_attributes_after_a_bare_import():
    code = (
        "import dlzero; print(dlzero.optimizers.get_optimizer.__name__, "
        "dlzero.layers.Affine.__name__, dlzero.datasets.load_mnist.__name__, "
        "dlzero.plotting.plot_accuracy.__name__, dlzero.studies.search.random_search.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "get_optimizer",
        "Affine",
        "load_mnist",
        "plot_accuracy",
        "random_search",
    ]
