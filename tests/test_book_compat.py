"""A script written for the book runs unchanged when common/*.py only re-export dlzero."""

import subprocess
import sys
import textwrap


def test_book_chapter5_script_runs_against_reexporting_common_modules(tmp_path):
    common = tmp_path / "common"
    common.mkdir()
    (common / "__init__.py").write_text("")
    (common / "functions.py").write_text("from dlzero.functions import *  # noqa\n")
    (common / "layers.py").write_text("from dlzero.layers import *  # noqa\n")
    ch05 = tmp_path / "ch05"
    ch05.mkdir()
    # The book's two_layer_net.py (chapter 5), as its readers have it, on synthetic data.
    (ch05 / "script.py").write_text(
        textwrap.dedent("""
        import sys, os
        sys.path.append(os.pardir)
        import numpy as np
        from common.layers import *
        from common.functions import sigmoid, sigmoid_grad, softmax, cross_entropy_error
        from collections import OrderedDict

        class TwoLayerNet:
            def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
                self.params = {}
                self.params['W1'] = weight_init_std * np.random.randn(input_size, hidden_size)
                self.params['b1'] = np.zeros(hidden_size)
                self.params['W2'] = weight_init_std * np.random.randn(hidden_size, output_size)
                self.params['b2'] = np.zeros(output_size)
                self.layers = OrderedDict()
                self.layers['Affine1'] = Affine(self.params['W1'], self.params['b1'])
                self.layers['Relu1'] = Relu()
                self.layers['Affine2'] = Affine(self.params['W2'], self.params['b2'])
                self.lastLayer = SoftmaxWithLoss()

            def predict(self, x):
                for layer in self.layers.values():
                    x = layer.forward(x)
                return x

            def loss(self, x, t):
                y = self.predict(x)
                return self.lastLayer.forward(y, t)

            def accuracy(self, x, t):
                y = self.predict(x)
                y = np.argmax(y, axis=1)
                if t.ndim != 1 : t = np.argmax(t, axis=1)
                return np.sum(y == t) / float(x.shape[0])

            def gradient(self, x, t):
                self.loss(x, t)
                dout = 1
                dout = self.lastLayer.backward(dout)
                layers = list(self.layers.values())
                layers.reverse()
                for layer in layers:
                    dout = layer.backward(dout)
                grads = {}
                grads['W1'], grads['b1'] = self.layers['Affine1'].dW, self.layers['Affine1'].db
                grads['W2'], grads['b2'] = self.layers['Affine2'].dW, self.layers['Affine2'].db
                return grads

        np.random.seed(0)
        centers = np.random.randn(3, 20) * 3
        t_int = np.random.randint(0, 3, 300)
        x = centers[t_int] + np.random.randn(300, 20)
        t = np.eye(3)[t_int]
        net = TwoLayerNet(20, 10, 3)
        for i in range(300):
            mask = np.random.choice(300, 30)
            grad = net.gradient(x[mask], t[mask])
            for key in ('W1', 'b1', 'W2', 'b2'):
                net.params[key] -= 0.1 * grad[key]
        y = softmax(net.predict(x))
        print(net.accuracy(x, t), cross_entropy_error(y, t), float(sigmoid(0.0)),
              float(sigmoid_grad(0.0)))
    """)
    )
    out = subprocess.run(
        [sys.executable, "script.py"], cwd=ch05, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    acc, loss, sig, sig_grad = map(float, out.stdout.split())
    assert acc > 0.9 and loss < 0.5
    assert (sig, sig_grad) == (0.5, 0.25)


def test_chapter7_layers_come_with_a_star_import_of_the_layers():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dlzero.layers import *; "
            "assert Convolution.__module__ == Pooling.__module__ == 'dlzero.layers.conv'; "
            "assert Affine and Relu and SoftmaxWithLoss and Dropout and BatchNormalization",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
