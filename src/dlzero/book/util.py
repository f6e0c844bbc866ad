"""The book's ``common/util.py``, from dlzero's modules: what ``import common.util`` gives.

Its names live where they belong in dlzero (:func:`~dlzero.layers.im2col.im2col` and
:func:`~dlzero.layers.im2col.col2im` with the convolution, :func:`~dlzero.plotting.smooth_curve`
with the plots, :func:`~dlzero.training.shuffle_dataset` with the training data); only
:func:`conv_output_size` is defined here, because the book's returns a float.
"""

from __future__ import annotations

from dlzero.layers.im2col import col2im, im2col
from dlzero.plotting.curves import smooth_curve
from dlzero.training.data import shuffle_dataset

__all__ = ["col2im", "conv_output_size", "im2col", "shuffle_dataset", "smooth_curve"]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> float:
    """``(input_size + 2*pad - filter_size) / stride + 1`` as the book computes it: a float.

    A result with a fraction means that the stride does not divide the input; the layers
    then floor it, as :func:`dlzero.layers.im2col.conv_output_size` (an int) does.
    """
    return (input_size + 2 * pad - filter_size) / stride + 1
