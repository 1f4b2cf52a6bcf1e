"""The kernel's side of the judge's calls: runs in the student's (sandboxed) kernel.

The judge writes a request (``wire`` JSON) to a file of the kernel's socket folder and asks
the kernel to run ``__aekeras_bridge__.serve(n)``; this module reads the request, does what it
asks on the student's objects (call a function, read an attribute, ...) and writes the
reply next to it. Tensors go back as NumPy arrays; objects that are not data stay here and
go back as handles, so that the same object is the same handle each time.

Nothing here is trusted: a student can replace any of it. The judge treats every reply as
untrusted data (:func:`aekeras_grader.wire.decode_value`), so a tampered bridge can only
change what the student's own code returns.
"""

import json
import os
import sys

import numpy as np

from .wire import array_to_text, decode_value, encode_float

_objects = {}  # handle -> object (kept alive while the judge may ask for it)
_handles = {}  # id(object) -> handle
_mirrors = {}  # mirror id -> the kernel's copy of a judge's Keras layer
_mirror_ids = {}  # id(copy) -> mirror id
IO_DIR = os.environ.get("AEKERAS_BRIDGE_DIR", "")


def _keras():
    return sys.modules.get("keras")


def _handle(obj):
    key = id(obj)
    if key not in _handles:
        _handles[key] = len(_objects) + 1
        _objects[_handles[key]] = obj
    cls = type(obj)
    return {"$h": _handles[key], "cls": f"{cls.__module__}.{cls.__qualname__}"}


def encode(obj, depth=0):
    if depth > 48:
        raise ValueError("value nested too deeply")
    if id(obj) in _mirror_ids:
        return {"$m": _mirror_ids[id(obj)]}
    if obj is None or type(obj) in (bool, int, str):
        return obj
    if type(obj) is float:
        return encode_float(obj)
    if type(obj) is list:
        return [encode(v, depth + 1) for v in obj]
    if type(obj) is tuple:
        return {"$t": [encode(v, depth + 1) for v in obj]}
    if type(obj) is dict:
        return {"$d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in obj.items()]}
    if isinstance(obj, np.ndarray) and obj.dtype.kind != "O":
        return {"$a": array_to_text(np.asarray(obj))}
    if isinstance(obj, np.generic) and np.asarray(obj).dtype.kind != "O":
        return {"$s": array_to_text(np.asarray(obj))}
    keras = _keras()
    if keras is not None and not isinstance(obj, keras.Variable) and keras.ops.is_tensor(obj):
        return {"$a": array_to_text(np.asarray(keras.ops.convert_to_numpy(obj)))}
    return _handle(obj)


def _mirror(spec):
    keras = _keras()
    key = spec["$m"]
    layer = _mirrors.get(key)
    if layer is None:
        layer = keras.saving.deserialize_keras_object(spec["config"])
        _mirrors[key] = layer
        _mirror_ids[id(layer)] = key
    _set_state(layer, spec)
    return layer


def _set_state(layer, spec):
    if "trainable" in spec:
        layer.trainable = bool(spec["trainable"])
    weights = spec.get("weights")
    if weights:
        layer.set_weights([decode_value(w, _ref) for w in weights])


def _state(layer):
    return {
        "trainable": bool(layer.trainable),
        "weights": [encode(np.asarray(w)) for w in layer.get_weights()],
    }


def _ref(spec):
    if "$h" in spec:
        return _objects[spec["$h"]]
    if "$n" in spec:
        user_ns = get_ipython().user_ns  # noqa: F821 - the kernel's IPython
        if spec["$n"] not in user_ns:
            raise NameError(f"name {spec['$n']!r} is not defined")
        return user_ns[spec["$n"]]
    return _mirror(spec)


def _numpy(obj):
    keras = _keras()
    if keras is not None and isinstance(obj, keras.Variable):
        obj = obj.value
    if keras is not None and keras.ops.is_tensor(obj):
        return np.asarray(keras.ops.convert_to_numpy(obj))
    return np.asarray(obj)


def _do(request):
    op = request["op"]
    if op == "seed":
        import random

        seed = int(request["seed"])
        if request.get("kind") == "numpy":
            np.random.seed(seed)
        elif _keras() is not None:
            _keras().utils.set_random_seed(seed)
        else:
            random.seed(seed)
            np.random.seed(seed)
        return None
    target = decode_value(request["target"], _ref)
    if op == "call":
        args = decode_value(request["args"], _ref)
        kwargs = decode_value(request["kwargs"], _ref)
        return target(*args, **kwargs)
    if op == "getattr":
        return getattr(target, request["name"])
    if op == "setattr":
        setattr(target, request["name"], decode_value(request["value"], _ref))
        return None
    if op == "getitem":
        return target[decode_value(request["key"], _ref)]
    if op == "len":
        return len(target)
    if op == "list":
        return list(target)
    if op == "array":
        return _numpy(target)
    if op == "number":
        return float(target) if request.get("kind") == "float" else int(target)
    if op == "repr":
        return repr(target)[:2000]
    if op == "value":
        return target
    raise ValueError(f"unknown operation {op!r}")


def serve(n):
    """Answers request ``n`` of the judge (``req-<n>.json`` -> ``rep-<n>.json``)."""
    with open(os.path.join(IO_DIR, f"req-{n}.json")) as f:
        request = json.load(f)
    reply = {}
    try:
        reply["ok"] = encode(_do(request))
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the judge
        import traceback

        # the student's own frames, for the feedback (this module's are noise)
        frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename != __file__][-8:]
        reply = {
            "err": [type(err).__name__, str(err)[:2000]],
            "tb": "".join(traceback.format_list(frames))[-4000:],
        }
    mirrors = {}
    for key in request.get("mirrors", []):
        if key in _mirrors:
            try:
                mirrors[str(key)] = _state(_mirrors[key])
            except Exception:  # noqa: BLE001
                pass
    reply["mirrors"] = mirrors
    path = os.path.join(IO_DIR, f"rep-{n}.json")
    with open(path + ".part", "w") as f:
        json.dump(reply, f)
    os.replace(path + ".part", path)
