"""``save_params`` / ``load_params``, the restricted unpickler, and ``params`` assignment.

The book saves parameters with pickle; dlzero reads such files with an unpickler that builds
only dicts of numeric arrays. The malicious payloads here are real: a test first shows that
plain ``pickle.loads`` runs them.
"""

import copy
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from dlzero.book import BookDropout, MultiLayerNetExtend
from dlzero.book.params import (
    ParamFileError,
    fold_test_time_dropout,
    load_params,
    read_params,
    read_params_file,
    save_params,
)
from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.files import save
from dlzero.layers import Dropout
from dlzero.networks import FormulaTwoLayerNet, MultiLayerNet, TwoLayerNet
from dlzero.sequential import Sequential


def _small_deep(rng, **kwargs):
    small = {"filter_num": 2, "filter_size": 3, "pad": 1, "stride": 1}
    convs = {f"conv_param_{i}": dict(small) for i in range(1, 7)}
    convs["conv_param_4"]["pad"] = 2
    return DeepConvNet((1, 8, 8), **convs, hidden_size=5, output_size=3, rng=rng, **kwargs)


def _nets(rng):
    """One network of every class, built from ``rng`` (a seed)."""
    return [
        TwoLayerNet(6, 4, 3, rng=rng),
        MultiLayerNet(6, [5, 4], 3, use_batchnorm=True, use_dropout=True, rng=rng),
        MultiLayerNetExtend(6, [5], 3, use_dropout=True, dropout_ration=0.2, rng=rng),
        SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3}, 5, 3, rng=rng),
        _small_deep(rng),
    ]


def _input_for(net, rng):
    shape = (4, 1, 8, 8) if isinstance(net, (SimpleConvNet, DeepConvNet)) else (4, 6)
    return rng.standard_normal(shape).astype(np.float32)


# -- save_params / load_params on every network ---------------------------------------------------


@pytest.mark.parametrize("index", range(5))
def test_save_params_then_load_params_gives_the_same_predictions(tmp_path, index):
    rng = np.random.default_rng(0)
    trained, fresh = _nets(1)[index], _nets(2)[index]
    x = _input_for(trained, rng)
    if "BatchNorm1" in trained.layers:  # move the running statistics away from their start
        trained.predict(x, train_flg=True)
    path = tmp_path / "params.pkl"
    save_params(trained, path)
    assert not np.array_equal(fresh.predict(x), trained.predict(x))
    load_params(fresh, path)
    np.testing.assert_array_equal(fresh.predict(x), trained.predict(x))
    # Not a pickle, whatever the name: an .npz archive that NumPy reads without pickle.
    assert path.read_bytes()[:2] == b"PK" and not (tmp_path / "params.pkl.npz").exists()
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == set(trained.params) | set(trained.state)


def test_formula_net_save_and_load_params(tmp_path):
    a, b = FormulaTwoLayerNet(5, 4, 3, rng=0), FormulaTwoLayerNet(5, 4, 3, rng=1)
    save_params(a, tmp_path / "w.pkl")
    load_params(b, tmp_path / "w.pkl")
    x = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ParamFileError, match=r"'W1' has shape \(5, 4\) in the file"):
        load_params(FormulaTwoLayerNet(6, 4, 3), tmp_path / "w.pkl")


def test_load_params_refuses_files_that_do_not_fit_and_leaves_the_network_alone(tmp_path):
    net = TwoLayerNet(6, 4, 3, rng=0)
    before = {k: v.copy() for k, v in net.params.items()}
    save_params(TwoLayerNet(6, 5, 3, rng=1), tmp_path / "other.npz")
    with pytest.raises(ParamFileError, match=r"'W1' has shape \(6, 5\) in the file, the net"):
        load_params(net, tmp_path / "other.npz")
    save_params(MultiLayerNet(6, [4, 4], 3, rng=1), tmp_path / "deeper.npz")
    with pytest.raises(ParamFileError, match=r"not in the network \['W3', 'b3'\]"):
        load_params(net, tmp_path / "deeper.npz")
    (tmp_path / "text.pkl").write_text("W1 = 3")
    with pytest.raises(ParamFileError, match="not a parameter file"):
        load_params(net, tmp_path / "text.pkl")
    assert all(np.array_equal(net.params[k], before[k]) for k in before)


def test_load_params_takes_the_files_dtype_as_the_books_load_params_keeps_its_arrays(tmp_path):
    a = TwoLayerNet(6, 4, 3, rng=0, dtype=np.float64)
    with open(tmp_path / "book.pkl", "wb") as f:
        pickle.dump({k: v for k, v in a.params.items()}, f)  # as the book's save_params does
    b = TwoLayerNet(6, 4, 3, rng=1)  # float32
    load_params(b, tmp_path / "book.pkl")
    assert b.dtype == np.float64
    x = np.random.default_rng(0).standard_normal((5, 6))
    np.testing.assert_array_equal(b.predict(x), a.predict(x))


# -- the book's dropout, folded into the weights ---------------------------------------------------


def _book_predict(net, x):
    """Inference as the book's layers do it: each Dropout multiplies by 1 - ratio."""
    for layer in net.layers.values():
        if isinstance(layer, Dropout):
            x = x * (1.0 - layer.dropout_ratio)
        elif layer.takes_train_flag:
            x = layer.forward(x, False)
        else:
            x = layer.forward(x)
    return x


@pytest.mark.parametrize("make", [lambda: _small_deep(3, dtype=np.float64), "mlp"])
def test_a_book_pickle_is_folded_to_predict_as_the_books_dropout_does(tmp_path, make):
    if make == "mlp":
        book = MultiLayerNet(6, [5, 4], 3, use_dropout=True, dropout_ratio=0.3, rng=3)
        book = book.astype(np.float64)
    else:
        book = make()
    for p in book.params.values():  # biases away from 0, so that a missed factor shows
        p += 0.1
    x = _input_for(book, np.random.default_rng(1)).astype(np.float64)
    expected = _book_predict(book, x)
    with open(tmp_path / "book.pkl", "wb") as f:
        pickle.dump(dict(book.params), f)
    net = copy.deepcopy(book)
    load_params(net, tmp_path / "book.pkl")
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(book.predict(x), expected)  # without the fold it would differ
    # dlzero's own files were trained with inverted dropout: no fold.
    save_params(book, tmp_path / "own.npz")
    load_params(net, tmp_path / "own.npz")
    np.testing.assert_array_equal(net.predict(x), book.predict(x))
    load_params(net, tmp_path / "book.pkl", book_dropout=False)
    np.testing.assert_array_equal(net.predict(x), book.predict(x))


def test_book_dropout_scales_at_inference_and_is_never_folded(tmp_path):
    rng = np.random.default_rng(5)
    layer = BookDropout(0.25, rng=0)
    x = rng.standard_normal((40, 30))
    out = layer.forward(x, train_flg=True)
    np.testing.assert_array_equal(out, x * layer.mask)  # kept units as they are
    assert 0.65 < layer.mask.mean() < 0.85
    w = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(w), w * layer.mask)
    np.testing.assert_array_equal(layer.forward(x, train_flg=False), x * 0.75)
    np.testing.assert_array_equal(layer.backward(w), w * 0.75)
    # A network built with it computes the book's function; a book pickle is loaded unfolded.
    book = _small_deep(3, dtype=np.float64)
    for name in ("Dropout1", "Dropout2"):
        book.layers[name] = BookDropout(0.5)
    for p in book.params.values():
        p += 0.1
    x = _input_for(book, rng).astype(np.float64)
    expected = _book_predict(book, x)
    np.testing.assert_array_equal(book.predict(x), expected)
    with open(tmp_path / "book.pkl", "wb") as f:
        pickle.dump(dict(book.params), f)
    load_params(book, tmp_path / "book.pkl")
    np.testing.assert_array_equal(book.predict(x), expected)


def test_dropout_cannot_be_folded_through_a_sigmoid():
    net = MultiLayerNet(4, [3, 3], 2, activation="sigmoid", use_dropout=True, rng=0)
    # Activation, dropout, affine: that folds; the scores' dropout in DeepConvNet does too.
    fold_test_time_dropout(net.layers.values())
    layers = [net.layers["Affine1"], Dropout(0.5), net.layers["Activation_function1"]]
    before = layers[0].W.copy()
    with pytest.raises(ValueError, match="cannot fold the book's dropout factor through Sigmo"):
        fold_test_time_dropout([*layers, net.layers["Affine2"]])
    with pytest.raises(ValueError, match="at the end of the network"):
        fold_test_time_dropout(
            [net.layers["Affine1"], net.layers["Activation_function1"], Dropout(0.5)]
        )
    np.testing.assert_array_equal(layers[0].W, before)


# -- params assignment reaches the layers ---------------------------------------------------


def test_assigning_to_params_as_the_books_load_params_does_reaches_the_layers():
    a, b = SimpleConvNet((1, 8, 8), {"filter_num": 2}, 5, 3, rng=0), None
    b = SimpleConvNet((1, 8, 8), {"filter_num": 2}, 5, 3, rng=1)
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    for key, value in a.params.items():
        b.params[key] = value.copy()  # the book: self.params[key] = val
    np.testing.assert_array_equal(b.predict(x), a.predict(x))
    assert b.layers["Conv1"].W is b.params["W1"]  # still the layer's own array
    b.params["b3"] = np.ones(3, dtype=np.float64)  # cast to the network's dtype
    assert b.params["b3"].dtype == np.float32 and np.all(b.layers["Affine2"].b == 1)


def test_params_assignment_errors_and_in_place_updates():
    net = TwoLayerNet(4, 3, 2, rng=0)
    w = net.params["W1"]
    net.params["W1"] -= 1.0  # in place, then assigned to itself
    assert net.params["W1"] is w is net.layers["Affine1"].W
    with pytest.raises(ValueError, match=r"params\['W1'\]: cannot copy an array of shape \(3, 4\)"):
        net.params["W1"] = np.zeros((3, 4))
    with pytest.raises(KeyError, match="the network has no parameter 'W3'"):
        net.params["W3"] = np.zeros(2)
    with pytest.raises(KeyError, match="no parameter 'W9'"):
        net.params.update(W9=np.zeros(2))
    with pytest.raises(TypeError, match="cannot be removed"):
        del net.params["W1"]
    with pytest.raises(TypeError, match="cannot be removed"):
        net.params.pop("W1")
    assert list(net.params) == ["W1", "b1", "W2", "b2"]


def test_params_survive_deepcopy_pickle_and_astype():
    net = MultiLayerNet(4, [3], 2, use_batchnorm=True, rng=0)
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net)), net.astype(np.float64)):
        # Each copy's params are its own layers' arrays, and assignment still reaches them.
        assert other.params["W1"] is other.layers["Affine1"].W
        assert other.params["W1"] is not net.params["W1"]
        other.params["b1"] = np.full(3, 2.0)
        assert np.all(other.layers["Affine1"].b == 2) and not np.any(net.params["b1"])


# -- MultiLayerNetExtend and the book's keywords ---------------------------------------------------


def test_multi_layer_net_extend_takes_the_books_keywords():
    kwargs = {
        "input_size": 6,
        "hidden_size_list": [5, 4],
        "output_size": 3,
        "activation": "sigmoid",
        "weight_init_std": "xavier",
        "weight_decay_lambda": 0.1,
        "use_dropout": True,
        "use_batchnorm": True,
    }
    net = MultiLayerNetExtend(**kwargs, dropout_ration=0.25, rng=4)
    same = MultiLayerNet(**kwargs, dropout_ratio=0.25, rng=4)
    assert net.dropout_ration == net.dropout_ratio == 0.25
    assert list(net.layers) == list(same.layers)[:8] + list(same.layers)[8:]
    assert list(net.layers)[:4] == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1"]
    assert all(np.array_equal(net.params[k], same.params[k]) for k in same.params)
    x, t = np.random.default_rng(0).standard_normal((5, 6)), np.array([0, 1, 2, 0, 1])
    assert net.predict(x, False).shape == (5, 3)
    # The book's dropout: the same network but for the scale at inference (1 - ratio).
    kinds = [type(layer).__name__ for layer in net.layers.values()]
    assert kinds.count("BookDropout") == 2 and "Dropout" not in kinds
    assert net.loss(x, t, False) != pytest.approx(same.loss(x, t, False))
    assert net.hidden_layer_num == 2 and net.use_batchnorm and net.use_dropout


def test_multi_layer_net_extend_gradient_checks(recwarn):
    net = MultiLayerNetExtend(4, [3, 3], 2, use_dropout=True, use_batchnorm=True, rng=0)
    net = net.astype(np.float64)
    x, t = np.random.default_rng(1).standard_normal((3, 4)), np.array([0, 1, 1])
    grads = net.gradient(x, t)
    num = net.numerical_gradient(x, t)
    assert set(grads) == set(num) == set(net.params)
    for key in grads:
        np.testing.assert_allclose(grads[key], num[key], atol=1e-7, err_msg=key)


def test_the_books_batch_norm_gradient_check_on_a_float32_network():
    # The book's batch_norm_gradient_check.py: a batch of one, the network as built (float32
    # here). The numerical gradient is taken in float64, so it matches backpropagation to
    # float32's precision, where a float32 central difference would be off by about 1e-4.
    net = MultiLayerNetExtend(
        input_size=8,
        hidden_size_list=[6, 6],
        output_size=3,
        activation="sigmoid",  # (ReLU would sit on its kink: every batch-norm output is beta)
        use_batchnorm=True,
        rng=0,
    )
    x = np.random.default_rng(0).random((1, 8), dtype=np.float32)
    t = np.eye(3, dtype=np.float32)[[2]]
    with pytest.warns(RuntimeWarning, match="batch of one"):
        grads = net.gradient(x, t)
        running = net.layers["BatchNorm1"].running_mean.copy()
        num = net.numerical_gradient(x, t)
        exact = net.astype(np.float64).gradient(x, t)
    for key in exact:
        np.testing.assert_allclose(num[key], exact[key], rtol=0, atol=1e-9, err_msg=key)
        np.testing.assert_allclose(grads[key], exact[key], rtol=1e-5, atol=1e-7, err_msg=key)
    assert net.dtype == np.float32
    np.testing.assert_array_equal(net.layers["BatchNorm1"].running_mean, running)


def test_multi_layer_net_extend_is_refused_by_save_but_keeps_its_params_methods(tmp_path):
    # A model file would load as a MultiLayerNet, whose inverted dropout trains differently.
    net = MultiLayerNetExtend(6, [5], 3, use_dropout=True, dropout_ration=0.2, rng=0)
    with pytest.raises(ValueError, match="cannot save a MultiLayerNetExtend"):
        save(net, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    net.save_params(tmp_path / "p.npz")  # the book's methods, on the book's class
    again = MultiLayerNetExtend(6, [5], 3, use_dropout=True, dropout_ration=0.2, rng=1)
    again.load_params(tmp_path / "p.npz")
    x = np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x), net.predict(x))
    assert net.lastLayer is net.last_layer


def test_multi_layer_net_takes_the_books_keywords():
    net = MultiLayerNet(
        input_size=6,
        hidden_size_list=[5, 5],
        output_size=3,
        activation="relu",
        weight_init_std=0.01,
        weight_decay_lambda=0.0,
    )
    assert isinstance(net, Sequential) and [p.shape for p in net.params.values()] == [
        (6, 5),
        (5,),
        (5, 5),
        (5,),
        (5, 3),
        (3,),
    ]


# -- the restricted unpickler ---------------------------------------------------------------


class _RunsCode:
    """Unpickling this runs ``os.system(command)``: the classic malicious pickle."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _EvalsCode:
    def __init__(self, source):
        self.source = source

    def __reduce__(self):
        return (eval, (self.source,))


def _payloads(marker):
    touch = f"touch {marker}"
    arrays = {"W1": np.ones((2, 2))}
    return {
        "os.system alone": _RunsCode(touch),
        "os.system beside a real array": {**arrays, "b1": _RunsCode(touch)},
        "builtins.eval": {**arrays, "b1": _EvalsCode(f"open({str(marker)!r}, 'w')")},
    }


@pytest.mark.parametrize(
    "name", ["os.system alone", "os.system beside a real array", "builtins.eval"]
)
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, name):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_payloads(marker)[name], protocol=4)  # the book's files' protocol
    path = tmp_path / "params.pkl"
    path.write_bytes(payload)
    # The payload is real: plain pickle (in another process) runs it.
    probe = subprocess.run(
        [sys.executable, "-c", f"import pickle; pickle.load(open({str(path)!r}, 'rb'))"],
        capture_output=True,
    )
    assert marker.exists(), probe.stderr
    marker.unlink()
    with pytest.raises(
        ParamFileError, match=r"refused: the file asks for (posix|builtins|__builtin__)\."
    ):
        read_params(path)
    net = TwoLayerNet(2, 2, 2, rng=0)
    with pytest.raises(ParamFileError, match="refused"):
        load_params(net, path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        # an object array pickles its items as a list: refused before anything is built
        ({"W1": np.array([1, "a"], dtype=object)}, r"the pickle opcode EMPTY_LIST"),
        ({"W1": np.zeros(2, dtype=[("a", "f8")])}, r"dtype 'V8' is not a plain numeric type"),
        ({"W1": np.array(["ab"])}, r"dtype 'U2' is not"),
        ({"W1": [1.0, 2.0]}, r"the pickle opcode EMPTY_LIST"),
        ({"W1": np.float64(1.0)}, r"numpy._core.multiarray.scalar|numpy.core.multiarray.scalar"),
        ([np.ones(2)], r"the pickle opcode EMPTY_LIST"),
        ((np.ones(2),), r"expected a dict of arrays, found tuple"),
        ({1: np.ones(2)}, r"parameter names must be strings, found a key of type int"),
    ],
)
def test_anything_but_a_dict_of_numeric_arrays_is_refused(tmp_path, obj, match):
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(ParamFileError, match=match):
        read_params(path)


def test_a_truncated_pickle_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones(3)}, protocol=4)[:-20])
    with pytest.raises(ParamFileError, match="not a pickle of NumPy arrays"):
        read_params(path)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickled_arrays_of_every_protocol_come_back_exactly(tmp_path, protocol):
    rng = np.random.default_rng(0)
    arrays = {
        "fortran": rng.standard_normal((3, 4)).T,
        "big_endian": np.arange(5, dtype=">i4"),
        "float32": rng.standard_normal((2, 3, 2)).astype(np.float32),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3), dtype=np.float16),
        "bool": np.array([True, False]),
    }
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    back, kind = read_params_file(path)
    assert kind == "pickle" and list(back) == list(arrays)
    for key, value in arrays.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
        np.testing.assert_array_equal(back[key], value)
        assert back[key].flags.writeable and back[key].flags.owndata, key


# -- hand-made pickles: what a hostile file can do with the allowed names alone ----------------


def _text(s: str) -> bytes:
    """SHORT_BINUNICODE: a short string, as pickle writes it."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _global(module: str, name: str) -> bytes:
    return _text(module) + _text(name) + b"\x93"  # STACK_GLOBAL


@pytest.mark.parametrize("as_key", [True, False])
def test_a_deeply_nested_value_is_refused_before_it_is_built(tmp_path, as_key):
    # 0 wrapped in a 1-tuple 10**6 times: one byte a level. Hashing it as a dict key would
    # overflow the C stack and kill the process; printing it, raise RecursionError.
    nested = b"K\x00" + b"\x85" * 1_000_000  # BININT1 0, then TUPLE1 again and again
    body = nested + b"K\x01" if as_key else _text("W1") + nested
    path = tmp_path / "deep.pkl"
    path.write_bytes(b"\x80\x04}" + body + b"s.")  # {key: value}
    with pytest.raises(ParamFileError, match="nested more than"):
        read_params(path)


@pytest.mark.parametrize(
    "target",
    [("numpy", "ndarray"), ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")],
)
def test_a_file_cannot_set_attributes_on_the_names_it_may_use(tmp_path, target):
    # BUILD with a (None, {name: value}) state sets attributes on an object without
    # __setstate__: here on an allowed name itself, trying to change it for later files.
    state = b"N}" + _text("__new__") + _global("numpy", "dtype") + b"s\x86"  # (None, {...})
    path = tmp_path / "build.pkl"
    path.write_bytes(b"\x80\x04}" + _text("W1") + _global(*target) + state + b"bs.")
    with pytest.raises(ParamFileError, match="refused: a state given to"):
        read_params(path)
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"W1": np.arange(3.0)}, protocol=4))
    np.testing.assert_array_equal(read_params(good)["W1"], np.arange(3.0))


def test_data_used_for_many_arrays_is_refused_before_it_is_copied(tmp_path):
    # Protocol 5: _frombuffer(raw, dtype, shape, order) with raw kept in the memo once and
    # fetched for 200 arrays, 3 bytes each: 200 MB asked of a 1 MB file.
    raw = 1_000_000
    parts = [
        b"\x80\x05",
        _global("numpy._core.numeric", "_frombuffer") + b"\x94",  # memo 0
        _global("numpy", "dtype") + _text("u1") + b"\x85R\x94",  # memo 1: dtype("u1")
        b"\x8e" + raw.to_bytes(8, "little") + b"\0" * raw + b"\x94",  # memo 2: the bytes
        b"J" + raw.to_bytes(4, "little") + b"\x85\x94",  # memo 3: the shape (raw,)
        _text("C") + b"\x94",  # memo 4: the order
        b"}(",
    ]
    for i in range(200):
        parts.append(_text(f"W{i}") + b"h\x00(h\x02h\x01h\x03h\x04tR")
    path = tmp_path / "amplified.pkl"
    path.write_bytes(b"".join([*parts, b"u."]))
    with pytest.raises(ParamFileError, match="more than the file's"):
        read_params(path)
