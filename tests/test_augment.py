"""Data augmentation: shifts and rotations of images, and the trainer's --augment option."""

import numpy as np
import pytest

from dlzero.networks import TwoLayerNet
from dlzero.optimizers import SGD
from dlzero.studies.augment import Augmentation, shift_rotate
from dlzero.training import Evaluation, Output, Steps, Trainer


def _images(n=3, c=1, h=7, w=7, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def test_no_motion_is_the_identity_and_keeps_shape_and_dtype():
    x = _images(c=2)
    y = shift_rotate(x, np.zeros((3, 2)), np.zeros(3))
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    flat = x[:, :1].reshape(3, 49)  # flat square images come back flat
    np.testing.assert_array_equal(shift_rotate(flat, np.zeros((3, 2)), np.zeros(3)), flat)


def test_whole_pixel_shifts_move_the_image_and_bring_in_zeros():
    x = _images()
    y = shift_rotate(x, np.array([[1, 2], [-2, 0], [0, -3]]), np.zeros(3))
    expected = np.zeros_like(x)
    expected[0, :, 1:, 2:] = x[0, :, :-1, :-2]  # down 1, right 2
    expected[1, :, :-2, :] = x[1, :, 2:, :]  # up 2
    expected[2, :, :, :-3] = x[2, :, :, 3:]  # left 3
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_quarter_turns_are_counter_clockwise_as_displayed():
    x = _images(c=2)
    y = shift_rotate(x, np.zeros((3, 2)), np.array([90.0, -90.0, 180.0]))
    np.testing.assert_allclose(y[0], np.rot90(x[0], 1, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(y[1], np.rot90(x[1], -1, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(y[2], np.rot90(x[2], 2, axes=(1, 2)), atol=1e-5)


def test_half_pixel_shift_interpolates_linearly():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    y = shift_rotate(x, np.array([[0.0, 0.5]]), np.zeros(1))
    np.testing.assert_allclose(y[0, 0, 1], [0.0, 0.5, 0.5])
    assert y.sum() == pytest.approx(1.0)


def test_augmentation_is_seeded_bounded_and_writes_into_out():
    aug = Augmentation(max_shift=1.0, max_degrees=5.0)
    x = _images(n=20, h=12, w=12)
    a = aug(x, np.random.default_rng(1))
    np.testing.assert_array_equal(a, aug(x, np.random.default_rng(1)))
    assert not np.allclose(a, aug(x, np.random.default_rng(2)))
    assert not np.allclose(a, x)
    out = np.empty_like(x)
    assert aug(x, np.random.default_rng(1), out=out) is out
    np.testing.assert_array_equal(out, a)
    # small motions: the images stay close to the originals (and no mass appears from nowhere)
    assert float(np.abs(a - x).mean()) < float(np.abs(x - x[::-1]).mean())
    assert aug.config == {"max_shift": 1.0, "max_degrees": 5.0}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_shift": -1}, "max_shift"),
        ({"max_degrees": float("nan")}, "max_degrees"),
        ({"max_degrees": 200}, "at most 180"),
    ],
)
def test_augmentation_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Augmentation(**kwargs)


def test_shift_rotate_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or flat square"):
        shift_rotate(np.zeros((2, 10)), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"shifts of shape \(2, 2\)"):
        shift_rotate(np.zeros((2, 1, 3, 3)), np.zeros((2,)), np.zeros(2))


def test_trainer_augments_the_training_batches_only_and_repeatably():
    rng = np.random.default_rng(0)
    x = rng.random((200, 64), dtype=np.float32)
    t = rng.integers(0, 10, 200)
    seen = []

    def spy(xb, gen, out=None):
        seen.append(xb.copy())
        return Augmentation()(xb, gen, out=out)

    def run(augment):
        net = TwoLayerNet(64, 10, 10, rng=1)
        trainer = Trainer(
            net,
            SGD(lr=0.1),
            x,
            t,
            x[:50],
            t[:50],
            steps=Steps(batch_size=50, epochs=2, augment=augment),
            rng=3,
            evaluation=Evaluation(background_eval=False),
            output=Output(verbose=False, progress=False),
        )
        return trainer.fit()

    plain, augmented, again = run(None), run(spy), run(Augmentation())
    assert len(seen) == 8 and all(b.shape == (50, 64) for b in seen)
    assert not np.array_equal(plain.loss, augmented.loss)  # it trained on other images
    np.testing.assert_array_equal(augmented.loss, again.loss)  # seeded
    assert again.config["augment"] == {"max_shift": 2.0, "max_degrees": 10.0}
    with pytest.raises(
        ValueError, match=r"augment must be callable as augment\(x, rng, out=\.\.\.\)"
    ):
        Trainer(TwoLayerNet(64, 10, 10), SGD(), x, t, steps=Steps(augment="yes"))
