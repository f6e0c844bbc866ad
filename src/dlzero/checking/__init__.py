"""Check your own code: a layer's ``backward`` against numerical gradients.

The book asks the reader to write the layers themselves; :func:`check_layer` says whether they
are right, and if not, which gradient is wrong and which usual mistake fits::

    from dlzero import check_layer
    print(check_layer(MyAffine(W, b), x))          # PASS MyAffine: dx, dW and db match ...

It never raises for wrong code: an exception, a None or a wrong shape is reported, and
``NotImplementedError`` (an exercise left blank) reads "not written yet".
"""

from dlzero.checking.layer import check_layer
from dlzero.checking.report import GradientResult, LayerCheck

__all__ = ["GradientResult", "LayerCheck", "check_layer"]
