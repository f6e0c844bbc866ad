"""Tests of dlzero.files.serialization and dlzero.files.model_file: exact round trips, atomic
saves, bad or crafted files refused."""

import json
import zipfile

import numpy as np
import pytest

from dlzero.convnets import DeepConvNet, SimpleConvNet
from dlzero.files.model_file import NETWORK_NAMES
from dlzero.files.serialization import NETWORK_CLASSES, ModelFileError, load, load_info, save
from dlzero.layers import Affine, Relu
from dlzero.networks import FormulaTwoLayerNet, MultiLayerNet, Sequential, TwoLayerNet
from dlzero.optimizers import get_optimizer


def _train_a_little(net, x, t, steps=3):
    """A few Adam steps, so parameters and batch-norm statistics are not their initial values."""
    opt = get_optimizer("adam", lr=0.01)
    for _ in range(steps):
        _, grads = net.loss_and_gradient(x, t)
        opt.update(net.params, grads)


def _networks():
    rng = np.random.default_rng(0)
    x = rng.random((8, 100)).astype(np.float32)
    t = rng.integers(0, 10, 8)
    img = rng.random((8, 1, 12, 12)).astype(np.float32)
    nets = {
        "two-layer relu": (TwoLayerNet(100, 20, 10, rng=1), x),
        "two-layer sigmoid float64": (
            TwoLayerNet(100, 7, 10, activation="sigmoid", rng=2, dtype=np.float64),
            x.astype(np.float64),
        ),
        "multilayer batchnorm dropout": (
            MultiLayerNet(
                100,
                [16, 12],
                10,
                activation="tanh",
                weight_init_std="xavier",
                weight_decay_lambda=0.01,
                use_dropout=True,
                dropout_ratio=0.3,
                use_batchnorm=True,
                rng=3,
            ),
            x,
        ),
        "multilayer float init": (MultiLayerNet(100, [5], 10, weight_init_std=0.05, rng=4), x),
        "simple convnet": (
            SimpleConvNet((1, 12, 12), {"filter_num": 4, "filter_size": 3, "pad": 1}, 8, 10, rng=5),
            img,
        ),
        "deep convnet": (
            DeepConvNet((1, 12, 12), *[{"filter_num": 2}] * 6, hidden_size=6, rng=6),
            img,
        ),
    }
    for net, inputs in nets.values():
        _train_a_little(net, inputs, t)
    return nets


NETWORKS = _networks()


@pytest.mark.parametrize("name", list(NETWORKS))
def test_round_trip_predicts_exactly_as_saved(name, tmp_path):
    net, x = NETWORKS[name]
    path = tmp_path / "model.npz"
    save(net, path)
    loaded = load(path)

    assert type(loaded) is type(net)
    assert loaded.config == net.config
    assert list(loaded.params) == list(net.params)
    for key, value in net.params.items():
        assert loaded.params[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded.params[key], value)
    for (lname, layer), new_layer in zip(net.layers.items(), loaded.layers.values(), strict=True):
        for state in layer.state_names:
            np.testing.assert_array_equal(getattr(new_layer, state), getattr(layer, state), lname)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_batchnorm_running_statistics_are_saved(tmp_path):
    net, _ = NETWORKS["multilayer batchnorm dropout"]
    bn = net.layers["BatchNorm1"]
    # Trained, so not the initial zeros/ones: a loader that skipped them would fail below.
    assert not np.all(bn.running_mean == 0)
    save(net, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.layers["BatchNorm1"].running_var, bn.running_var)


def test_state_is_the_layers_own_arrays():
    net, _ = NETWORKS["multilayer batchnorm dropout"]
    assert list(net.state) == [
        "BatchNorm1.running_mean",
        "BatchNorm1.running_var",
        "BatchNorm2.running_mean",
        "BatchNorm2.running_var",
    ]
    assert net.state["BatchNorm2.running_var"] is net.layers["BatchNorm2"].running_var
    assert NETWORKS["two-layer relu"][0].state == {}


def test_the_loadable_classes_are_a_plain_dict_of_the_names_the_format_allows():
    assert type(NETWORK_CLASSES) is dict
    assert tuple(NETWORK_CLASSES) == NETWORK_NAMES
    assert all(cls.__name__ == name for name, cls in NETWORK_CLASSES.items())


def test_the_model_file_module_imports_no_network():
    import ast
    from pathlib import Path

    import dlzero.files.model_file

    tree = ast.parse(Path(dlzero.files.model_file.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    dlzero_imports = {m for m in imported if m and m.startswith("dlzero")}
    assert dlzero_imports == {"dlzero._io", "dlzero._version", "dlzero.files.npy_archive"}


def test_loaded_parameters_are_shared_with_the_layers(tmp_path):
    net, _ = NETWORKS["two-layer relu"]
    save(net, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.params["W1"] is loaded.layers["Affine1"].W  # an optimizer can train it on


def test_metadata_and_info(tmp_path):
    net, _ = NETWORKS["two-layer relu"]
    save(net, tmp_path / "m.npz", metadata={"dataset": "mnist", "seed": 7})
    info = load_info(tmp_path / "m.npz")
    assert info["class"] == "TwoLayerNet"
    assert info["config"] == net.config
    assert info["metadata"] == {"dataset": "mnist", "seed": 7}
    assert info["params"] == ["W1", "b1", "W2", "b2"]


def test_path_is_written_exactly_as_given(tmp_path):
    net, _ = NETWORKS["two-layer relu"]
    save(net, tmp_path / "model")  # numpy alone would write model.npz
    assert (tmp_path / "model").is_file()
    assert not (tmp_path / "model.npz").exists()


def test_save_refuses_networks_it_cannot_rebuild(tmp_path):
    rng = np.random.default_rng(0)
    plain = Sequential([Affine(rng.random((3, 2)), np.zeros(2)), Relu()])
    with pytest.raises(ValueError, match="cannot save a Sequential"):
        save(plain, tmp_path / "m.npz")

    class MyNet(TwoLayerNet):
        pass

    with pytest.raises(ValueError, match="cannot save a MyNet"):
        save(MyNet(3, 2, 2), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="cannot save a MyNet"):
        save(MyNet(3, 2, 2), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="cannot save a FormulaTwoLayerNet"):
        save(FormulaTwoLayerNet(3, 2, 2), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    net, _ = NETWORKS["two-layer relu"]
    with pytest.raises(ValueError, match="JSON"):
        save(net, tmp_path / "m.npz", metadata={"bad": object()})


def test_interrupted_save_leaves_the_previous_file(tmp_path, monkeypatch):
    old, x = NETWORKS["two-layer relu"]
    path = tmp_path / "model.npz"
    save(old, path)
    before = path.read_bytes()

    def half_written(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    monkeypatch.setattr(np, "savez_compressed", half_written)
    with pytest.raises(KeyboardInterrupt):
        save(NETWORKS["two-layer sigmoid float64"][0], path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary file left
    np.testing.assert_array_equal(load(path).predict(x), old.predict(x))


# -- crafted and damaged files -----------------------------------------------------------------


class _Payload:
    """Unpickling this creates the file ``marker``: what an attacker's code could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _header(**changes):
    net, _ = NETWORKS["two-layer relu"]
    header = {
        "format": "dlzero-model",
        "version": 1,
        "class": "TwoLayerNet",
        "config": net.config,
        "params": list(net.params),
        "state": [],
        "metadata": {},
    }
    header.update(changes)
    return np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


def _arrays(**changes):
    net, _ = NETWORKS["two-layer relu"]
    arrays = {"__dlzero__": _header()}
    arrays.update({f"param.{k}": v for k, v in net.params.items()})
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def _write(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)  # allow_pickle=True when writing: object arrays are pickled
    return path


def test_valid_handmade_file_loads(tmp_path):
    # The helpers below make a loadable file when nothing is changed: the failures that follow
    # are caused by the change each one makes.
    net, x = NETWORKS["two-layer relu"]
    loaded = load(_write(tmp_path / "ok.npz", _arrays()))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


@pytest.mark.parametrize("where", ["param.W1", "__dlzero__", "param.extra"])
def test_pickle_payload_is_never_run(tmp_path, where):
    marker = tmp_path / "pwned"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    path = _write(tmp_path / "evil.npz", _arrays(**{where: payload}))

    with pytest.raises(ModelFileError, match=r"pickle|unexpected param\.extra"):
        load(path)
    if where == "__dlzero__":
        with pytest.raises(ModelFileError, match="pickle"):
            load_info(path)
    assert not marker.exists()

    # The payload is live: numpy with pickle allowed runs it. So the test above can fail.
    np.load(path, allow_pickle=True)[where]
    assert marker.exists()


def test_raw_pickle_file_is_refused_without_running(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelFileError, match="not a dlzero model"):
        load(path)
    assert not marker.exists()


def test_header_cannot_choose_what_to_call(tmp_path):
    marker = tmp_path / "pwned"
    for cls in ("os.system", "builtins.open", "Sequential", "FormulaTwoLayerNet"):
        arrays = _arrays(__dlzero__=_header(**{"class": cls}))
        with pytest.raises(ModelFileError, match="unknown network class"):
            load(_write(tmp_path / "m.npz", arrays))
    config = dict(NETWORKS["two-layer relu"][0].config, rng=str(marker))
    with pytest.raises(ModelFileError, match="cannot rebuild"):
        load(_write(tmp_path / "m.npz", _arrays(__dlzero__=_header(config=config))))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a dlzero model"),
        (b"hello, world\n", "not a dlzero model"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a dlzero model"),
        (b"\x93NUMPY\x01\x00", "not a dlzero model"),
    ],
)
def test_not_a_model(tmp_path, content, message):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)


def test_plain_npz_without_header(tmp_path):
    with pytest.raises(ModelFileError, match="no '__dlzero__' header"):
        load(_write(tmp_path / "m.npz", {"W1": np.zeros(3)}))


def test_zip_with_other_files(tmp_path):
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ModelFileError, match="other than arrays"):
        load(path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file(tmp_path, fraction):
    net, _ = NETWORKS["two-layer relu"]
    path = tmp_path / "m.npz"
    save(net, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        load(path)


def test_corrupted_bytes(tmp_path):
    net, _ = NETWORKS["two-layer relu"]
    path = tmp_path / "m.npz"
    save(net, path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        load(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"param.W1": np.zeros((100, 21), np.float32)}, r"\(100, 21\) float32 in the file"),
        ({"param.W1": np.zeros((100, 20), np.float64)}, "float64 in the file"),
        ({"param.b2": np.zeros(10, np.int64)}, "int64 in the file"),
        ({"param.b2": None}, "missing param.b2"),
        ({"param.W3": np.zeros(3, np.float32)}, "unexpected param.W3"),
        ({"__dlzero__": _header(params=["W1", "b1"])}, "missing param.W2, param.b2"),
        ({"__dlzero__": _header(format="other")}, "not a dlzero model"),
        ({"__dlzero__": _header(version=2)}, "newer dlzero"),
        ({"__dlzero__": _header(config={"input_size": 100, "dtype": "float32"})}, "cannot rebuild"),
        ({"__dlzero__": _header(config=[1])}, "'config' is not a JSON object"),
        ({"__dlzero__": np.frombuffer(b"{not json", np.uint8)}, "not valid JSON"),
        ({"__dlzero__": np.zeros(3, np.float32)}, "expected at most"),
    ],
)
def test_mismatched_or_bad_contents(tmp_path, changes, message):
    with pytest.raises(ModelFileError, match=message):
        load(_write(tmp_path / "m.npz", _arrays(**changes)))


def test_bad_dtype_in_config(tmp_path):
    config = dict(NETWORKS["two-layer relu"][0].config, dtype="object")
    with pytest.raises(ModelFileError, match="config dtype 'object'"):
        load(_write(tmp_path / "m.npz", _arrays(__dlzero__=_header(config=config))))


def test_missing_file_and_folder_are_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.npz")
    with pytest.raises(IsADirectoryError):
        load(tmp_path)
