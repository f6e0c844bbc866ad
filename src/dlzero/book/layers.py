"""The book's ``Dropout``, for the book's own network classes and weights.

dlzero's :class:`~dlzero.layers.Dropout` is inverted dropout; :class:`BookDropout` scales as
the book's ``common/layers.py`` does. ``dlzero book`` gives it to the book's scripts as
``common.layers.Dropout``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dlzero._rng import RngLike
from dlzero.layers import Dropout
from dlzero.layers.basic import _scalar

__all__ = ["BookDropout"]


class BookDropout(Dropout):
    """Dropout with the book's scaling: kept units unscaled in training, ``x * (1 - ratio)`` at
    inference (``common/layers.py``).

    dlzero's networks use :class:`Dropout` (inverted dropout). This class is for running the
    book's own network classes (``ch08/deep_convnet.py``) with weights trained by the book's
    code, which expect the factor at inference: with :class:`Dropout` instead, the book's
    ``deep_convnet_params.pkl`` changes 6 of the 10,000 MNIST test predictions. (A dlzero
    network's weights loaded by :func:`dlzero.book.load_params` have the factor folded in.)
    """

    def __init__(self, dropout_ratio: float = 0.5, rng: RngLike = None) -> None:
        super().__init__(dropout_ratio, rng)
        self._scale = 1.0  # training keeps units as they are

    def forward(self, x: NDArray, train_flg: bool = True) -> NDArray:  # type: ignore[override]
        """x : ndarray, any shape -> ndarray, same shape."""
        if train_flg:
            return super().forward(x, True)
        x = np.asarray(x)
        self._trained = False
        return x * _scalar(1.0 - self.dropout_ratio, x)

    def backward(self, dout: NDArray) -> NDArray:
        """dout -> dx: through the kept units in training, times ``1 - ratio`` after inference."""
        if self._trained:
            return super().backward(dout)
        return dout * _scalar(1.0 - self.dropout_ratio, dout)

    def __repr__(self) -> str:
        return f"BookDropout(dropout_ratio={self.dropout_ratio})"
