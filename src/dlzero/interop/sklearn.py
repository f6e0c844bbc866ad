"""A scikit-learn classifier made of dlzero parts: :class:`DlzeroClassifier`.

It builds a :class:`~dlzero.networks.MultiLayerNet` and trains it with
:class:`~dlzero.training.Trainer`, and speaks scikit-learn's estimator contract around them:
``fit``, ``partial_fit``, ``predict``, ``predict_proba`` and ``score``, ``get_params`` and
``set_params``, labels of any kind, so it works in a ``Pipeline``, ``cross_val_score`` or
``GridSearchCV``::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from dlzero.sklearn import DlzeroClassifier

    model = make_pipeline(StandardScaler(), DlzeroClassifier(random_state=0))
    model.fit(x_train, y_train).score(x_test, y_test)

scikit-learn is an optional extra (``pip install "dlzero[sklearn]"``): this module imports it,
and nothing else in dlzero imports this module, so ``import dlzero`` and ``dlzero train`` never
need it. The docs page is ``docs/sklearn.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# This module is named dlzero.sklearn, but imports are absolute: `sklearn` below is the
# top-level scikit-learn package, never this file.
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data  # (scikit-learn >= 1.6)

from dlzero._checks import check_positive_int
from dlzero._rng import as_rng
from dlzero.functions import softmax
from dlzero.networks import MultiLayerNet
from dlzero.optimizers import Optimizer, get_optimizer
from dlzero.training import (
    Evaluation,
    History,
    Output,
    Steps,
    Stopping,
    Trainer,
    TrainingDiverged,
)

__all__ = ["DlzeroClassifier"]

# The networks train in float32 (their default dtype): inputs are converted once, at the door.
DTYPE = np.float32


class DlzeroClassifier(ClassifierMixin, BaseEstimator):
    """A fully connected network trained by mini-batch gradient descent, as a scikit-learn
    classifier.

    Parameters
    ----------
    hidden_size_list : sequence of int, default (100,)
        Sizes of the hidden layers, e.g. ``(100, 100)`` for two.
    activation : {"relu", "sigmoid", "tanh"}, default "relu"
        The weights start as He's init for ReLU and Xavier's for sigmoid and tanh (chapter 6.2).
    optimizer : str, default "adam"
        A name from :data:`dlzero.optimizers.OPTIMIZERS`: "sgd", "momentum", "nesterov",
        "adagrad", "rmsprop" or "adam".
    learning_rate : float, default 0.01
        The optimizer's ``lr``. Adam at 0.01 trains a small network in a few epochs whatever the
        scale of the features; plain "sgd" wants about 0.1 (the book's) and scaled features.
    batch_size : int, default 100
        Samples per gradient step; a data set with fewer samples is one batch.
    epochs : int, default 20
        Passes over the training data in ``fit`` (``partial_fit`` always makes one).
    weight_decay_lambda : float, default 0
        L2 weight decay on every weight matrix (scikit-learn's ``alpha``).
    dropout_ratio : float, default 0
        In [0, 1): put a dropout layer after every hidden activation that drops this share of
        it while training; 0 puts none.
    use_batchnorm : bool, default False
        Put batch normalization between every hidden affine layer and its activation. Training
        then needs mini-batches of at least two samples (``Trainer`` says so when one is left).
    random_state : int, Generator, RandomState or None, default None
        Seeds the initial weights, the mini-batch order and the dropout masks: the same int
        gives the same model. (A ``numpy.random.Generator`` or ``RandomState`` is drawn from,
        so each ``fit`` differs; None is fresh entropy.)

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        The labels seen in ``fit`` (or given to the first ``partial_fit``), sorted; the
        network's output ``k`` scores ``classes_[k]``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when ``fit`` was given a data frame with string column names.
    network_ : MultiLayerNet
        The trained network (``dlzero.save(network_, path)`` keeps it as a dlzero model file).
    optimizer_ : Optimizer
        The optimizer, with its state (momenta, moments), which ``partial_fit`` continues.
    history_ : History
        What the last ``fit`` or ``partial_fit`` call recorded: ``history_.loss`` has the loss
        of every gradient step.

    Notes
    -----
    A diverging run (the loss became NaN or infinite, usually a learning rate too large)
    raises :class:`~dlzero.training.TrainingDiverged` (a ``FloatingPointError``) and leaves the
    estimator unfitted; ``GridSearchCV`` records such a candidate as failed (``error_score``).

    A single class in ``y`` is allowed: the network has one output and predicts that class.
    """

    def __init__(
        self,
        hidden_size_list: Sequence[int] = (100,),
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 0.01,
        batch_size: int = 100,
        epochs: int = 20,
        weight_decay_lambda: float = 0.0,
        dropout_ratio: float = 0.0,
        use_batchnorm: bool = False,
        random_state: int | np.random.Generator | np.random.RandomState | None = None,
    ) -> None:
        # scikit-learn's contract: store the arguments unchanged, check them in fit (so that
        # clone and set_params work with any value, and an error names the call that used it).
        self.hidden_size_list = hidden_size_list
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay_lambda = weight_decay_lambda
        self.dropout_ratio = dropout_ratio
        self.use_batchnorm = use_batchnorm
        self.random_state = random_state

    # -- training ----------------------------------------------------------------------------

    def fit(self, X: ArrayLike, y: ArrayLike) -> DlzeroClassifier:
        """Train a new network for ``epochs`` epochs.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
            Labels of any kind scikit-learn accepts (ints, strings, ...).

        Returns
        -------
        self
        """
        self._forget_fit()  # a fit that fails leaves the estimator unfitted, not half refitted
        x, y = validate_data(self, X, y, dtype=DTYPE)
        check_classification_targets(y)
        classes, t = np.unique(y, return_inverse=True)
        network, optimizer = self._new_network(x.shape[1], len(classes))
        self.history_ = self._train(network, optimizer, x, t, self.epochs)
        self.classes_, self.network_, self.optimizer_ = classes, network, optimizer
        return self

    def partial_fit(
        self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None
    ) -> DlzeroClassifier:
        """Train for one epoch on ``(X, y)``, continuing from the network so far.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
        classes : array_like, shape (n_classes,), optional
            Every label there will be. Needed on the first call (when the estimator is not yet
            fitted), since one batch need not show them all; later calls may repeat it.

        Returns
        -------
        self
        """
        first_call = not self.__sklearn_is_fitted__()
        if first_call and classes is None:
            raise ValueError("classes must be given on the first call to partial_fit")
        x, y = validate_data(self, X, y, dtype=DTYPE, reset=first_call)
        check_classification_targets(y)
        if classes is None:
            classes = self.classes_
        else:
            classes = np.unique(np.asarray(classes))
            if not first_call and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()} differs from the classes of the first "
                    f"partial_fit or fit, {self.classes_.tolist()}"
                )
        unknown = np.setdiff1d(y, classes)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} not among {classes.tolist()}")
        if first_call:
            network, optimizer = self._new_network(x.shape[1], len(classes))
        else:
            network, optimizer = self.network_, self.optimizer_
        try:
            self.history_ = self._train(network, optimizer, x, np.searchsorted(classes, y), 1)
        except TrainingDiverged:
            # The weights are not finite now: no model that predicts nonsense is left behind.
            self._forget_fit()
            raise
        self.classes_, self.network_, self.optimizer_ = classes, network, optimizer
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted means trained: a ``fit`` that failed may have set ``n_features_in_`` alone."""
        return hasattr(self, "network_")

    def _forget_fit(self) -> None:
        """Remove everything fitting set (the attributes whose names end in ``_``)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)

    def _new_network(self, n_features: int, n_classes: int) -> tuple[MultiLayerNet, Optimizer]:
        """A new network from the parameters, and its optimizer."""
        if not isinstance(self.optimizer, str):
            # An Optimizer object would carry its state from one fit (and one clone) to the
            # next, and ignore learning_rate: the name makes a fresh one each time.
            raise ValueError(
                f"optimizer must be an optimizer's name such as 'adam' or 'sgd', got "
                f"{self.optimizer!r}"
            )
        optimizer = get_optimizer(self.optimizer, lr=self.learning_rate)
        network = MultiLayerNet(
            n_features,
            self.hidden_size_list,
            n_classes,
            activation=self.activation,
            weight_init_std="relu" if self.activation == "relu" else "xavier",
            weight_decay_lambda=self.weight_decay_lambda,
            use_dropout=bool(self.dropout_ratio),
            dropout_ratio=self.dropout_ratio,
            use_batchnorm=self.use_batchnorm,
            rng=_generator(self.random_state),
            dtype=DTYPE,
        )
        return network, optimizer

    def _train(
        self, network: MultiLayerNet, optimizer: Optimizer, x: NDArray, t: NDArray, epochs: int
    ) -> History:
        """Train ``network`` in place on ``x`` (N, n_features) and class indices ``t`` (N,)."""
        if self.use_batchnorm and len(x) < 2:
            # (Batch normalization divides by the batch's standard deviation, 0 for one sample.)
            raise ValueError(
                "use_batchnorm=True needs at least 2 samples to train on, got 1 sample"
            )
        batch_size = min(check_positive_int("batch_size", self.batch_size), len(x))
        trainer = Trainer(
            network,
            optimizer,
            x,
            t,
            steps=Steps(batch_size=batch_size, epochs=epochs),
            # The network's Generator drew its weights and draws its dropout masks; the
            # mini-batch order continues from it, so one seed fixes the whole run and
            # partial_fit picks up where the last call left off.
            rng=network.rng,
            # Nothing to measure each epoch, no screen, no signal handler and no second thread:
            # an estimator runs inside other programs (joblib workers, notebooks, servers).
            evaluation=Evaluation(evaluate_train=False, background_eval=False),
            stopping=Stopping(handle_sigint=False),
            output=Output(verbose=False, progress=False),
        )
        return trainer.fit()

    # -- prediction --------------------------------------------------------------------------

    def predict_proba(self, X: ArrayLike) -> NDArray:
        """Class probabilities: the softmax of the network's scores.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray of float64, shape (n_samples, n_classes)
            Column ``k`` is the probability of ``classes_[k]``; each row sums to 1.
        """
        check_is_fitted(self)
        # The float32 weights score float64 inputs in float64. In float32 a matrix product can
        # round a row differently (by one unit in the last place) depending on where it falls
        # among the others, so a sample's probabilities would depend on its batch-mates; in
        # float64 that last place is far below anything a probability is compared at.
        x = validate_data(self, X, dtype=np.float64, reset=False)
        # In chunks, as the network's own accuracy does, so memory stays bounded.
        step = self.network_.eval_batch_size
        scores = [self.network_.predict(x[i : i + step]) for i in range(0, len(x), step)]
        return softmax(np.concatenate(scores))

    def predict(self, X: ArrayLike) -> NDArray:
        """The most probable class of each sample.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,)
            Labels from ``classes_``, of their dtype.
        """
        proba = self.predict_proba(X)  # (checks first that the estimator is fitted)
        return self.classes_[proba.argmax(axis=1)]


def _generator(random_state: Any) -> np.random.Generator:
    """A Generator for ``random_state``: an int, None, a Generator, or a RandomState (the kind
    scikit-learn passes around), which seeds a new Generator with its next draw."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    try:
        return as_rng(random_state)
    except TypeError:
        raise ValueError(
            "random_state must be an int, None, a numpy Generator or a RandomState, got "
            f"{random_state!r}"
        ) from None
