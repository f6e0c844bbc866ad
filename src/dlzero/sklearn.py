"""``dlzero.sklearn``: the scikit-learn estimator, kept importable here (as xgboost and
lightgbm keep theirs); it lives in :mod:`dlzero.interop.sklearn`."""

from dlzero.interop.sklearn import DlzeroClassifier

__all__ = ["DlzeroClassifier"]
