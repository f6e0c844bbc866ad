"""The fast paths: the same math as the layers, fused, for the networks people train most.

Read :mod:`dlzero.layers` and :mod:`dlzero.sequential` first: they are the book's algorithms,
and the fast paths are proven equal to them by the tests (same masks, same numbers). Here:

- :mod:`dlzero.fast.mlp`: ``FusedMLP``, a plain MLP's training step and forward pass.
- :mod:`dlzero.fast.conv` and :mod:`dlzero.fast.stages`: ``FusedConvNet``, the same for
  ``SimpleConvNet`` and ``DeepConvNet``.
- :mod:`dlzero.fast.cache`: ``BufferCache``, the arrays each of them reuses.
- :mod:`dlzero.fast.choose`: the one place that picks a fast path for a network, or the
  network's own methods where none covers it. The trainer, ``dlzero evaluate``, ``serve`` and
  the scikit-learn estimator call it.

A fused step is anything with the four methods of :class:`FusedStep`.
"""

from dlzero.fast.choose import FusedStep, accuracy, fused_step, predictor, training_step

__all__ = ["FusedStep", "accuracy", "fused_step", "predictor", "training_step"]
