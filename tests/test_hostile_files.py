"""Hostile model files (issue 25): what a file may cost is decided before it is read.

Each attack runs in a child process under ``RLIMIT_AS`` (:mod:`hostile`), so a regression
fails the test instead of taking the machine: peak memory and time are bounded, the error is
the library's own (:class:`~dlzero.files.serialization.ModelFileError`), ``dlzero predict`` says it
in one line with exit status 2, and nothing on disk is changed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import dlzero
from dlzero.files.serialization import NETWORK_CLASSES, ModelFileError, expected_shapes
from dlzero.studies.digits import MAX_PIXELS, ImageError, read_image, to_mnist
from hostile import (
    bounded_memory,
    hostile_models,
    hostile_pictures,
    huge_png,
    mutate,
    mutations,
    run_bounded,
)

# A few-kilobyte input may cost about 100 MB above the interpreter's own ~40 MB (issue 25).
PEAK_MB = 150
SECONDS = 20  # generous: the machine is shared; each of these takes well under a second

ATTACKS = {  # file -> words the error must contain
    "big_config": ["param.W1", "(1,) float32", "hidden_size=100000"],
    "big_declared": ["param.W1.npy", "313,600,128 bytes", "damaged or crafted"],
    "method99": ["zip method 99", "stored or deflate"],
    "encrypted": ["encrypted"],
    "nan": ["param.W1", "1 NaN", "finite"],
    "inf": ["param.W1", "1 infinite", "finite"],
    "complex": ["param.W1", "complex", "real"],
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return hostile_models(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    from PIL import Image, ImageDraw

    im = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(im).line([(80, 50), (200, 50), (120, 240)], fill=255, width=20)
    path = tmp_path_factory.mktemp("pictures") / "seven.png"
    im.save(path)
    return path


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


LOAD = """
import sys, dlzero
from dlzero.files.serialization import ModelFileError
try:
    dlzero.load(sys.argv[1])
except ModelFileError as exc:
    print("ModelFileError:", exc)
    sys.exit(3)
print("loaded")
"""


@pytest.mark.parametrize("name", ATTACKS)
def test_a_hostile_model_file_is_refused_cheaply_with_the_librarys_own_error(models, name):
    before = _snapshot(models[name].parent)
    out = run_bounded(LOAD.replace("sys.argv[1]", repr(str(models[name]))))
    assert out.returncode == 3, out.stderr
    assert all(word in out.stdout for word in ATTACKS[name]), out.stdout
    assert str(models[name]) in out.stdout  # the message names the file
    assert out.peak_mb < PEAK_MB and out.seconds < SECONDS, (out.peak_mb, out.seconds)
    assert _snapshot(models[name].parent) == before  # a failed load changes nothing on disk


def test_the_good_file_beside_them_loads(models):
    out = run_bounded(LOAD.replace("sys.argv[1]", repr(str(models["good"]))))
    assert out.returncode == 0 and out.stdout.strip() == "loaded", out.stderr


@pytest.mark.parametrize("name", ["big_config", "big_declared", "method99", "encrypted", "nan"])
def test_predict_says_what_is_wrong_in_one_line_and_exits_2(models, seven, name):
    out = run_bounded(argv=["predict", str(models[name]), str(seven)])
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlzero predict: error: "), out.stderr
    assert ATTACKS[name][0] in lines[0]
    assert out.peak_mb < PEAK_MB and out.seconds < SECONDS, (out.peak_mb, out.seconds)


# -- pictures in modes Pillow cannot convert ------------------------------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    return hostile_pictures(tmp_path_factory.mktemp("pictures"))


def test_a_picture_pillow_cannot_convert_is_an_image_error(pictures):
    with pytest.raises(ImageError, match=r"premultiplied.tif: a La image, which cannot be read"):
        read_image(pictures["premultiplied"])


def test_a_lab_picture_is_read_by_its_lightness(pictures):
    gray = read_image(pictures["lab"])
    assert gray.shape == (64, 64) and gray[30, 30] == 1.0 and gray[0, 0] == 0.0
    digit = to_mnist(gray)  # a bar: tall and thin once fitted in 20x20
    assert digit.max() == 1.0 and np.count_nonzero(digit.max(axis=0)) < 8


def test_predict_reports_a_bad_picture_goes_on_and_exits_2(models, pictures, seven):
    argv = ["predict", models["good"], pictures["premultiplied"], pictures["lab"], seven]
    out = run_bounded(argv=[str(a) for a in argv])
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("dlzero predict: error: ") and "premultiplied.tif" in line
    predicted = [row.split()[0] for row in out.stdout.strip().splitlines()]
    assert predicted == [str(pictures["lab"]), str(seven)]
    assert out.peak_mb < PEAK_MB and out.seconds < SECONDS


# -- pictures of more pixels than are read ------------------------------------------------------


def test_a_huge_picture_is_refused_before_it_is_decoded_and_predict_goes_on(
    models, seven, tmp_path
):
    # 9000x9000 pixels in 95 KB: before, predict decoded them all (about 2.6 GB at its peak).
    huge = huge_png(tmp_path / "huge.png")
    out = run_bounded(argv=["predict", str(models["good"]), str(huge), str(seven)])
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("dlzero predict: error: ") and str(huge) in line
    assert "9000x9000 pixels; at most 4,194,304" in line
    assert [row.split()[0] for row in out.stdout.strip().splitlines()] == [str(seven)]
    assert out.peak_mb < PEAK_MB and out.seconds < SECONDS, (out.peak_mb, out.seconds)


def test_read_image_reads_at_most_max_pixels(seven):
    assert MAX_PIXELS == 2048 * 2048
    assert read_image(seven, max_pixels=280 * 280).shape == (280, 280)
    with pytest.raises(ImageError, match=r"seven.png: the image is 280x280 pixels; at most 78,399"):
        read_image(seven, max_pixels=280 * 280 - 1)


def test_a_large_jpeg_is_decoded_at_a_smaller_scale_to_the_same_digit(tmp_path):
    from PIL import Image, ImageDraw

    photo = Image.new("RGB", (2400, 1800), (240, 240, 230))  # 4.3 million pixels
    ImageDraw.Draw(photo).line([(900, 400), (1500, 400), (1100, 1500)], (20, 20, 30), 60)
    photo.save(tmp_path / "photo.jpg", quality=90)
    small = read_image(tmp_path / "photo.jpg")
    assert small.shape == (900, 1200)  # libjpeg's 1/2 scale
    full = read_image(tmp_path / "photo.jpg", max_pixels=2400 * 1800)
    assert full.shape == (1800, 2400)
    assert np.abs(to_mnist(small) - to_mnist(full)).max() < 0.05


# -- the shapes a config implies, without building it ------------------------------------------

CONFIGS = [
    ("TwoLayerNet", {"input_size": 784, "hidden_size": 50, "output_size": 10}),
    ("TwoLayerNet", {"input_size": 3, "hidden_size": 1, "output_size": 2, "dtype": "float64"}),
    ("MultiLayerNet", {"input_size": 5, "hidden_size_list": [4, 3, 2], "output_size": 3}),
    (
        "MultiLayerNet",
        {"input_size": 6, "hidden_size_list": [5, 4], "output_size": 2, "use_batchnorm": True},
    ),
    ("SimpleConvNet", {}),
    (
        "SimpleConvNet",
        {
            "input_dim": [3, 17, 12],
            "conv_param": {"filter_num": 4, "filter_size": 3, "pad": 2, "stride": 2},
            "hidden_size": 7,
            "output_size": 5,
        },
    ),
    ("DeepConvNet", {}),
    (
        "DeepConvNet",
        {
            "input_dim": [2, 20, 24],
            "conv_param_1": {"filter_num": 3},
            "conv_param_4": {"filter_num": 5, "pad": 0},
            "conv_param_6": {"filter_num": 6, "stride": 2},
            "hidden_size": 9,
            "output_size": 4,
        },
    ),
]


@pytest.mark.parametrize(("name", "config"), CONFIGS)
def test_expected_shapes_are_those_the_network_builds(name, config):
    network = NETWORK_CLASSES[name](**config, rng=0)
    params, state = expected_shapes(name, network.config)
    assert params == {k: v.shape for k, v in network.params.items()}
    assert state == {k: v.shape for k, v in network.state.items()}
    # and from the config as a user would write it, defaults left out
    assert expected_shapes(name, config)[0] == params


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("TwoLayerNet", {"input_size": 4, "output_size": 2}),  # hidden_size missing
        ("TwoLayerNet", {"input_size": 4, "hidden_size": -1, "output_size": 2}),
        ("MultiLayerNet", {"input_size": 4, "hidden_size_list": "50", "output_size": 2}),
        ("SimpleConvNet", {"input_dim": [1, 2, 2]}),  # a 5x5 filter on 2x2 pixels
        ("DeepConvNet", {"conv_param_3": [1, 2]}),
    ],
)
def test_a_config_that_would_not_build_is_refused_before_building(tmp_path, name, config):
    with pytest.raises((ValueError, TypeError, KeyError)):
        expected_shapes(name, config)


# -- fuzzing: random mutations of a valid file ---------------------------------------------------


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "small.npz"
    dlzero.save(dlzero.MultiLayerNet(6, [5, 4], 3, use_batchnorm=True, rng=0), path)
    return path.read_bytes()


def _fuzz_load(small_model, tmp_path_factory, mutation):
    folder = tmp_path_factory.mktemp("mutant")
    path = folder / "model.npz"
    data = mutate(small_model, mutation)
    path.write_bytes(data)
    with bounded_memory(300):
        try:
            network = dlzero.load(path)
        except ModelFileError as exc:
            assert str(path) in str(exc)
            # The reader turns a MemoryError into its own error: the bound above must still
            # fail the test when a few hundred bytes made it allocate that much.
            assert not isinstance(exc.__context__, MemoryError), exc
        else:  # a mutation of metadata may leave a valid model: then it predicts finitely
            x = np.ones((2, 6), network.params["W1"].dtype)
            assert np.all(np.isfinite(network.predict(x)))
    assert os.listdir(folder) == ["model.npz"] and path.read_bytes() == data


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutation=mutations())
def test_fuzz_load_raises_only_model_file_error(small_model, tmp_path_factory, mutation):
    _fuzz_load(small_model, tmp_path_factory, mutation)


@pytest.mark.slow
@settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutation=mutations())
def test_fuzz_load_raises_only_model_file_error_slow(small_model, tmp_path_factory, mutation):
    _fuzz_load(small_model, tmp_path_factory, mutation)
