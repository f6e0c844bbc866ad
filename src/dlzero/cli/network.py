"""Which network ``dlzero train`` and ``dlzero compare`` build from their options, and how.

The chapter-5 ``TwoLayerNet`` (and its fused training step) for one hidden layer with
``--init std`` and none of ``--weight-decay``, ``--dropout``, ``--batchnorm``; otherwise a
``MultiLayerNet`` (chapter 6). ``--model cnn`` and ``--model deep-cnn`` build the chapter-7
``SimpleConvNet`` and chapter-8 ``DeepConvNet`` on 28x28 images, trained with Adam by default.

:func:`network_settings` checks the options together and fills in the defaults;
:func:`build_network` builds what the settings describe, :func:`describe` names it in one line
and :func:`settings_config` records it in a history.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# The learning rate when --lr is not given: the notes' 0.1 for SGD (the chapter-5 experiment),
# the book's defaults (common/optimizer.py) for the others.
DEFAULT_LR = {
    "sgd": 0.1,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.01,
    "adam": 0.001,
}


def network_settings(
    parser: argparse.ArgumentParser,
    model: str,
    *,
    activation: str | None,
    hidden: Sequence[int] | None,
    init: str | None,
    weight_init_std: float | None,
    weight_decay: float | None,
    dropout: float | None,
    batchnorm: bool,
    optimizer: str | None,
    lr: float | None,
) -> dict[str, Any]:
    """Check the network and optimizer options together and fill in the defaults.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser, to report a bad combination (exit status 2).
    model : {"mlp", "cnn", "deep-cnn"}
    activation, hidden, init, weight_init_std, weight_decay, dropout, batchnorm, optimizer, lr
        The options' values; None where not given. ``hidden`` is the sizes of all hidden layers.

    Returns
    -------
    dict
        The settings of the network to build, with ``kind`` one of ``two-layer`` (the chapter-5
        ``TwoLayerNet``), ``multi-layer``, ``cnn``, ``deep-cnn``, and ``optimizer`` and ``lr``.
        An option the model does not have is a usage error, not silently ignored.
    """
    if model == "mlp":
        hidden = tuple(hidden) if hidden else (50,)
        init = init or "std"
        std = weight_init_std if weight_init_std is not None else 0.01
        if init != "std" and weight_init_std is not None:
            parser.error(f"argument --weight-init-std: only with --init std, not --init {init}")
        settings: dict[str, Any] = {
            "activation": activation or "relu",
            "hidden": hidden,
            "init": init,
            "weight_init_std": std if init == "std" else init,
            "weight_decay": weight_decay or 0.0,
            "dropout": dropout or 0.0,
            "batchnorm": bool(batchnorm),
        }
        chapter5 = (
            len(hidden) == 1
            and init == "std"
            and not settings["weight_decay"]
            and not settings["dropout"]
            and not batchnorm
        )
        settings["kind"] = "two-layer" if chapter5 else "multi-layer"
        optimizer = optimizer or "sgd"
    else:
        # The convolutional networks are built as the book builds them: ReLU, their own
        # initialization; only the size of the fully connected layer (and DeepConvNet's
        # dropout ratio) can be chosen.
        name = "SimpleConvNet" if model == "cnn" else "DeepConvNet"
        fixed = [
            ("--activation", activation not in (None, "relu"), "uses ReLU"),
            ("--hidden", hidden is not None and len(hidden) != 1, "takes one --hidden size"),
            ("--weight-decay", bool(weight_decay), "has no weight decay option"),
            ("--batchnorm", bool(batchnorm), "has no batch normalization"),
            ("--init", init not in (None, "std" if model == "cnn" else "he"), ""),
        ]
        if model == "cnn":
            fixed.append(("--dropout", bool(dropout), "has no dropout"))
        else:
            fixed.append(("--weight-init-std", weight_init_std is not None, "uses He init"))
        for option, bad, why in fixed:
            if bad:
                why = why or (
                    "initializes with N(0, S^2), --init std"
                    if model == "cnn"
                    else "initializes with --init he"
                )
                parser.error(f"argument {option}: --model {model} ({name}) {why}")
        settings = {"kind": model, "activation": "relu"}
        if model == "cnn":
            settings["hidden"] = (hidden[0],) if hidden else (100,)
            settings["weight_init_std"] = weight_init_std if weight_init_std else 0.01
        else:
            settings["hidden"] = (hidden[0],) if hidden else (50,)
            settings["dropout"] = 0.5 if dropout is None else dropout
        optimizer = optimizer or "adam"
    settings["optimizer"] = optimizer
    settings["lr"] = lr if lr is not None else DEFAULT_LR[optimizer]
    return settings


def build_network(
    settings: dict[str, Any], input_size: int, n_classes: int, rng: Any, dtype: Any
) -> Any:
    """The network ``settings`` describe (see :func:`network_settings`).

    The convolutional networks take square images of ``input_size`` pixels, shaped as
    :func:`as_images` shapes them.
    """
    kind = settings["kind"]
    if kind == "two-layer":
        from dlzero.networks import TwoLayerNet

        return TwoLayerNet(
            input_size,
            settings["hidden"][0],
            n_classes,
            weight_init_std=settings["weight_init_std"],
            activation=settings["activation"],
            rng=rng,
            dtype=dtype,
        )
    if kind == "multi-layer":
        from dlzero.networks import MultiLayerNet

        # The book's names: "he" is its "relu" scale, "xavier" its "sigmoid" scale.
        return MultiLayerNet(
            input_size,
            list(settings["hidden"]),
            n_classes,
            activation=settings["activation"],
            weight_init_std=settings["weight_init_std"],
            weight_decay_lambda=settings["weight_decay"],
            use_dropout=settings["dropout"] > 0,
            dropout_ratio=settings["dropout"],
            use_batchnorm=settings["batchnorm"],
            rng=rng,
            dtype=dtype,
        )
    # Imported only here: the convolution code is not needed by the fully connected networks.
    from dlzero.convnets import DeepConvNet, SimpleConvNet

    side = math.isqrt(input_size)
    if kind == "cnn":
        return SimpleConvNet(
            (1, side, side),
            hidden_size=settings["hidden"][0],
            output_size=n_classes,
            weight_init_std=settings["weight_init_std"],
            rng=rng,
            dtype=dtype,
        )
    return DeepConvNet(
        (1, side, side),
        hidden_size=settings["hidden"][0],
        output_size=n_classes,
        dropout_ratio=settings["dropout"],
        rng=rng,
        dtype=dtype,
    )


def as_images(x: np.ndarray) -> np.ndarray:
    """Flattened square images (N, D) as (N, 1, H, W) for the convolutional networks: a view."""
    side = math.isqrt(x.shape[1])
    return x.reshape(len(x), 1, side, side)


def describe(settings: dict[str, Any], input_size: int, n_classes: int) -> str:
    """``784-100-100-10 relu, he init, batch norm`` or ``SimpleConvNet (30 5x5 filters, ...)``."""
    kind = settings["kind"]
    if kind == "cnn":
        return f"SimpleConvNet (30 5x5 filters, {settings['hidden'][0]} hidden)"
    if kind == "deep-cnn":
        return f"DeepConvNet ({settings['hidden'][0]} hidden, dropout {settings['dropout']:g})"
    sizes = "-".join(str(n) for n in (input_size, *settings["hidden"], n_classes))
    parts = [f"{sizes} {settings['activation']}"]
    if kind == "multi-layer":
        init = settings["init"]
        parts.append(
            f"std {settings['weight_init_std']:g} init" if init == "std" else f"{init} init"
        )
        if settings["batchnorm"]:
            parts.append("batch norm")
        if settings["dropout"]:
            parts.append(f"dropout {settings['dropout']:g}")
        if settings["weight_decay"]:
            parts.append(f"weight decay {settings['weight_decay']:g}")
    return ", ".join(parts)


def settings_config(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as recorded in a history (the chapter-5 network keeps its old keys)."""
    kind = settings["kind"]
    hidden = settings["hidden"]
    config: dict[str, Any] = {
        "model": "mlp" if kind in ("two-layer", "multi-layer") else kind,
        "activation": settings["activation"],
        "hidden_size": hidden[0] if kind != "multi-layer" else list(hidden),
        "optimizer_name": settings["optimizer"],
        "lr": settings["lr"],
    }
    if kind == "two-layer" or kind == "cnn":
        config["weight_init_std"] = settings["weight_init_std"]
    if kind == "multi-layer":
        config.update(
            init=settings["init"],
            weight_init_std=settings["weight_init_std"],
            weight_decay=settings["weight_decay"],
            dropout=settings["dropout"],
            batchnorm=settings["batchnorm"],
        )
    if kind == "deep-cnn":
        config["dropout"] = settings["dropout"]
    return config


def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the initial weights and the mini-batches.

    Separate streams keep the mini-batches the same when the network's size changes, so
    ``compare`` runs differ only in what they compare.
    """
    init, batches = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init), np.random.default_rng(batches)
