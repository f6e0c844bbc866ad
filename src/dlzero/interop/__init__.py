"""Bridges to other tools, each an optional extra; nothing in the core imports them.

- :mod:`dlzero.interop.onnx`: :func:`~dlzero.interop.onnx.export`, a network as a standard
  ONNX graph (``pip install 'dlzero[onnx]'``).
- :mod:`dlzero.interop.sklearn`: ``DlzeroClassifier``, a scikit-learn estimator, also
  importable as ``dlzero.sklearn`` (``pip install 'dlzero[sklearn]'``).
- :mod:`dlzero.interop.dask`: searches and comparisons on a Dask cluster
  (``pip install 'dlzero[dask]'``).
"""
