"""The book's ``MultiLayerNetExtend`` as ``dlzero book`` gives it: with the book's dropout.

dlzero's :class:`~dlzero.networks.MultiLayerNetExtend` uses inverted dropout, which scales the
kept units by ``1 / (1 - ratio)`` in training. At inference both kinds give the same network,
but in training the scale compounds layer after layer: the book's six-dropout-layer
experiment (``ch06/overfit_dropout.py``, at the book's learning rate) then learns much faster
than the book shows (test accuracy about 0.72 against the book code's 0.47-0.57 after 301
epochs). Under ``dlzero book`` the network has the book's :class:`~dlzero.layers.BookDropout`
instead, so the script follows the book's curve.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dlzero import networks
from dlzero.layers import BookDropout, Dropout

__all__ = ["MultiLayerNetExtend"]


class MultiLayerNetExtend(networks.MultiLayerNetExtend):
    """:class:`dlzero.networks.MultiLayerNetExtend` with the book's dropout scaling.

    Takes the same arguments. Each ``Dropout`` layer is a
    :class:`~dlzero.layers.BookDropout` drawing from the same random source. ``save_params``
    and ``load_params`` work as on any network (a file it saves loads back into a network built
    the same way); :meth:`save` is refused, because the model file would load as a network
    with inverted dropout, which predicts differently.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, layer in self.layers.items():
            if type(layer) is Dropout:
                book = BookDropout(layer.dropout_ratio)
                book.rng = layer.rng  # the masks come from where the network's would
                self.layers[name] = book

    def save(
        self, path: str | os.PathLike[str], *, metadata: Mapping[str, object] | None = None
    ) -> None:
        """Refused: see the class docstring."""
        raise ValueError(
            "this MultiLayerNetExtend has the book's dropout (dlzero book), which a model file "
            "cannot record; use save_params(path) and load_params(path) on a network built "
            "with the same arguments"
        )
