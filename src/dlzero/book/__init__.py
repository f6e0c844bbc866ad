"""Everything for the book's own code, in one place.

- :mod:`dlzero.book.runner`: ``dlzero book SCRIPT.py`` runs one of the book's scripts
  unchanged, its ``common.*`` and ``dataset.mnist`` imports answered by dlzero
  (:mod:`dlzero.book.hook`; :mod:`dlzero.book.util` is the book's ``common/util``).
- :mod:`dlzero.book.layers`: :class:`BookDropout`, the book's dropout scaling.
- :mod:`dlzero.book.networks`: :class:`MultiLayerNetExtend` with the book's names, dropout,
  ``lastLayer``, ``save_params`` and ``load_params``.
- :mod:`dlzero.book.params`: :func:`save_params` and :func:`load_params` for any dlzero network,
  reading the book's pickles through :mod:`dlzero.book.unpickler` (only arrays are built) and
  folding the book's inference-time dropout factor into the weights.
- :mod:`dlzero.book.trainer`: :class:`BookTrainer`, the book's ``common/trainer.py`` on
  dlzero's :class:`~dlzero.training.Trainer`.
- :mod:`dlzero.book.ipython`: ``%load_ext dlzero.book`` (the two functions below), the same
  imports in IPython and Jupyter; :mod:`dlzero.book.kernel` installs a Jupyter kernel that
  loads it, and :mod:`dlzero.book.notebook` runs a notebook with it (``dlzero book NB.ipynb``).
  Neither imports IPython or Jupyter until used.

``docs/book.md`` has the table of which dlzero name answers each of the book's.
"""

from dlzero.book.ipython import load_ipython_extension, unload_ipython_extension
from dlzero.book.layers import BookDropout
from dlzero.book.networks import MultiLayerNetExtend
from dlzero.book.params import (
    ParamFileError,
    load_params,
    read_params,
    save_params,
)
from dlzero.book.trainer import BookTrainer

__all__ = [
    "BookDropout",
    "BookTrainer",
    "MultiLayerNetExtend",
    "ParamFileError",
    "load_ipython_extension",
    "load_params",
    "read_params",
    "save_params",
    "unload_ipython_extension",
]
