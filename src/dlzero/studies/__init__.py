"""Studies built on the library: what a learner runs to look at a network, not to build one.

- :mod:`~dlzero.studies.search`: random search over learning rate and weight decay (6.5).
- :mod:`~dlzero.studies.activations_study`: the activation histograms of Figures 6-10 to 6-14.
- :mod:`~dlzero.studies.evaluation`: per-class precision and recall, confusion matrix, mistakes.
- :mod:`~dlzero.studies.augment`: random shifts and rotations of training images.
- :mod:`~dlzero.studies.digits`: your own digit, prepared the way MNIST was made.
- :mod:`~dlzero.studies.backprop`: one input forward and backward, node by node (chapter 5).
- :mod:`~dlzero.studies.apples`: the book's apple examples, computed by its layers.
"""

from dlzero.studies import (
    activations_study,
    apples,
    augment,
    backprop,
    digits,
    evaluation,
    search,
)

__all__ = [
    "activations_study",
    "apples",
    "augment",
    "backprop",
    "digits",
    "evaluation",
    "search",
]
