"""The book's ``MultiLayerNetExtend``, with the book's names, methods and dropout.

:class:`MultiLayerNetExtend` is a :class:`~dlzero.networks.MultiLayerNet` as the book's
``common/multi_layer_net_extend.py`` spells it: the keyword ``dropout_ration``, the attribute
``lastLayer``, the methods ``save_params`` and ``load_params``, and the book's dropout
(:class:`~dlzero.book.layers.BookDropout`). dlzero's own networks use inverted dropout, which
scales the kept units by ``1 / (1 - ratio)`` in training. At inference both kinds give the same
network, but in training the scale compounds layer after layer: the book's six-dropout-layer
experiment (``ch06/overfit_dropout.py``, at the book's learning rate) then learns much faster
than the book shows (test accuracy about 0.72 against the book code's 0.47-0.57 after 301
epochs). With the book's dropout the script follows the book's curve.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from dlzero._rng import RngLike
from dlzero.book.layers import BookDropout
from dlzero.book.params import load_params, save_params
from dlzero.layers import Dropout, Layer
from dlzero.networks import MultiLayerNet

__all__ = ["MultiLayerNetExtend"]


class MultiLayerNetExtend(MultiLayerNet):
    """The book's ``MultiLayerNetExtend``: a :class:`~dlzero.networks.MultiLayerNet` with the
    book's keywords (``dropout_ration``), ``lastLayer``, ``save_params``, ``load_params``, and
    :class:`~dlzero.book.layers.BookDropout` layers drawing from the network's random source.

    ``dlzero.save`` refuses it: a model file would load as a network with inverted dropout,
    which trains differently. ``save_params`` and ``load_params`` work (a file it saves loads
    back into a network built the same way). As everywhere in dlzero, the network is float32
    unless ``dtype`` says otherwise.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: Sequence[int],
        output_size: int,
        activation: str = "relu",
        weight_init_std: str | float = "relu",
        weight_decay_lambda: float = 0.0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size_list,
            output_size,
            activation=activation,
            weight_init_std=weight_init_std,
            weight_decay_lambda=weight_decay_lambda,
            use_dropout=use_dropout,
            dropout_ratio=dropout_ration,
            use_batchnorm=use_batchnorm,
            rng=rng,
            dtype=dtype,
        )
        for name, layer in self.layers.items():
            if type(layer) is Dropout:
                book = BookDropout(layer.dropout_ratio)
                book.rng = layer.rng  # the masks come from where the network's would
                self.layers[name] = book

    @property
    def dropout_ration(self) -> float:
        """The book's name for ``dropout_ratio``."""
        return self.dropout_ratio

    @property
    def lastLayer(self) -> Layer:
        """The book's name for ``last_layer``."""
        return self.last_layer

    def save_params(self, file_name: str | os.PathLike[str] = "params.pkl") -> None:
        """The book's method: :func:`dlzero.book.save_params` (an ``.npz`` archive)."""
        save_params(self, file_name)

    def load_params(self, file_name: str | os.PathLike[str] = "params.pkl") -> None:
        """The book's method: :func:`dlzero.book.load_params` (the book's ``.pkl`` too)."""
        load_params(self, file_name)
