"""dlzero.sklearn.DlzeroClassifier: scikit-learn's estimator checks, and the estimator at work
in a Pipeline, cross_val_score and GridSearchCV on scikit-learn's 8x8 digits."""

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")  # an optional extra: dlzero[sklearn]

from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from dlzero.sklearn import DlzeroClassifier
from dlzero.training import TrainingDiverged

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dlzero"

# Every check passes, so none is listed as expected to fail (one that had to would go in
# parametrize_with_checks(..., expected_failed_checks=lambda est: {"check_name": "reason"}),
# scikit-learn >= 1.6's way). The defaults (one hidden layer of 100, 20 epochs) are small
# enough for the checks' tiny data sets to take a few seconds; the second instance turns every
# option on.
ESTIMATORS = [
    DlzeroClassifier(),
    DlzeroClassifier(
        hidden_size_list=[20, 20],
        activation="tanh",
        optimizer="momentum",
        learning_rate=0.05,
        batch_size=32,
        weight_decay_lambda=1e-3,
        dropout_ratio=0.2,
        use_batchnorm=True,
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- on the digits -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    """(x_train, x_test, y_train, y_test): 1,797 images of 8x8 pixels in 0..16, 10 classes."""
    x, y = load_digits(return_X_y=True)
    return train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)


def test_in_a_pipeline_it_learns_the_digits(digits):
    x_train, x_test, y_train, y_test = digits
    model = make_pipeline(StandardScaler(), DlzeroClassifier(random_state=0))
    assert model.fit(x_train, y_train).score(x_test, y_test) > 0.9


def test_cross_val_score(digits):
    x_train, _, y_train, _ = digits
    model = make_pipeline(StandardScaler(), DlzeroClassifier(random_state=0))
    scores = cross_val_score(model, x_train, y_train, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.9


def test_grid_search_in_two_worker_processes(digits):
    x_train, x_test, y_train, y_test = digits
    model = make_pipeline(StandardScaler(), DlzeroClassifier(random_state=0))
    sizes = [(30,), (100,)]
    search = GridSearchCV(model, {"dlzeroclassifier__hidden_size_list": sizes}, cv=2, n_jobs=2)
    search.fit(x_train, y_train)
    assert search.best_params_["dlzeroclassifier__hidden_size_list"] in sizes
    assert search.best_score_ > 0.9
    assert search.score(x_test, y_test) > 0.9


def test_pickled_estimator_predicts_the_same(digits):
    x_train, x_test, y_train, _ = digits
    model = DlzeroClassifier(epochs=2, random_state=0).fit(x_train, y_train)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict_proba(x_test), model.predict_proba(x_test))
    np.testing.assert_array_equal(copy.classes_, model.classes_)


def test_partial_fit_is_one_epoch_and_keeps_learning(digits):
    x_train, x_test, y_train, y_test = digits
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    model = DlzeroClassifier(batch_size=100, random_state=0)
    # The first chunk has no 9s: classes= says they exist.
    first = y_train != 9
    model.partial_fit(x_train[first], y_train[first], classes=np.arange(10))
    np.testing.assert_array_equal(model.classes_, np.arange(10))
    network = model.network_
    for _ in range(10):
        model.partial_fit(x_train, y_train)
    assert model.network_ is network  # trained on, not rebuilt
    assert len(model.history_.loss) == -(-len(x_train) // 100)  # one epoch's steps
    assert model.score(x_test, y_test) > 0.9


def test_partial_fit_refuses_what_does_not_fit():
    x = np.random.default_rng(0).normal(size=(6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    model = DlzeroClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be given"):
        model.partial_fit(x, y)
    model.partial_fit(x, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="differs from the classes"):
        model.partial_fit(x, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"labels \[7\] not among"):
        model.partial_fit(x, np.array([0, 1, 2, 0, 1, 7]))
    with pytest.raises(ValueError, match="X has 3 features"):
        model.partial_fit(x[:, :3], y)
    model.partial_fit(x, y, classes=[2, 1, 0])  # the same classes, in any order
    assert model.predict(x).shape == (6,)  # the refusals kept the model


def test_partial_fit_after_fit_continues_the_network():
    x = np.random.default_rng(0).normal(size=(20, 4))
    y = (x[:, 0] > 0).astype(int)
    model = DlzeroClassifier(epochs=1, random_state=0).fit(x, y)
    network, optimizer = model.network_, model.optimizer_
    model.partial_fit(x, y)
    assert model.network_ is network and model.optimizer_ is optimizer


# -- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "to_label",
    [
        lambda y: np.array("zero one two three four five six seven eight nine".split())[y],
        lambda y: 7 * y + 3,  # ints, not 0..k-1
        lambda y: (y - 4.5) * 2,  # floats that are whole classes (-9.0, -7.0, ...)
    ],
    ids=["strings", "non-contiguous ints", "floats"],
)
def test_any_labels_come_back_as_given(digits, to_label):
    x_train, x_test, y_train, y_test = digits
    model = make_pipeline(StandardScaler(), DlzeroClassifier(epochs=10, random_state=0))
    model.fit(x_train, to_label(y_train))
    classifier = model[-1]
    np.testing.assert_array_equal(classifier.classes_, np.unique(to_label(y_train)))
    predicted = model.predict(x_test)
    assert predicted.dtype == classifier.classes_.dtype
    assert set(predicted) <= set(classifier.classes_)
    assert np.mean(predicted == to_label(y_test)) > 0.9


def test_a_single_class_is_always_predicted():
    x = np.random.default_rng(0).normal(size=(5, 3))
    model = DlzeroClassifier(random_state=0).fit(x, ["only"] * 5)
    np.testing.assert_array_equal(model.predict(x), ["only"] * 5)
    np.testing.assert_array_equal(model.predict_proba(x), np.ones((5, 1)))


# -- parameters ------------------------------------------------------------------------------


def test_get_params_returns_the_constructor_arguments_unchanged():
    hidden = [64, 32]
    model = DlzeroClassifier(hidden_size_list=hidden, optimizer="sgd", learning_rate=0.1)
    params = model.get_params()
    assert params["hidden_size_list"] is hidden
    assert params == {
        "hidden_size_list": hidden,
        "activation": "relu",
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "batch_size": 100,
        "epochs": 20,
        "weight_decay_lambda": 0.0,
        "dropout_ratio": 0.0,
        "use_batchnorm": False,
        "random_state": None,
    }
    assert model.set_params(epochs=3, activation="sigmoid") is model
    assert (model.epochs, model.activation) == (3, "sigmoid")


def test_clone_is_unfitted_with_the_same_parameters():
    x = np.random.default_rng(0).normal(size=(10, 3))
    model = DlzeroClassifier(hidden_size_list=(8,), epochs=2, random_state=1).fit(x, [0, 1] * 5)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "network_")
    with pytest.raises(NotFittedError):
        twin.predict(x)


def test_bad_parameters_are_refused_by_fit_not_by_init():
    x, y = np.zeros((4, 2)), [0, 1, 0, 1]
    for bad, message in [
        ({"hidden_size_list": [0]}, "hidden_size_list"),
        ({"activation": "swish"}, "activation"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"learning_rate": -1.0}, "learning rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"weight_decay_lambda": -1}, "weight_decay_lambda"),
        ({"dropout_ratio": 1.0}, "dropout_ratio"),
        ({"random_state": "seed"}, "random_state"),
    ]:
        model = DlzeroClassifier(**bad)  # stored, not checked
        with pytest.raises(ValueError, match=message):
            model.fit(x, y)


def test_an_optimizer_object_is_refused():
    from dlzero.optimizers import Adam

    with pytest.raises(ValueError, match="optimizer's name"):
        DlzeroClassifier(optimizer=Adam()).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_the_same_seed_gives_the_same_model():
    x = np.random.default_rng(0).normal(size=(50, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)

    def proba(seed):
        return DlzeroClassifier(dropout_ratio=0.2, random_state=seed).fit(x, y).predict_proba(x)

    np.testing.assert_array_equal(proba(3), proba(3))
    assert not np.array_equal(proba(3), proba(4))


def test_batch_size_larger_than_the_data_is_one_batch():
    x = np.random.default_rng(0).normal(size=(7, 3))
    model = DlzeroClassifier(batch_size=1000, epochs=3).fit(x, [0, 1, 2, 0, 1, 2, 0])
    assert model.history_.iterations_done == 3


def test_nan_in_x_is_a_clear_error():
    x = np.ones((4, 2))
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DlzeroClassifier().fit(x, [0, 1, 0, 1])


def test_divergence_raises_and_leaves_the_estimator_unfitted():
    x = 1e3 * np.random.default_rng(0).normal(size=(20, 3))
    y = [0, 1] * 10
    model = DlzeroClassifier(epochs=1, random_state=0).fit(x, y)
    with pytest.raises(TrainingDiverged, match="smaller learning rate"):
        model.set_params(optimizer="sgd", learning_rate=1e6, epochs=20).fit(x, y)
    with pytest.raises(NotFittedError):
        model.predict(x)
    # partial_fit: the calls before the one that diverged trained a model; it is dropped too.
    with pytest.raises(TrainingDiverged):
        for _ in range(20):
            model.partial_fit(x, y, classes=[0, 1])
            assert np.isfinite(model.predict_proba(x)).all()
    with pytest.raises(NotFittedError):
        model.predict(x)


def test_a_failed_refit_leaves_the_estimator_unfitted():
    x = np.random.default_rng(0).normal(size=(10, 3))
    model = DlzeroClassifier(epochs=1).fit(x, [0, 1] * 5)
    with pytest.raises(ValueError, match="hidden_size_list"):
        model.set_params(hidden_size_list=[]).fit(x, [0, 1] * 5)
    with pytest.raises(NotFittedError):
        model.predict(x)


def test_feature_names_are_kept():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(6, 2)), columns=["a", "b"])
    model = DlzeroClassifier(epochs=1).fit(frame, [0, 1] * 3)
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b"])
    assert model.n_features_in_ == 2


# -- an optional extra -----------------------------------------------------------------------


def test_importing_dlzero_does_not_import_sklearn():
    code = (
        "import sys, dlzero, dlzero.cli; "
        "print(any(m.split('.')[0] == 'sklearn' or m == 'dlzero.sklearn' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_other_module_imports_sklearn_or_this_bridge():
    # Even inside a function: `dlzero train` must run without scikit-learn installed.
    for path in PACKAGE.rglob("*.py"):
        if path in (PACKAGE / "sklearn.py", PACKAGE / "interop" / "sklearn.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] != "sklearn", f"{path} imports {name}"
                assert not name.startswith("dlzero.sklearn"), f"{path} imports {name}"
