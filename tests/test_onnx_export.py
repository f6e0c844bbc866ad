"""ONNX export: every kind of network, run in onnxruntime, agrees with dlzero on MNIST.

Each network is trained for a few steps (so its predictions are not near-ties), exported, and
run by onnxruntime and by dlzero on real test images: the predicted class must be the same on
every image and the probabilities within 1e-5.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import dlzero  # noqa: E402
from dlzero.convnets import DeepConvNet, SimpleConvNet  # noqa: E402
from dlzero.datasets import load_mnist  # noqa: E402
from dlzero.functions import softmax  # noqa: E402
from dlzero.interop.onnx import IR_VERSION, OPSET, build_onnx_model, export  # noqa: E402
from dlzero.layers import (  # noqa: E402
    Affine,
    BatchNormalization,
    Convolution,
    Layer,
    Pooling,
    Relu,
    Tanh,
)
from dlzero.networks import MultiLayerNet, Sequential, TwoLayerNet  # noqa: E402
from dlzero.optimizers import Adam  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(normalize=True, flatten=True)


def train(network, x, t, steps, image_shape=None):
    """A few Adam steps on the first 5,000 training images, so the scores are not near-ties."""
    rng = np.random.default_rng(0)
    optimizer = Adam(lr=0.002)
    for _ in range(steps):
        batch = rng.integers(0, 5000, 50)
        xb = x[batch] if image_shape is None else x[batch].reshape(-1, *image_shape)
        _, grads = network.loss_and_gradient(xb, t[batch])
        optimizer.update(network.params, grads)
    return network


def run_onnx(path, x):
    """The exported model's output on ``x``, laid out as its input declares."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the test machine's cores are shared
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (images,) = session.get_inputs()
    x = x.reshape(len(x), *images.shape[1:]).astype(np.float32)
    (probabilities,) = session.run(["probabilities"], {"images": x})
    return probabilities


def assert_agrees(network, path, x):
    """onnxruntime and dlzero: the same class on every image, probabilities within 1e-5."""
    expected = softmax(network.predict(x.reshape(len(x), *network_input_shape(network))))
    got = run_onnx(path, x)
    assert got.shape == expected.shape and got.dtype == np.float32
    difference = float(np.max(np.abs(got - expected)))
    agreement = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    top_two = np.sort(expected, axis=1)[:, -2:]
    closest_call = float(np.min(top_two[:, 1] - top_two[:, 0]))  # far above the differences
    print(
        f"{type(network).__name__}: {len(x)} images, same class {agreement:.2%}, "
        f"max |p difference| {difference:.2e}, closest call {closest_call:.2e}"
    )
    assert agreement == 1.0
    assert difference < TOLERANCE
    return difference


def network_input_shape(network):
    config = network.config
    return tuple(config["input_dim"]) if "input_dim" in config else (config["input_size"],)


def op_types(model):
    return [node.op_type for node in model.graph.node]


def declared_shape(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


# -- every kind of network, on real test images -------------------------------------------------


def test_two_layer_net_on_all_test_images(mnist, tmp_path):
    (x, t), (x_test, _) = mnist
    net = train(TwoLayerNet(784, 50, 10, rng=0), x, t, steps=150)
    model = export(net, tmp_path / "two.onnx")
    assert op_types(model) == ["Gemm", "Relu", "Gemm", "Softmax"]
    assert_agrees(net, tmp_path / "two.onnx", x_test)


def test_sigmoid_float64_mlp_on_all_test_images(mnist, tmp_path):
    (x, t), (x_test, _) = mnist
    net = MultiLayerNet(784, [50], 10, activation="sigmoid", rng=1, dtype=np.float64)
    train(net, x.astype(np.float64), t, steps=150)
    model = export(net, tmp_path / "sigmoid.onnx")
    assert op_types(model) == ["Gemm", "Sigmoid", "Gemm", "Softmax"]
    # float64 weights are stored as float32
    assert {w.data_type for w in model.graph.initializer} == {onnx.TensorProto.FLOAT}
    assert_agrees(net, tmp_path / "sigmoid.onnx", x_test.astype(np.float64))


def test_batchnorm_dropout_tanh_mlp_on_all_test_images(mnist, tmp_path):
    (x, t), (x_test, _) = mnist
    net = MultiLayerNet(
        784,
        [50, 50],
        10,
        activation="tanh",
        use_batchnorm=True,
        use_dropout=True,
        dropout_ratio=0.2,
        rng=2,
    )
    train(net, x, t, steps=60)
    assert not np.allclose(net.layers["BatchNorm1"].running_var, 1)  # trained statistics
    model = export(net, tmp_path / "bn.onnx")
    # dropout leaves no node: it is the identity at inference
    assert op_types(model) == [
        *["Gemm", "BatchNormalization", "Tanh"] * 2,
        *["Gemm", "Softmax"],
    ]
    assert_agrees(net, tmp_path / "bn.onnx", x_test)


def test_simple_conv_net_on_all_test_images(mnist, tmp_path):
    (x, t), (x_test, _) = mnist
    # Fewer filters than the book's 30 and a smaller hidden layer: the same graph, 3x faster.
    net = SimpleConvNet(conv_param={"filter_num": 10}, hidden_size=50, weight_init_std=0.1, rng=3)
    train(net, x, t, steps=30, image_shape=(1, 28, 28))
    model = export(net, tmp_path / "cnn.onnx")
    assert op_types(model) == [
        *["Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm", "Softmax"]
    ]
    assert_agrees(net, tmp_path / "cnn.onnx", x_test)


def test_deep_conv_net_on_300_test_images(mnist, tmp_path):
    _, (x_test, _) = mnist
    net = DeepConvNet(rng=4)  # He initialization: its scores are far from ties untrained
    model = export(net, tmp_path / "deep.onnx")
    assert op_types(model).count("Conv") == 6
    assert op_types(model).count("MaxPool") == 3
    assert "Dropout" not in op_types(model)
    assert_agrees(net, tmp_path / "deep.onnx", x_test[:300])


def test_conv_batchnorm_avg_pooling_padding_and_stride(mnist, tmp_path):
    """The layer options the book's networks do not use: per-channel batch norm on 4-D input,
    average pooling, padded max pooling, a strided convolution, tanh on images."""
    _, (x_test, _) = mnist
    rng = np.random.default_rng(5)

    def normal(*shape, std=0.3):
        return (std * rng.standard_normal(shape)).astype(np.float32)

    batch_norm = BatchNormalization(
        1 + normal(4),
        normal(4),
        running_mean=normal(4),
        running_var=np.float32(0.5) + rng.random(4, np.float32),
    )
    net = Sequential(
        [
            Convolution(normal(4, 1, 3, 3), normal(4), stride=1, pad=1),  # 28x28
            batch_norm,
            Relu(),
            Pooling(2, 2, stride=2, mode="avg"),  # 14x14
            Pooling(3, 3, stride=1, pad=1),  # 14x14, max over padded windows
            Convolution(normal(6, 4, 4, 4), normal(6), stride=2, pad=1),  # 7x7
            Tanh(),
            Affine(normal(6 * 7 * 7, 10), normal(10)),
        ]
    )
    model = export(net, tmp_path / "options.onnx", input_shape=(1, 28, 28))
    assert op_types(model)[:5] == ["Conv", "BatchNormalization", "Relu", "AveragePool", "MaxPool"]
    x = x_test[:300].reshape(-1, 1, 28, 28)
    expected = softmax(net.predict(x))
    got = run_onnx(tmp_path / "options.onnx", x)
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    assert np.max(np.abs(got - expected)) < TOLERANCE


def test_a_fully_connected_network_can_take_image_batches(mnist, tmp_path):
    _, (x_test, _) = mnist
    net = TwoLayerNet(784, 20, 10, weight_init_std=0.1, rng=6)
    model = export(net, tmp_path / "images.onnx", input_shape=(1, 28, 28))
    assert declared_shape(model.graph.input[0]) == ["N", 1, 28, 28]
    assert op_types(model)[0] == "Flatten"
    got = run_onnx(tmp_path / "images.onnx", x_test[:100])
    assert np.max(np.abs(got - softmax(net.predict(x_test[:100])))) < TOLERANCE


# -- the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "input_shape"),
    [
        (TwoLayerNet(784, 50, 10, rng=0), [784]),
        (SimpleConvNet(conv_param={"filter_num": 4}, hidden_size=8, rng=0), [1, 28, 28]),
    ],
)
def test_the_file_passes_the_checker_and_declares_its_layout(network, input_shape, tmp_path):
    path = tmp_path / "model.onnx"
    export(network, path)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert model.ir_version == IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert model.producer_name == "dlzero"
    (images,), (probabilities,) = model.graph.input, model.graph.output
    assert images.name == "images" and probabilities.name == "probabilities"
    assert declared_shape(images) == ["N", *input_shape]  # a free batch dimension
    assert declared_shape(probabilities) == ["N", 10]
    assert images.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    props = {p.key: p.value for p in model.metadata_props}
    assert props["dlzero.class"] == type(network).__name__
    assert props["dlzero.input_layout"] == "(N, " + ", ".join(map(str, input_shape)) + ")"
    # nothing left behind by the atomic write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_the_batch_size_is_free(tmp_path):
    net = TwoLayerNet(784, 10, 10, weight_init_std=0.1, rng=0)
    export(net, tmp_path / "model.onnx")
    for n in (1, 7):
        x = np.random.default_rng(n).random((n, 784), dtype=np.float32)
        probabilities = run_onnx(tmp_path / "model.onnx", x)
        assert probabilities.shape == (n, 10)
        assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-6)


# -- errors -----------------------------------------------------------------------------------


class Swish(Layer):
    def forward(self, x):
        return x / (1 + np.exp(-x))


class LeakyRelu(Relu):
    def forward(self, x):
        return np.where(x > 0, x, 0.01 * x)


@pytest.mark.parametrize("layer", [Swish(), LeakyRelu()])
def test_an_unknown_layer_is_refused_by_name(layer, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    net = Sequential(
        [Affine(np.ones((4, 3)), np.zeros(3)), layer, Affine(np.ones((3, 2)), np.zeros(2))]
    )
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"cannot export layer '{name}1' \({name}\)"):
        export(net, path)
    assert path.read_bytes() == b"previous"


def test_a_last_layer_other_than_softmax_with_loss_is_refused():
    net = Sequential([Affine(np.ones((4, 2)), np.zeros(2))], last_layer=Relu())
    with pytest.raises(ValueError, match="last layer must be SoftmaxWithLoss"):
        build_onnx_model(net)


def test_an_input_shape_that_does_not_fit_is_refused():
    net = SimpleConvNet(conv_param={"filter_num": 2}, hidden_size=4, rng=0)
    with pytest.raises(ValueError, match=r"does not take samples of shape \(784,\)"):
        build_onnx_model(net, input_shape=(784,))
    plain = Sequential([Convolution(np.ones((2, 1, 3, 3)), np.zeros(2)), Relu()])
    with pytest.raises(ValueError, match="pass input_shape"):
        build_onnx_model(plain)


def test_without_onnx_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails
    path = tmp_path / "model.onnx"
    with pytest.raises(ImportError, match=re.escape("pip install 'dlzero[onnx]'")):
        export(TwoLayerNet(4, 3, 2, rng=0), path)
    assert not path.exists()


def test_training_and_the_command_line_never_import_onnx():
    code = (
        "import sys, dlzero, dlzero.interop.onnx, dlzero.cli; dlzero.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_export_module_imports_no_network():
    tree = ast.parse((ROOT / "src" / "dlzero" / "interop" / "onnx.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"dlzero.networks", "dlzero.convnets", "dlzero.files.serialization"}


# -- the documentation ------------------------------------------------------------------------


def test_the_python_in_docs_onnx_md_runs(mnist, tmp_path, monkeypatch, capsys):
    """The page's snippets, in order: export a saved model, then run it from onnxruntime."""
    (x, t), _ = mnist
    dlzero.save(train(TwoLayerNet(784, 50, 10, rng=0), x, t, steps=150), tmp_path / "model.npz")
    page = (ROOT / "docs" / "onnx.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    assert len(snippets) == 2
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for snippet in snippets:
        exec(compile(snippet, "docs/onnx.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "images ['N', 784]" in out
    accuracy = float(re.search(r"test accuracy (\d+\.\d+)%", out).group(1))
    assert accuracy > 80
