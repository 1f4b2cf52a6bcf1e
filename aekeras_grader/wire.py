"""Values that cross between a student's kernel and the judge: JSON and NumPy, never pickles.

A request or a reply is one JSON document. Inside it a value is JSON (``None``, booleans,
numbers, strings, lists) or one of these tagged objects:

=========================  ==========================================================
``{"$f": "nan"}``          a float JSON cannot hold (``nan``, ``inf``, ``-inf``)
``{"$t": [...]}``          a tuple
``{"$d": [[k, v], ...]}``  a dict (keys are values too)
``{"$a": "<base64>"}``     a NumPy array in ``.npy`` format, read with ``allow_pickle=False``
``{"$s": "<base64>"}``     a NumPy scalar (a 0-d ``.npy`` array)
``{"$h": 7, "cls": ...}``  a handle: an object that stays in the kernel
``{"$n": "center"}``       a global name of the student's kernel
``{"$m": 3, ...}``         a Keras layer of the judge's, mirrored into the kernel
=========================  ==========================================================

:func:`decode_data` is what the judge applies to the kernel's bytes: it builds only these
types, refuses object arrays, and bounds depth and size, so that nothing a student writes
runs in the judge.
"""

import base64
import io
import json
import math

import numpy as np

MAX_DEPTH = 64
MAX_BYTES = 64 * 1024**2  # a reply larger than this is refused (a test's arrays are MBs)
ARRAY_KINDS = "biufcSUM?"  # bool, ints, floats, complex, bytes, str, datetime; never object


class WireError(ValueError):
    """A message that does not follow the format (from a kernel that was tampered with)."""


def array_to_text(array):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def array_from_text(text):
    if not isinstance(text, str):
        raise WireError("an array must be base64 text")
    array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    if array.dtype.kind not in ARRAY_KINDS:
        raise WireError(f"arrays of dtype {array.dtype} are not accepted")
    return array


def encode_float(x):
    return x if math.isfinite(x) else {"$f": repr(x)}


def decode_value(value, handle, depth=0):
    """A wire value as a Python value; ``handle(tagged_dict)`` builds ``$h`` / ``$m`` values."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, list):
        return [decode_value(v, handle, depth + 1) for v in value]
    if not isinstance(value, dict) or len(value) == 0:
        raise WireError(f"unexpected value of type {type(value).__name__}")
    if "$f" in value:
        if value["$f"] not in ("nan", "inf", "-inf"):
            raise WireError("bad float")
        return float(value["$f"])
    if "$t" in value:
        if not isinstance(value["$t"], list):
            raise WireError("bad tuple")
        return tuple(decode_value(v, handle, depth + 1) for v in value["$t"])
    if "$d" in value:
        items = value["$d"]
        if not isinstance(items, list) or not all(
            isinstance(i, list) and len(i) == 2 for i in items
        ):
            raise WireError("bad dict")
        out = {}
        for k, v in items:
            key = decode_value(k, handle, depth + 1)
            if not isinstance(key, str | int | float | bool | tuple | type(None)):
                raise WireError("bad dict key")
            out[key] = decode_value(v, handle, depth + 1)
        return out
    if "$a" in value:
        return array_from_text(value["$a"])
    if "$s" in value:
        array = array_from_text(value["$s"])
        if array.shape != ():
            raise WireError("a scalar must be a 0-d array")
        return array[()]
    if "$h" in value or "$m" in value or "$n" in value:
        return handle(value)
    raise WireError(f"unknown tag in {sorted(value)[:3]}")


def decode_data(data):
    """Parses a reply's bytes (JSON); refuses more than ``MAX_BYTES``."""
    if len(data) > MAX_BYTES:
        raise WireError(f"reply of {len(data)} bytes is larger than {MAX_BYTES}")
    return json.loads(data)
