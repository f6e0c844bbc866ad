"""dlzero: deep learning from zero, backpropagation by hand in NumPy."""

__version__ = "0.1.0"
