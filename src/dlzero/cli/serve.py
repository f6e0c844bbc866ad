"""``dlzero serve``: a page where you draw a digit and watch the network think.

::

    dlzero serve                       # trains the chapter-5 network first (a few seconds)
    dlzero serve model.npz --open      # a model saved by 'dlzero train --save'; open a browser
    dlzero serve --host 0.0.0.0        # reachable from other machines (a warning says so)

Exit status: 0 stopped by Ctrl-C; 1 the address cannot be bound or MNIST cannot be read; 2 bad
arguments or a model that is not a 28x28-image, ten-class network.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dlzero.cli.chapter5 import add_training_arguments, load_mnist, train_chapter5
from dlzero.cli.options import EXIT_INTERRUPTED, EXIT_USAGE, CommandError

REFERENCE_IMAGES = 500  # test images on which dead ReLU units are found
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return value


def add_parsers(subparsers: Any) -> None:
    """Add ``serve`` to the ``dlzero`` command's subparsers."""
    p = subparsers.add_parser(
        "serve",
        help="draw a digit in the browser and watch the network think",
        description="Serve a page (plain HTML, CSS and JavaScript from the package; nothing is "
        "downloaded) where you draw a digit with the mouse or a finger and see, as you draw, "
        "the 28x28 image the network receives (prepared as 'dlzero predict' prepares a "
        "picture), the ten class probabilities, every hidden unit's activation (dead ReLU "
        "units marked; a CNN's first feature maps) and the saliency map, the gradient of the "
        "top score with respect to the pixels by the layers' own backward. A second tab trains "
        "a new network from the page and shows its loss and accuracy as it learns; a third "
        "shows the computational graph for your digit and its label, forward and backward, "
        "node by node (as 'dlzero backprop' prints it). Without "
        "MODEL, the chapter-5 network is trained first, in a few seconds. Ctrl-C stops the "
        "server (exit status 0). See docs/serve.md for the JSON API.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        help="a model saved by 'dlzero train --save' (28x28 images, ten classes); default: "
        "train the chapter-5 network first",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; anything else "
        "lets other machines draw and train, without a password: a warning says so)",
    )
    p.add_argument(
        "--port",
        type=port_number,
        default=8000,
        help="TCP port (default: %(default)s; 0 picks a free one)",
    )
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    add_training_arguments(p)
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``dlzero serve [MODEL]``: load or train a network, then serve the page until Ctrl-C."""
    from dlzero._threads import limit_blas_to_one_thread
    from dlzero.serve import make_server

    # One BLAS thread: a drawing's products are tiny, and the request threads already run in
    # parallel; BLAS threads spinning against each other would only slow them down.
    limit_blas_to_one_thread()
    try:
        data = load_mnist()
        reference = data[1][0][:REFERENCE_IMAGES]
        test_accuracy = None
        if args.model is not None:
            from dlzero.cli.model import _Failure, _load_model

            try:
                network = _load_model(args.model)
            except _Failure as exc:
                print(f"{parser.prog}: error: {exc}", file=sys.stderr)
                return exc.status
            source = args.model
        else:
            network, settings, test_accuracy = train_chapter5(args, data, sys.stdout)
            source = f"trained at start-up: {settings}"
        try:
            server = make_server(
                network,
                host=args.host,
                port=args.port,
                source=source,
                load_data=lambda: data,
                reference=reference,
                test_accuracy=test_accuracy,
            )
        except ValueError as exc:
            print(f"{parser.prog}: error: {args.model}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
                + ("; try another --port, or --port 0 for any free one" if args.port else "")
            ) from None
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted before serving", file=sys.stderr)
        return EXIT_INTERRUPTED

    if args.host not in LOOPBACK:
        print(
            f"warning: listening on {args.host}: anyone who can reach this machine can use the "
            "page and start training runs on it (there is no password)",
            file=sys.stderr,
            flush=True,
        )
    try:  # Ctrl-C from here on, even before serving starts, is a clean stop
        print(f"serving {server.url} (Ctrl-C stops)", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop_training()
        server.server_close()
    print("stopped", flush=True)
    return 0
