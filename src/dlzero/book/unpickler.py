"""A restricted unpickler for the book's parameter files: a dict of arrays, or nothing.

The book saves a network's ``params`` dict with ``pickle`` (``ch07/params.pkl``,
``ch08/deep_convnet_params.pkl``, and ``ch03/sample_weight.pkl``, a dict of the same kind).
Unpickling runs whatever a file names, so :func:`read_array_pickle` reads a pickle with a
restricted unpickler: it resolves only the few NumPy functions that rebuild an array, builds
nothing but a dict of numeric arrays, and refuses any other file with :class:`ParamFileError`
before anything it names is called. Before it runs, :func:`_check_opcodes` reads the file's
opcodes: only those a dict of arrays is made of, nested no deeper than such a dict is; and the
arrays built may not hold more bytes than the file.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ParamFileError", "check_arrays", "read_array_pickle"]


class ParamFileError(ValueError):
    """A parameter file that is not a dict of numeric arrays (or not a file of ours at all)."""


# -- the restricted unpickler ----------------------------------------------------------------
#
# NumPy pickles an array as ``_reconstruct(ndarray, (0,), b"b")`` followed by a BUILD with
# ``(version, shape, dtype, is_fortran, raw_bytes)``, and its dtype as ``dtype("f8", False,
# True)`` followed by a BUILD with ``(3, "<", None, None, None, -1, -1, 0)``; protocol 5 uses
# ``_frombuffer(bytes, dtype, shape, order)``. The unpickler below resolves those names to the
# small classes and functions here, not to NumPy's own: they accept a plain numeric type code,
# a byte order and a shape, check them, and make the array with ``np.frombuffer``. NumPy's
# ``__setstate__`` methods never see what the file says, and no other name resolves at all.

_CODE_CHARS = "biufc"  # bool, signed and unsigned integers, floats, complex


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"refused: {what} (a parameter file holds a dict of arrays)")


class _NdarrayName:
    """What the name ``numpy.ndarray`` means in a parameter file: a marker, never an array."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _NdarrayName:
        raise _refuse("the file builds numpy.ndarray directly")

    @staticmethod
    def __setstate__(state: object) -> None:  # BUILD on the name itself would set attributes
        raise _refuse("a state given to numpy.ndarray itself")


class _Callable:
    """A function a file may call, which BUILD cannot change (a bare function it could)."""

    __slots__ = ("_function",)

    def __init__(self, function: Any) -> None:
        self._function = function

    def __call__(self, *args: object) -> Any:
        return self._function(*args)

    def __setstate__(self, state: object) -> None:
        raise _refuse("a state given to a function")


class _DtypeStub:
    """``numpy.dtype(code, align, copy)`` as a file calls it: a type code checked at BUILD."""

    def __init__(self, code: object, align: object = False, copy: object = False) -> None:
        if not (
            isinstance(code, str)
            and 2 <= len(code) <= 3
            and code[0] in _CODE_CHARS
            and code[1:].isdigit()
        ):
            raise _refuse(f"dtype {code!r} is not a plain numeric type")
        self.dtype = np.dtype(code)

    def __setstate__(self, state: object) -> None:
        # (version, byte order, subarray, names, fields, ...): only a byte order may be set.
        if not (
            isinstance(state, tuple)
            and len(state) >= 5
            and state[1] in ("<", ">", "|", "=")
            and state[2] is None
            and state[3] is None
            and state[4] is None
        ):
            raise _refuse("a dtype with fields or sub-arrays")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


def _array_from_bytes(raw: object, dtype: object, shape: object, order: str) -> NDArray:
    """An array of ``shape`` viewing the bytes ``raw``, after checking every argument.

    A view, not a copy: a file may use the same bytes for many arrays, and
    ``params.read_params_file`` checks the total against the file's size before copying.
    """
    if not isinstance(dtype, _DtypeStub):
        raise _refuse("an array without a numeric dtype")
    if not (
        isinstance(shape, tuple)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise _refuse(f"array shape {shape!r}")
    if not isinstance(raw, (bytes, bytearray)):
        raise _refuse(f"array data of type {type(raw).__name__}")
    size = math.prod(shape) * dtype.dtype.itemsize
    if len(raw) != size:
        raise _refuse(f"{len(raw)} bytes of data for an array of shape {shape} ({size} bytes)")
    return np.frombuffer(raw, dtype=dtype.dtype).reshape(shape, order=order)


class _ArrayStub:
    """``_reconstruct(ndarray, (0,), b"b")``: an empty placeholder that BUILD fills."""

    def __init__(self, subtype: object, shape: object, dtype_code: object) -> None:
        if subtype is not _NdarrayName or shape != (0,):
            raise _refuse("an array rebuilt in an unusual way")
        self.array: NDArray | None = None

    def __setstate__(self, state: object) -> None:
        # (version, shape, dtype, is_fortran, raw), or without the version (older NumPy).
        if isinstance(state, tuple) and len(state) == 4:
            state = (1, *state)
        if not (isinstance(state, tuple) and len(state) == 5 and self.array is None):
            raise _refuse("an array state NumPy does not write")
        _, shape, dtype, is_fortran, raw = state
        self.array = _array_from_bytes(raw, dtype, shape, "F" if is_fortran else "C")


def _frombuffer(raw: object, dtype: object, shape: object, order: object) -> NDArray:
    """Protocol 5's ``_frombuffer(buffer, dtype, shape, order)``."""
    if order not in ("C", "F"):
        raise _refuse(f"array order {order!r}")
    if isinstance(raw, pickle.PickleBuffer):
        raw = bytes(raw.raw())
    return _array_from_bytes(raw, dtype, shape, order)  # type: ignore[arg-type]


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    """Protocol 2's ``_codecs.encode(text, "latin1")``, how it stores an array's bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise _refuse("a codec call other than latin-1 text to bytes")
    return text.encode("latin1")


def _empty_bytes(*args: object) -> bytes:
    """Protocol 2's ``bytes()``, the data of an empty array."""
    if args:
        raise _refuse("bytes built from arguments")
    return b""


# Each name a pickle of NumPy arrays uses (module names of NumPy 1 and 2) and what it means
# here. Nothing else is ever looked up.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _DtypeStub,
    ("numpy.core.multiarray", "_reconstruct"): _ArrayStub,
    ("numpy._core.multiarray", "_reconstruct"): _ArrayStub,
    ("numpy.core.numeric", "_frombuffer"): _Callable(_frombuffer),
    ("numpy._core.numeric", "_frombuffer"): _Callable(_frombuffer),
    ("_codecs", "encode"): _Callable(_latin1),
    ("__builtin__", "bytes"): _Callable(_empty_bytes),
}

# The opcodes a pickle of a dict of NumPy arrays is made of (protocols 2 to 5): no lists, sets,
# out-of-band buffers, persistent ids or object construction other than REDUCE.
_ALLOWED_OPCODES = frozenset(
    """PROTO FRAME STOP MARK EMPTY_DICT SETITEM SETITEMS EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
    GLOBAL STACK_GLOBAL REDUCE BUILD MEMOIZE PUT BINPUT LONG_BINPUT GET BINGET LONG_BINGET NONE
    NEWTRUE NEWFALSE BININT BININT1 BININT2 LONG1 BINFLOAT SHORT_BINUNICODE BINUNICODE
    BINUNICODE8 SHORT_BINSTRING BINSTRING SHORT_BINBYTES BINBYTES BINBYTES8 BYTEARRAY8""".split()
)
_IN_PLACE = frozenset({"SETITEM", "SETITEMS", "BUILD"})  # change the object below, push nothing
_MAX_DEPTH = 16  # an array in a dict nests 6 deep; a tuple nested 10**6 deep costs 1 MB


def _check_opcodes(data: bytes) -> None:
    """Refuse, before anything is built, opcodes outside a dict of arrays and deep nesting.

    Unpickling a deeply nested tuple (one byte a level) and hashing it as a dict key overflows
    the C stack and kills the process: the nesting depth of every value is followed on a model
    of the unpickler's stack, from the opcodes alone.
    """
    stack: list[int] = []  # the nesting depth of each value on the stack
    marks: list[int] = []
    memo: dict[int, int] = {}
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name not in _ALLOWED_OPCODES:
            raise _refuse(f"the pickle opcode {name}, which a dict of arrays does not use")
        if name == "MARK":
            marks.append(len(stack))
            continue
        if name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1] if stack else 0
            continue
        if name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo.get(arg, 0))
            continue
        before = op.stack_before
        if pickletools.markobject in before:  # TUPLE, SETITEMS: everything above the mark
            start = marks.pop()
            popped = [*stack[start:], 0]
            del stack[start:]
            n_below = len(before) - 2  # what lies under the mark: the dict of SETITEMS
        else:
            popped, n_below = [0], len(before)
        below = [stack.pop() for _ in range(min(n_below, len(stack)))][::-1]
        if name in _IN_PLACE:  # the dict or object below now holds the popped values
            container, items = (below or [0])[0], below[1:] + popped
            stack.append(max(container, max(items) + 1))
        elif op.stack_after:
            depth = max(below + popped) + 1 if (below or len(popped) > 1) else 0
            if depth > _MAX_DEPTH:
                raise _refuse(f"values nested more than {_MAX_DEPTH} deep")
            stack.extend([depth] * len(op.stack_after))


class _ArrayDictUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, strings, numbers and numeric arrays, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _refuse(
                f"the file asks for {module}.{name}, which is not part of an array"
            ) from None


def check_arrays(obj: object, path: str) -> dict[str, NDArray]:
    """``obj`` as a dict of str to numeric ndarray, or a ParamFileError naming what is wrong."""
    if not isinstance(obj, dict):
        raise ParamFileError(f"{path}: expected a dict of arrays, found {type(obj).__name__}")
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ParamFileError(  # (no repr: a key may be nested too deep to print)
                f"{path}: parameter names must be strings, found a key of type {type(key).__name__}"
            )
        if isinstance(value, _ArrayStub):
            value = value.array
        if type(value) is not np.ndarray or value.dtype.kind not in _CODE_CHARS:
            raise ParamFileError(
                f"{path}: parameter {key!r} is {type(value).__name__}"
                + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")
                + ", expected a NumPy array of numbers"
            )
        arrays[key] = value
    return arrays


def read_array_pickle(data: bytes, name: str) -> dict[str, NDArray]:
    """The dict of arrays pickled in ``data`` (read from the file ``name``), unpickled safely.

    Raises
    ------
    ParamFileError
        ``data`` is not a pickle of a dict of numeric arrays: it names another global, its
        opcodes are not those of such a dict, or its arrays hold more bytes than ``data``.
    """
    try:
        _check_opcodes(data)
        obj = _ArrayDictUnpickler(io.BytesIO(data)).load()
    except Exception as exc:  # refused, or malformed: truncated, wrong arguments, ...
        if isinstance(exc, pickle.UnpicklingError) and str(exc).startswith("refused"):
            raise ParamFileError(f"{name}: {exc}") from None
        raise ParamFileError(f"{name}: not a pickle of NumPy arrays ({exc})") from None
    arrays = check_arrays(obj, name)
    # Each array's bytes are in the file once: a file that uses them again and again
    # (a few bytes a reference) could ask for far more memory than it holds.
    total = sum(a.nbytes for a in arrays.values())
    if total > len(data):
        raise ParamFileError(
            f"{name}: refused: its arrays hold {total:,} bytes, more than the file's "
            f"{len(data):,} (the same data used for several arrays)"
        )
    return {key: a.copy() for key, a in arrays.items()}
