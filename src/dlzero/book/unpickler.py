"""A restricted unpickler for the book's parameter files: a dict of arrays, or nothing.

The book saves a network's ``params`` dict with ``pickle`` (``ch07/params.pkl``,
``ch08/deep_convnet_params.pkl``, and ``ch03/sample_weight.pkl``, a dict of the same kind).
Unpickling runs whatever a file names, so :func:`read_array_pickle` reads a pickle with a
restricted unpickler: it resolves only the few NumPy functions that rebuild an array, builds
nothing but a dict of numeric arrays, and refuses any other file with :class:`ParamFileError`
before anything it names is called.

What a file may cost is decided as it is read. Before the unpickler runs,
:func:`_check_opcodes` reads the file's opcodes: only those a dict of arrays is made of, nested
no deeper than such a dict is, dict keys that are strings (integer keys can be made to hash
alike, and a dict of them takes time in the square of their number), memo indices in order;
and it charges what each opcode makes the unpickler allocate to a byte budget of a few times
the file's size (:class:`_Budget`). The functions a file may call charge what they make to the
same budget while it runs, and the arrays built may not hold more bytes than the file.
"""

from __future__ import annotations

import functools
import io
import math
import pickle
import pickletools
import types
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ParamFileError", "read_array_pickle"]


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


class _Budget:
    """The bytes an unpickling may still allocate; :meth:`charge` refuses the file past them.

    The budget is ``4 * file size + 8 MiB``: a dict of arrays costs the unpickler about the
    size of its file once (protocol 2: twice, the array's bytes as text and then as bytes),
    and about a kilobyte an array of small objects around them (8 MiB: thousands of arrays).
    """

    FACTOR = 4
    SLACK = 8 << 20

    def __init__(self, file_size: int) -> None:
        self.limit = self.FACTOR * file_size + self.SLACK
        self.spent = 0

    def charge(self, nbytes: int, what: str) -> None:
        self.spent += nbytes
        if self.spent > self.limit:
            raise _refuse(
                f"it would make more than {self.limit:,} bytes of objects ({what}), "
                f"{self.FACTOR} times the file's size and {self.SLACK:,} more"
            )


def _frombuffer(
    budget: _Budget, raw: object, dtype: object, shape: object, order: object
) -> NDArray:
    """Protocol 5's ``_frombuffer(buffer, dtype, shape, order)``."""
    if order not in ("C", "F"):
        raise _refuse(f"array order {order!r}")
    if isinstance(raw, pickle.PickleBuffer):  # pragma: no cover - no opcode makes one here
        budget.charge(len(raw.raw()), "an array's buffer copied")
        raw = bytes(raw.raw())
    return _array_from_bytes(raw, dtype, shape, order)  # type: ignore[arg-type]


def _latin1(budget: _Budget, text: object, encoding: object = "latin1") -> bytes:
    """Protocol 2's ``_codecs.encode(text, "latin1")``, how it stores an array's bytes."""
    if not isinstance(text, str) or encoding != "latin1":
        raise _refuse("a codec call other than latin-1 text to bytes")
    # Charged before it is made: the same text can be encoded again and again.
    budget.charge(len(text) + _BYTES, "text encoded to bytes")
    return text.encode("latin1")


def _empty_bytes(budget: _Budget, *args: object) -> bytes:
    """Protocol 2's ``bytes()``, the data of an empty array."""
    if args:
        raise _refuse("bytes built from arguments")
    return b""


# Each name a pickle of NumPy arrays uses (module names of NumPy 1 and 2) and what it means
# here. Nothing else is ever looked up. The functions get the unpickling's budget first.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _DtypeStub,
    ("numpy.core.multiarray", "_reconstruct"): _ArrayStub,
    ("numpy._core.multiarray", "_reconstruct"): _ArrayStub,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # functions: called with the budget
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1,
    ("__builtin__", "bytes"): _empty_bytes,
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
_MEMO = frozenset({"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"})
_FETCH = frozenset({"GET", "BINGET", "LONG_BINGET"})

# What an opcode makes CPython's unpickler allocate, about (64-bit): the object it pushes and
# the stack slot that holds it. Strings and bytes cost their length more (a string at its
# width: 1, 2 or 4 bytes a character), tuples 8 bytes an item, a dict 64 bytes an item.
_SLOT = 8
_BYTES = 48  # a bytes object's header, and its slot
_COSTS = {
    "MARK": _SLOT,
    "EMPTY_DICT": 64 + _SLOT,
    "BININT": 32 + _SLOT,
    "BININT2": 32 + _SLOT,
    "BINFLOAT": 24 + _SLOT,
    "GLOBAL": 64 + _SLOT,  # find_class may wrap a function for this file
    "STACK_GLOBAL": 64 + _SLOT,
    "REDUCE": 400 + _SLOT,  # a dtype, an empty array's stub, an array view
    "BUILD": 256,  # an array view
    "MEMOIZE": 2 * _SLOT,  # the memo table doubles as it grows
    "PUT": 2 * _SLOT,
    "BINPUT": 2 * _SLOT,
    "LONG_BINPUT": 2 * _SLOT,
}
_TEXT = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"})
_DICT_ITEM = 64


def _cost(name: str, arg: object, n_items: int, file_size: int) -> int:
    """What the opcode ``name`` with ``arg``, taking ``n_items`` values off the stack (a
    dict's included), costs, in a file of ``file_size`` bytes."""
    if name in _TEXT:
        assert isinstance(arg, str)
        width = 1 if arg.isascii() or max(arg) <= "\xff" else 2 if max(arg) <= "\uffff" else 4
        return 80 + _SLOT + width * len(arg)
    if isinstance(arg, (bytes, bytearray, str)):  # bytes, bytearray; protocol 0's strings
        return 64 + _SLOT + len(arg)
    if name == "FRAME":  # read whole into a buffer; no more than the file holds
        assert isinstance(arg, int)
        return min(arg, file_size)
    if name == "LONG1":
        assert isinstance(arg, int)
        return 32 + _SLOT + arg.bit_length() // 8
    if name.startswith("TUPLE"):
        return 56 + _SLOT + 8 * n_items
    if name in ("SETITEM", "SETITEMS"):
        return _DICT_ITEM * max(1, n_items // 2)
    return _COSTS.get(name, _SLOT)


def _check_opcodes(data: bytes, budget: _Budget) -> None:
    """Refuse, before anything is built, what a dict of arrays is not made of, and charge
    ``budget`` what each opcode will cost.

    Unpickling a deeply nested tuple (one byte a level) and hashing it as a dict key overflows
    the C stack and kills the process: the nesting depth of every value is followed on a model
    of the unpickler's stack, from the opcodes alone, with its type. A dict key must be a
    string; a memo index the next one or one in use (the unpickler grows its memo table to
    twice the largest index, whatever the file's size).
    """
    stack: list[tuple[int, str]] = []  # each value's nesting depth and type
    marks: list[int] = []
    memo: dict[int, tuple[int, str]] = {}
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name not in _ALLOWED_OPCODES:
            raise _refuse(f"the pickle opcode {name}, which a dict of arrays does not use")
        if name == "MARK":
            marks.append(len(stack))
            budget.charge(_SLOT, "marks")
            continue
        if name in _MEMO:
            index = len(memo) if name == "MEMOIZE" else arg
            if not isinstance(index, int) or index > len(memo):
                raise _refuse(f"memo index {index} out of order ({len(memo)} in use)")
            memo[index] = stack[-1] if stack else (0, "any")
            budget.charge(_COSTS[name], "the memo")
            continue
        if name in _FETCH:
            stack.append(memo.get(arg, (0, "any")))  # type: ignore[arg-type]
            budget.charge(_SLOT, "the stack")
            continue
        before = op.stack_before
        if pickletools.markobject in before:  # TUPLE, SETITEMS: everything above the mark
            start = marks.pop()
            popped = stack[start:]
            del stack[start:]
            n_below = len(before) - 2  # what lies under the mark: the dict of SETITEMS
        else:
            popped, n_below = [], len(before)
        below = [stack.pop() for _ in range(min(n_below, len(stack)))][::-1]
        if name in ("SETITEM", "SETITEMS"):
            pairs = below[1:] + popped
            for _, kind in pairs[::2]:
                if kind not in ("str", "bytes_or_str"):  # protocol 2's strings come as str
                    kind = "object" if kind == "any" else kind
                    raise _refuse(f"parameter names must be strings, found a key of type {kind}")
        budget.charge(_cost(name, arg, len(below) + len(popped), len(data)), f"{name} values")
        depths = [d for d, _ in below + popped]
        if name in _IN_PLACE:  # the dict or object below now holds the popped values
            container, items = (depths or [0])[0], depths[1:]
            kind = below[0][1] if below else "any"
            stack.append((max(container, max([0, *items]) + 1), kind))
        elif op.stack_after:
            depth = max(depths) + 1 if depths else 0
            if depth > _MAX_DEPTH:
                raise _refuse(f"values nested more than {_MAX_DEPTH} deep")
            kind = op.stack_after[0].name
            stack.extend([(depth, kind)] * len(op.stack_after))


class _ArrayDictUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, strings, numbers and numeric arrays, and nothing else;
    the functions a file calls charge what they make to ``budget``."""

    def __init__(self, file: IO[bytes], budget: _Budget) -> None:
        super().__init__(file)
        self.budget = budget

    def find_class(self, module: str, name: str) -> Any:
        try:
            found = _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _refuse(
                f"the file asks for {module}.{name}, which is not part of an array"
            ) from None
        if isinstance(found, types.FunctionType):
            return _Callable(functools.partial(found, self.budget))
        return found


def _check_arrays(obj: object, path: str) -> dict[str, NDArray]:
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
        opcodes are not those of such a dict, it would make more objects than a few times its
        size, or its arrays hold more bytes than ``data``; or memory ran out reading it.
    """
    budget = _Budget(len(data))
    try:
        _check_opcodes(data, budget)
        obj = _ArrayDictUnpickler(io.BytesIO(data), budget).load()
    except MemoryError:
        raise ParamFileError(
            f"{name}: not enough memory to unpickle it ({len(data):,} bytes, allowed to make "
            f"{budget.limit:,} bytes of objects; {budget.spent:,} counted when memory ran out)"
        ) from None
    except Exception as exc:  # refused, or malformed: truncated, wrong arguments, ...
        if isinstance(exc, pickle.UnpicklingError) and str(exc).startswith("refused"):
            raise ParamFileError(f"{name}: {exc}") from None
        raise ParamFileError(f"{name}: not a pickle of NumPy arrays ({exc})") from None
    arrays = _check_arrays(obj, name)
    # Each array's bytes are in the file once: a file that uses them again and again
    # (a few bytes a reference) could ask for far more memory than it holds.
    total = sum(a.nbytes for a in arrays.values())
    if total > len(data):
        raise ParamFileError(
            f"{name}: refused: its arrays hold {total:,} bytes, more than the file's "
            f"{len(data):,} (the same data used for several arrays)"
        )
    try:
        return {key: a.copy() for key, a in arrays.items()}
    except MemoryError:
        raise ParamFileError(
            f"{name}: not enough memory to copy its arrays ({total:,} bytes)"
        ) from None
