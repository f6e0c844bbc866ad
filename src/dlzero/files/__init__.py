"""Model files: a network's architecture and weights in one ``.npz`` file, never a pickle.

- :mod:`dlzero.files.model_file`: the format alone (a NumPy ``.npz`` archive with a JSON
  header, written atomically); it imports no network.
- :mod:`dlzero.files.serialization`: :func:`save`, :func:`load` and :func:`load_info`,
  which rebuild a network from its file.

The book's parameter files (``save_params``/``load_params``, its pickles) are in
:mod:`dlzero.book.params`.
"""

from dlzero.files.model_file import ModelFileError
from dlzero.files.serialization import NETWORK_CLASSES, load, load_info, save

__all__ = ["NETWORK_CLASSES", "ModelFileError", "load", "load_info", "save"]
