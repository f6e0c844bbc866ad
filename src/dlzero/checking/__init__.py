"""Check your own code: a layer's ``backward``, an optimizer's ``update``, any function.

The book asks the reader to write the layers and optimizers themselves; these checks say
whether they are right, and if not, which gradient is wrong and which usual mistake fits::

    from dlzero import check_layer
    print(check_layer(MyAffine(W, b), x))          # PASS MyAffine: dx, dW and db agree ...

- :func:`check_layer`: a layer's gradients against central differences, with hints.
- :func:`check_optimizer`: a few steps of an ``update(params, grads)`` against dlzero's own
  optimizer of the same name (the book's formulas).
- :func:`check_function`: a function's result against the expected one (a value, or a function
  that computes it).

None of them raises for wrong code: an exception, a None or a wrong shape is reported, and
``NotImplementedError`` (an exercise left blank) reads "not written yet".
"""

from dlzero.checking.function import FunctionCheck, check_function
from dlzero.checking.layer import check_layer
from dlzero.checking.optimizer import OptimizerCheck, check_optimizer
from dlzero.checking.report import GradientResult, LayerCheck

__all__ = [
    "FunctionCheck",
    "GradientResult",
    "LayerCheck",
    "OptimizerCheck",
    "check_function",
    "check_layer",
    "check_optimizer",
]
