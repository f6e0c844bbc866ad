"""``dlzero serve``: draw a digit in the browser and watch the network think.

- :mod:`~dlzero.serve.inference`: one drawing through the network: the prediction, every
  hidden layer's activations, and the saliency map by the layers' own ``backward``;
- :mod:`~dlzero.serve.training_job`: a short training run started from the page, in a thread;
- :mod:`~dlzero.serve.server`: the HTTP server (the standard library's) and its JSON API;
- ``static/``: the page itself, plain HTML, CSS and JavaScript (nothing fetched from elsewhere).

Nothing else in dlzero imports this package: ``dlzero train`` never loads a server.
"""

from dlzero.serve.inference import describe_hidden, look_inside
from dlzero.serve.server import DigitServer, make_server
from dlzero.serve.training_job import TrainingJob, TrainingSettings

__all__ = [
    "DigitServer",
    "TrainingJob",
    "TrainingSettings",
    "describe_hidden",
    "look_inside",
    "make_server",
]
