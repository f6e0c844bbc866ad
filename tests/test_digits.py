"""Tests of dlzero.studies.digits: pictures made MNIST-like, as MNIST was made, and clear errors."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dlzero.datasets import load_mnist
from dlzero.networks import TwoLayerNet
from dlzero.optimizers import get_optimizer
from dlzero.studies.digits import ImageError, _stroke_width, load_digit, read_image, to_mnist
from dlzero.studies.evaluation import predict_proba

# Pen strokes of some digits on a 300x400 (width x height) canvas.
STROKES = {
    7: [("line", [(60, 70), (240, 70), (130, 340)])],
    1: [("line", [(150, 60), (150, 340)])],
    0: [("ellipse", (70, 50, 230, 350))],
    4: [("line", [(170, 60), (60, 230), (240, 230)]), ("line", [(190, 120), (190, 350)])],
}


def render(digit, *, width=28, ink=30, paper=235, mode="L", size=(300, 400), offset=(0, 0)):
    """A digit drawn dark on light (by default) in a large picture, as a paint program would."""
    im = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(im)
    dx, dy = offset
    for kind, points in STROKES[digit]:
        if kind == "line":
            moved = [(x + dx, y + dy) for x, y in points]
            draw.line(moved, fill=ink, width=width, joint="curve")
        else:
            x0, y0, x1, y1 = points
            draw.ellipse((x0 + dx, y0 + dy, x1 + dx, y1 + dy), outline=ink, width=width)
    return im


def centre_of_mass(img):
    r = np.arange(img.shape[0])
    c = np.arange(img.shape[1])
    m = img.sum()
    return float(r @ img.sum(axis=1)) / m, float(c @ img.sum(axis=0)) / m


def bounding_box(img):
    rows = np.flatnonzero(img.any(axis=1))
    cols = np.flatnonzero(img.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.fixture(scope="module")
def mnist_test():
    _, test = load_mnist()
    return test


@pytest.fixture(scope="module")
def trained_net():
    """A TwoLayerNet trained for a fraction of a second on MNIST (94.7% test accuracy)."""
    (x, t), _ = load_mnist()
    net = TwoLayerNet(784, 50, 10, rng=0)
    opt = get_optimizer("sgd", lr=0.5)
    rng = np.random.default_rng(0)
    for _ in range(600):
        batch = rng.integers(0, len(x), 50)
        _, grads = net.loss_and_gradient(x[batch], t[batch])
        opt.update(net.params, grads)
    return net


# -- the MNIST recipe --------------------------------------------------------------------------


def test_blob_is_inverted_cropped_scaled_and_centred():
    img = np.ones((300, 200))  # white paper
    img[40:140, 120:170] = 0.0  # a dark 100x50 bar, far from the centre
    out = to_mnist(img)
    assert out.shape == (28, 28)
    assert out.dtype == np.float32
    assert out.min() == 0.0
    assert out.max() == pytest.approx(1.0)
    # 100x50 scaled to fit 20x20 with the aspect ratio kept: 20x10.
    assert bounding_box(out) == (20, 10)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5
    assert abs(cx - 14) <= 0.5
    # The corners are background, black as in MNIST.
    assert out[0, 0] == out[-1, -1] == 0.0


def test_light_on_dark_and_dark_on_light_give_the_same_input():
    rng = np.random.default_rng(0)
    img = np.zeros((120, 90))
    img[30:80, 20:35] = 1.0
    img[30:40, 20:70] = 1.0
    img += 0.02 * rng.random(img.shape)  # scanner noise, below the contrast floor
    np.testing.assert_allclose(to_mnist(img), to_mnist(1.0 - img), atol=1e-6)


def test_centre_of_mass_not_bounding_box_is_centred():
    # An L: heavy at the bottom and on the left, so its centre of mass is below and left of
    # its box's centre, and the box must sit higher and further right than centring the box
    # would put it (rows 4..23, columns 7..20 for its 20x14 box).
    img = np.zeros((140, 140))
    img[20:120, 20:35] = 1.0
    img[105:120, 20:90] = 1.0
    out = to_mnist(img)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 0.5
    assert abs(cx - 14) <= 0.5
    assert bounding_box(out) == (20, 14)
    assert np.flatnonzero(out.any(axis=1))[0] < 4
    assert np.flatnonzero(out.any(axis=0))[0] > 7


def test_small_digit_is_scaled_up_to_twenty_pixels():
    img = np.zeros((200, 200), dtype=np.uint8)  # integers 0..255 are accepted
    img[100:110, 90:95] = 255
    out = to_mnist(img)
    assert bounding_box(out) == (20, 10)


def test_position_in_the_picture_does_not_matter():
    a = to_mnist(np.asarray(render(7), dtype=float) / 255)
    b = to_mnist(np.asarray(render(7, offset=(-50, 40), size=(500, 600)), dtype=float) / 255)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_an_mnist_digit_drawn_large_comes_back_as_itself(mnist_test):
    # MNIST images are already what to_mnist makes; enlarged 12x and inverted to dark on
    # light, they must come back close to the original (not exactly: the faint antialiased
    # edge below the ink floor is dropped and the scaling is redone).
    x, _ = mnist_test
    for image in x[:20].reshape(-1, 28, 28):
        big = Image.fromarray((255 * (1 - image)).astype(np.uint8)).resize(
            (336, 336), Image.Resampling.BICUBIC
        )
        out = to_mnist(np.asarray(big, dtype=float) / 255)
        # Rounding the centre of mass can move the digit by one pixel either way.
        best = max(
            np.corrcoef(np.roll(out, (dy, dx), axis=(0, 1)).ravel(), image.ravel())[0, 1]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )
        assert best > 0.93


def test_thin_strokes_are_widened_to_mnist_width():
    thick = to_mnist(np.asarray(render(7), dtype=float) / 255)
    thin = to_mnist(np.asarray(render(7, width=3), dtype=float) / 255)
    # MNIST's median is about 2.6 pixels; a 3-pixel pen on a 280-pixel digit would be 0.2.
    assert 2.0 <= _stroke_width(thick) <= 4.0
    assert 2.0 <= _stroke_width(thin) <= 4.0
    assert np.count_nonzero(thin > 0.5) > 0.6 * np.count_nonzero(thick > 0.5)


@pytest.mark.parametrize(
    "image",
    [np.ones((50, 50)), np.zeros((50, 50)), np.full((9, 9), 0.4), 0.5 + 0.05 * np.eye(40)],
    ids=["white", "black", "gray", "faint-mark"],
)
def test_blank_image_is_an_error(image):
    with pytest.raises(ImageError, match="no digit found: the image is blank"):
        to_mnist(image, name="blank.png")


@pytest.mark.parametrize(
    "image", [np.zeros(5), np.zeros((0, 3)), np.zeros((3, 3, 3)), np.full((3, 3), np.nan)]
)
def test_bad_arrays(image):
    with pytest.raises(ImageError, match=r"expected a 2-D|NaN"):
        to_mnist(image)


# -- reading files -----------------------------------------------------------------------------


def test_png_jpeg_colour_and_transparency_read_alike(tmp_path):
    reference = to_mnist(np.asarray(render(7), dtype=float) / 255)
    render(7).save(tmp_path / "gray.png")
    render(7, mode="RGB", ink=(20, 20, 120), paper=(250, 240, 200)).save(tmp_path / "colour.jpg")
    # A digit drawn on a transparent canvas: the transparent pixels' colour is black, so
    # compositing on black (what ignoring alpha amounts to) would lose the digit.
    rgba = render(7, mode="RGBA", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))
    rgba.save(tmp_path / "transparent.png")
    render(7, mode="RGBA", ink=(255, 255, 255, 255), paper=(0, 0, 0, 0)).save(
        tmp_path / "white-on-transparent.png"
    )
    for name in ("gray.png", "colour.jpg", "transparent.png", "white-on-transparent.png"):
        out = load_digit(tmp_path / name)
        assert out.shape == (28, 28)
        assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.95, name


def test_read_image_range(tmp_path):
    render(1).save(tmp_path / "one.png")
    img = read_image(tmp_path / "one.png")
    assert img.shape == (400, 300)
    assert img.min() == pytest.approx(30 / 255)
    assert img.max() == pytest.approx(235 / 255)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not a picture")
    with pytest.raises(ImageError, match="not an image") as info:
        load_digit(path)
    assert "notes.png" in str(info.value)


def test_truncated_image(tmp_path):
    render(7).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_digit(tmp_path / "cut.png")


def test_blank_file(tmp_path):
    Image.new("RGB", (64, 48), (255, 255, 255)).save(tmp_path / "white.png")
    with pytest.raises(ImageError, match=r"white\.png: no digit found"):
        load_digit(tmp_path / "white.png")


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_digit(tmp_path / "nothing.png")


# -- with a trained network --------------------------------------------------------------------


def test_trained_network_reads_drawn_digits(trained_net, tmp_path):
    images = []
    for digit in STROKES:
        path = tmp_path / f"{digit}.png"
        render(digit).save(path)
        images.append(load_digit(path))
    thin = render(7, width=4)
    negative = render(7, mode="RGB", ink=(250, 250, 250), paper=(0, 0, 40))
    for image, name in ((thin, "thin7.png"), (negative, "negative7.jpg")):
        image.save(tmp_path / name)
        images.append(load_digit(tmp_path / name))
    proba = predict_proba(trained_net, np.stack(images).reshape(len(images), -1))
    assert list(proba.argmax(axis=1)) == [*STROKES, 7, 7]
