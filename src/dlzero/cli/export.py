"""``dlzero export``: a saved model as an ONNX file, for onnxruntime and other ONNX runtimes.

::

    dlzero train --save model.npz                 # keep the trained network
    dlzero export model.npz model.onnx            # input "images", output "probabilities"

The graph is :mod:`dlzero.interop.onnx`'s; ``docs/onnx.md`` shows it used from onnxruntime.

Exit status: 0 success; 1 the ONNX file could not be written; 2 bad arguments, a model file
that is not what it should be, or the ``onnx`` package missing (one line on stderr,
``dlzero export: error: ...``).
"""

from __future__ import annotations

import argparse
from typing import Any

from dlzero.cli.options import EXIT_FAILURE, EXIT_USAGE, CommandError, check_output


def add_parsers(subparsers: Any) -> None:
    """Add ``export`` to the ``dlzero`` command's subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned. The new parser gets the defaults ``func``
        (the handler, ``func(args, parser) -> exit status``) and ``parser``.
    """
    p = subparsers.add_parser(
        "export",
        help="write a saved model as an ONNX file, for onnxruntime (needs dlzero[onnx])",
        description="Write a model saved by 'dlzero train --save' as a standard ONNX graph in "
        "inference mode (dropout off, batch normalization with its running statistics). Its "
        "input 'images' is float32 of shape (N, 784) for a fully connected network, "
        "(N, 1, 28, 28) for a convolutional one; its output 'probabilities' is the softmax of "
        "the scores, (N, classes). Needs the onnx package: pip install 'dlzero[onnx]'.",
    )
    p.add_argument("model", metavar="MODEL", help="a model saved by 'dlzero train --save'")
    p.add_argument("output", metavar="OUTPUT", help="the ONNX file to write, e.g. model.onnx")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run_export, parser=p)


def _shape(value_info: Any) -> str:
    """``(N, 784)`` from an ONNX input or output description."""
    dims = value_info.type.tensor_type.shape.dim
    return "(" + ", ".join(d.dim_param or str(d.dim_value) for d in dims) + ")"


def run_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero export MODEL OUTPUT``: write the ONNX file and say where."""
    from dlzero.files.serialization import ModelFileError, load
    from dlzero.interop.onnx import export

    check_output(parser, "OUTPUT", args.output, plot=False)
    try:
        network = load(args.model)
    except ModelFileError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except OSError as exc:
        raise CommandError(
            f"cannot read model {args.model!r}: {exc.strerror or exc}", EXIT_USAGE
        ) from None
    try:
        model = export(network, args.output)
    except ImportError as exc:  # the message says how to install onnx
        raise CommandError(str(exc), EXIT_USAGE) from None
    except ValueError as exc:
        raise CommandError(f"cannot export {args.model!r}: {exc}", EXIT_FAILURE) from None
    except OSError as exc:
        raise CommandError(f"cannot write {args.output!r}: {exc.strerror or exc}") from None
    if not args.quiet:
        (images,), (probabilities,) = model.graph.input, model.graph.output
        print(
            f"wrote {args.output} (input {images.name!r} {_shape(images)}, "
            f"output {probabilities.name!r} {_shape(probabilities)})"
        )
    return 0
