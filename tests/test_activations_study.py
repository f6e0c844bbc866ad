"""Tests of dlzero.studies.activations_study: the book's Figures 6-10 to 6-14 in numbers."""

import numpy as np
import pytest

from dlzero.studies.activations_study import activation_study, format_table, parse_init


def test_sigmoid_with_std_1_saturates_and_with_std_001_collapses_to_one_half():
    wide = activation_study("sigmoid", 1.0, rng=0).stats()
    narrow = activation_study("sigmoid", 0.01, rng=0).stats()
    xavier = activation_study("sigmoid", "xavier", rng=0).stats()
    assert all(s["share"] > 0.3 for s in wide)  # Figure 6-10: piled up at 0 and 1
    assert all(s["std"] < 0.05 and abs(s["mean"] - 0.5) < 0.01 for s in narrow)  # 6-11
    assert all(s["share"] < 0.01 and s["std"] > 0.08 for s in xavier)  # 6-13


def test_relu_keeps_its_spread_with_he_and_loses_it_with_xavier_and_001():
    he = [s["std"] for s in activation_study("relu", "he", rng=1).stats()]
    xavier = [s["std"] for s in activation_study("relu", "xavier", rng=1).stats()]
    tiny = [s["std"] for s in activation_study("relu", 0.01, rng=1).stats()]
    assert max(he) / min(he) < 1.5  # Figure 6-14: the same from layer to layer
    assert xavier[-1] < 0.5 * xavier[0]  # shrinks layer by layer
    assert tiny[-1] < 1e-4


def test_shapes_seed_and_tanh_range():
    a = activation_study("tanh", "xavier", layers=3, units=7, samples=11, rng=4)
    b = activation_study("tanh", "xavier", layers=3, units=7, samples=11, rng=4)
    assert [x.shape for x in a.activations] == [(11, 7)] * 3
    for x, y in zip(a.activations, b.activations, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.histogram_range() == (-1.0, 1.0) and a.label() == "tanh, xavier"
    assert np.all(np.abs(a.activations[0]) < 1)


def test_table_has_one_row_per_layer():
    studies = [activation_study("relu", 0.01, layers=2, rng=0), activation_study(layers=2, rng=0)]
    lines = format_table(studies).splitlines()
    assert len(lines) == 5 and lines[1].startswith("relu, std 0.01") and "zero" in lines[1]
    assert lines[3].startswith("sigmoid, std 1") and "saturated" in lines[3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "elu"}, "unknown activation 'elu'"),
        ({"init": "lecun"}, "unknown initialization 'lecun'"),
        ({"init": -1.0}, "must be a positive number"),
        ({"layers": 0}, "layers must be a positive integer"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        activation_study(**kwargs)


def test_parse_init_accepts_names_and_numbers():
    assert parse_init("He") == "he" and parse_init("0.01") == 0.01 and parse_init(2) == 2.0
