"""Issue 25's attacks, each run on two checkouts: what they cost before and after, as a table.

Each attack is run in a child process (:func:`hostile.run_bounded`) under a bound of 6 GB of
address space, generous enough for the costs before the fixes; its outcome (the exception or
the exit status), peak resident memory and time are printed as one Markdown row::

    python tests/attack_table.py --before /work/main/src                   # all of them
    python tests/attack_table.py --before /work/main/src --only reencoded  # one
    python tests/attack_table.py --before /work/main/src --models-before OLD/src

``--before`` is the ``src`` folder of the code to compare with (the parameter files and the
9000x9000 picture), ``--models-before`` that of a checkout before the model files were hardened
(``git archive 953d7ba^1 src | tar -x -C OLD``); the rows of the model files are left out
without it. "After" is this checkout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from hostile import SRC, hostile_models, hostile_params, huge_png, run_bounded

MEMORY_MB = 6000

PARAMS = """
import numpy as np
from dlzero import TwoLayerNet
from dlzero.book.params import {function}
net = TwoLayerNet(784, 50, 10, rng=0)
try:
    {call}
except Exception as exc:
    print(f"{{type(exc).__name__}}: {{exc}}")
else:
    W = net.params["W1"]
    print(f"loaded: W1 is {{W.dtype}}, finite: {{bool(np.isfinite(W).all())}}")
"""

LOAD_MODEL = """
import dlzero
try:
    dlzero.load({path!r})
except Exception as exc:
    print(f"{{type(exc).__name__}}: {{exc}}")
else:
    print("loaded")
"""

# name -> (what the input is, which function reads it)
PARAM_ATTACKS = {
    "reencoded": ("1 MB pickle: one string latin-1 encoded for 400 arrays", "load_params"),
    "colliding_keys": ("650 KB pickle: 50,000 int keys of one hash", "load_params"),
    "deep": ("1 MB pickle: a value nested 10**6 deep", "load_params"),
    "memo": ("9-byte pickle: LONG_BINPUT at index 2**24", "load_params"),
    "bzip2": ("441-byte .npz: a bzip2 member of 256 MiB", "read_params"),
    "claimed": ("294-byte .npz: deflate member claiming 256 MiB", "read_params"),
    "huge_header": ("181-byte .npz: .npy header of 10**12 float64", "read_params"),
    "zeros": ("261 KB .npz: 256 MiB of zeros, loaded into 784-50-10", "load_params"),
    "overlapping_npz": (".npz whose members' compressed data overlap", "read_params"),
    "method99_npz": (".npz with zip compression method 99", "load_params"),
    "encrypted_npz": (".npz with the encrypted flag", "load_params"),
    "nan_npz": (".npz, W1 with one NaN", "load_params"),
    "inf_pkl": ("book pickle, W1 with one -inf", "load_params"),
    "complex_npz": (".npz, W1 complex128", "load_params"),
    "complex_pkl": ("book pickle, W1 complex128", "load_params"),
    "good_pkl": ("good book pickle (784-50-10)", "load_params"),
    "good_npz": ("good .npz (784-50-10)", "load_params"),
}
MODEL_ATTACKS = {
    "big_config": "1 KB model file whose config names 100,000 hidden units",
    "big_declared": "model file whose .npy headers and zip sizes claim that network",
    "method99": "model file with zip compression method 99",
    "encrypted": "model file with the encrypted flag",
    "nan": "model file, W1 with a NaN",
    "complex": "model file, W1 complex64",
}


def _outcome(out, folder: str, cli: bool) -> str:
    if out.timed_out:
        return "killed after the time limit"
    if not cli:  # a reader called in Python: what it printed (the exception's name and message)
        text = out.stdout.strip() or out.stderr.strip()
        line = text.splitlines()[-1] if text else ""
    else:  # dlzero predict: its errors, and how many pictures it predicted
        errors = [e for e in out.stderr.strip().splitlines() if "error:" in e]
        predicted = len(out.stdout.strip().splitlines())
        line = f"exit {out.returncode}, {predicted} picture(s) predicted" + "".join(
            f"; {e}" for e in errors
        )
    line = line.replace(folder + os.sep, "").replace("|", "\\|")
    return line if len(line) <= 140 else line[:137] + "..."


def _cell(out, folder: str, cli: bool) -> str:
    return f"{_outcome(out, folder, cli)} | {out.peak_mb:,.0f} MB | {out.seconds:.2f} s"


def _photo(path: Path) -> Path:
    """A 12-megapixel JPEG of a dark 7 on light paper, as a phone takes it."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (4032, 3024), (240, 240, 230))
    ImageDraw.Draw(im).line([(1200, 600), (2800, 600), (1800, 2400)], (20, 20, 30), 67)
    im.save(path, quality=85)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="src folder of the code to compare with")
    parser.add_argument("--models-before", help="src folder from before the model-file fixes")
    parser.add_argument("--only", help="run only this attack")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        params = hostile_params(folder)
        (folder / "models").mkdir()
        models = hostile_models(folder / "models")
        picture = huge_png(folder / "huge.png")
        seven = huge_png(folder / "seven.png", 280, 280)
        photo = _photo(folder / "photo.jpg")
        print("| attack | input | before | peak | time | after | peak | time | command |")
        print("|---|---|---|---|---|---|---|---|---|")
        rows = []
        for name, (what, function) in PARAM_ATTACKS.items():
            net = "net, " if function == "load_params" else ""
            call = f"{function}({net}{str(params[name])!r})"
            code = PARAMS.format(function=function, call=call)
            rows.append((name, what, {"code": code}, args.before))
        if args.models_before:
            for name, what in MODEL_ATTACKS.items():
                code = LOAD_MODEL.format(path=str(models[name]))
                rows.append((f"model:{name}", what, {"code": code}, args.models_before))
        argv_ = ["predict", str(models["good"]), str(picture), str(seven)]
        what = "95 KB PNG of 9000x9000 pixels, predict"
        rows.append(("picture", what, {"argv": argv_}, args.before))
        argv_ = ["predict", str(models["good"]), str(photo)]
        what = "a phone's photo: 4032x3024 JPEG, predict"
        rows.append(("photo", what, {"argv": argv_}, args.before))
        for name, what, run, before in rows:
            if args.only and name != args.only:
                continue
            old = run_bounded(**run, memory_mb=MEMORY_MB, timeout=120, src=before)
            new = run_bounded(**run, memory_mb=MEMORY_MB, timeout=120, src=SRC)
            command = f"python tests/attack_table.py --before {args.before} --only {name}"
            if name.startswith("model:"):
                command += f" --models-before {args.models_before}"
            cli = "argv" in run
            cells = f"{_cell(old, tmp, cli)} | {_cell(new, tmp, cli)}"
            row = f"| {name} | {what} | {cells} | `{command}` |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
