"""The judge: a clean interpreter on the grader's side that runs every test cell.

One judge process per submission (``python -m aekeras_grader.judge``, started by
:class:`aekeras_grader.preprocessors.JudgedExecute`). It runs the notebook's locked setup
itself, then each test cell, visible and hidden lines alike, in its own namespace. The names
the answer cells define (``center``, ``build_encoder``...) are :class:`Remote` proxies:
calling one, reading an attribute, indexing or converting it to an array is a request to the
student's sandboxed kernel (:mod:`aekeras_grader.bridge`), and what comes back is data
(numbers, strings, NumPy arrays: :mod:`aekeras_grader.wire`) or another proxy. Tensors come
back as arrays. So ``assert``, ``np.allclose``, ``isinstance`` and every reference
computation run here, where the student's code cannot reach: an AST transformer, a wrapped
``run_cell`` or a patched ``numpy`` in the kernel changes nothing of the verdict.

What a test may do with the student's objects:

* call them, read and set attributes, index, iterate, take ``len``, ``np.asarray`` /
  ``ops.convert_to_numpy``, ``float``/``int``; identity holds (the same kernel object is the
  same proxy), and ``isinstance(proxy, keras.layers.Dense)`` and ``proxy.__class__`` hold
  for Keras's own classes (``type(proxy)`` is ``Remote``: tests name a class through
  ``x.__class__.__name__``);
* pass them back to the student's functions, with arrays, numbers, strings and containers;
* pass a Keras layer built in the test (``layers.Dense(16)``): it is mirrored into the
  kernel by its config and weights, and its state (weights, ``trainable``) comes back after
  every call, so a function that freezes or trains it is seen doing so;
* not: use a student's object inside a Keras container built here (``keras.Sequential([
  student_model])``, ``keras.Model(judge_inputs, student_layer(judge_inputs))``): call the
  student's objects instead, or build the container in the kernel with ``student_keras``
  (the kernel's Keras; write ``globals().get("student_keras", keras)`` so that the cell
  also runs in a plain notebook).

``keras.utils.set_random_seed`` and ``np.random.seed`` in a test seed the kernel too, so the
student's code draws the same numbers as when the whole cell ran there.

Protocol with the preprocessor: JSON lines on stdin, answers as JSON lines on the original
stdout (file descriptor 1 is pointed at stderr, so nothing printed can corrupt it).
"""

import ast
import builtins
import contextlib
import io
import itertools
import json
import os
import stat
import sys
import time
import traceback

import numpy as np

from . import wire

BUILTIN_ERRORS = {
    name: obj
    for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}


class StudentError(Exception):
    """An exception of a type the judge does not know, raised by the student's code."""


class KernelDied(RuntimeError):
    """The student's kernel died while the judge waited for it."""


class CellTimeout(TimeoutError):
    """The student's code ran past the cell's time limit."""


class Remote:
    """A student's object that lives in the kernel; every use of it is a request there."""

    __slots__ = ("_spec", "_link", "__weakref__")

    def __init__(self, spec, link):
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_link", link)

    @property
    def __class__(self):  # isinstance() with Keras's own classes, as the kernel names them
        return self._link.resolve_class(self._spec.get("cls")) or Remote

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._link.request("getattr", self, name=name)

    def __setattr__(self, name, value):
        self._link.request("setattr", self, name=name, value=self._link.encode(value))

    def __call__(self, *args, **kwargs):
        return self._link.request(
            "call", self, args=self._link.encode(list(args)), kwargs=self._link.encode(kwargs)
        )

    def __getitem__(self, key):
        return self._link.request("getitem", self, key=self._link.encode(key))

    def __len__(self):
        n = self._link.request("len", self)
        if type(n) is not int:
            raise TypeError("len() of a student's object gave no int")
        return n

    def __iter__(self):
        items = self._link.request("list", self)
        if not isinstance(items, list):
            raise TypeError("iterating over a student's object gave no list")
        return iter(items)

    def __array__(self, dtype=None, copy=None):
        array = self._link.request("array", self)
        if not isinstance(array, np.ndarray | np.generic | int | float | bool):
            raise TypeError("a student's object did not convert to an array")
        return np.asarray(array, dtype=dtype)

    def __float__(self):
        return float(self._link.request("number", self, kind="float"))

    def __int__(self):
        return int(self._link.request("number", self, kind="int"))

    __index__ = __int__

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return object.__hash__(self)

    def __bool__(self):
        return True

    def __repr__(self):
        return f"<student's {self._spec.get('cls') or self._spec.get('$n')}>"


class KernelLink:
    """The judge's connection to the student's kernel (a second client of its sockets)."""

    def __init__(self, connection_file, io_dir, kernel_pid=None):
        from jupyter_client import BlockingKernelClient

        self.io_dir = io_dir
        self.kernel_pid = kernel_pid
        self.client = BlockingKernelClient(connection_file=connection_file)
        self.client.load_connection_file()
        self.client.start_channels()
        self.counter = itertools.count(1)
        self.proxies = {}  # handle -> Remote, so identity holds
        self.names = {}
        self.mirrors = {}  # mirror id -> the judge's layer
        self.mirror_ids = {}  # id(layer) -> mirror id
        self.sent = set()
        self.deadline = None
        self._classes = {}

    def close(self):
        with contextlib.suppress(Exception):
            self.client.stop_channels()

    # --- values -----------------------------------------------------------------------------
    def resolve_class(self, name):
        if not isinstance(name, str) or not name.startswith("keras."):
            return None
        if name not in self._classes:
            module, _, qualname = name.rpartition(".")
            obj = sys.modules.get(module)
            for part in qualname.split("."):
                obj = getattr(obj, part, None)
            self._classes[name] = obj if isinstance(obj, type) else None
        return self._classes[name]

    def encode(self, value, depth=0):
        if depth > wire.MAX_DEPTH:
            raise ValueError("value nested too deeply to pass to the student's code")
        if isinstance(value, Remote):
            return {k: v for k, v in value._spec.items() if k in ("$h", "$n")}
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            return wire.encode_float(value)
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in value]
        if isinstance(value, tuple):
            return {"$t": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, dict):
            return {"$d": [[self.encode(k), self.encode(v, depth + 1)] for k, v in value.items()]}
        if isinstance(value, np.ndarray):
            return {"$a": wire.array_to_text(value)}
        if isinstance(value, np.generic):
            return {"$s": wire.array_to_text(np.asarray(value))}
        keras = sys.modules.get("keras")
        if keras is not None:
            if isinstance(value, keras.layers.Layer):
                return self._mirror(value, keras)
            if keras.ops.is_tensor(value) or isinstance(value, keras.Variable):
                return {"$a": wire.array_to_text(np.asarray(keras.ops.convert_to_numpy(value)))}
        raise TypeError(f"a test cannot pass a {type(value).__name__} to the student's code")

    def _mirror(self, layer, keras):
        key = self.mirror_ids.get(id(layer))
        if key is None:
            key = len(self.mirrors) + 1
            self.mirrors[key], self.mirror_ids[id(layer)] = layer, key
        self.sent.add(key)
        return {
            "$m": key,
            "config": keras.saving.serialize_keras_object(layer),
            "trainable": bool(layer.trainable),
            "weights": [{"$a": wire.array_to_text(np.asarray(w))} for w in layer.get_weights()],
        }

    def decode(self, value):
        return wire.decode_value(value, self._handle)

    def _handle(self, spec):
        if "$m" in spec:
            layer = self.mirrors.get(spec["$m"])
            if layer is None:
                raise wire.WireError("unknown mirror")
            return layer
        if "$h" not in spec or type(spec["$h"]) is not int:
            raise wire.WireError("bad handle")
        proxy = self.proxies.get(spec["$h"])
        if proxy is None:
            cls = spec.get("cls")
            clean = {"$h": spec["$h"], "cls": cls if isinstance(cls, str) else None}
            proxy = self.proxies[spec["$h"]] = Remote(clean, self)
        return proxy

    def name(self, name):
        if name not in self.names:
            self.names[name] = Remote({"$n": name}, self)
        return self.names[name]

    # --- requests ---------------------------------------------------------------------------
    def request(self, op, target=None, **fields):
        n = next(self.counter)
        request = {"op": op, **fields}
        if target is not None:
            request["target"] = self.encode(target)
        request["mirrors"] = sorted(self.sent)
        self._write(os.path.join(self.io_dir, f"req-{n}.json"), json.dumps(request))
        try:
            self._run(f"__aekeras_bridge__.serve({n})")
            reply = self._read(os.path.join(self.io_dir, f"rep-{n}.json"))
        finally:
            for name in (f"req-{n}.json", f"rep-{n}.json"):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.io_dir, name))
        if not isinstance(reply, dict):
            raise wire.WireError("the kernel's reply is not an object")
        self._sync(reply.get("mirrors"))
        if "err" in reply:
            ename, evalue = (reply["err"] + ["", ""])[:2]
            ename, evalue = str(ename)[:200], str(evalue)[:2000]
            cls = BUILTIN_ERRORS.get(ename)
            if cls is None or cls in (SystemExit, KeyboardInterrupt, GeneratorExit):
                err = StudentError(f"{ename}: {evalue}")
            else:
                try:
                    err = cls(evalue)
                except Exception:  # noqa: BLE001 - an exception type with other arguments
                    err = StudentError(f"{ename}: {evalue}")
            tb = reply.get("tb")
            if isinstance(tb, str) and tb:
                err.add_note(f"Raised in your code:\n{tb[-4000:]}")
            raise err
        if "ok" not in reply:
            raise wire.WireError("the kernel's reply has no value")
        return self.decode(reply["ok"])

    def _sync(self, states):
        if not isinstance(states, dict):
            return
        for key, state in states.items():
            layer = self.mirrors.get(int(key)) if str(key).isdigit() else None
            if layer is None or not isinstance(state, dict):
                continue
            layer.trainable = bool(state.get("trainable", layer.trainable))
            weights = [self.decode(w) for w in state.get("weights", [])]
            current = layer.get_weights()
            if len(weights) == len(current) and all(
                isinstance(w, np.ndarray) and w.shape == c.shape for w, c in zip(weights, current)
            ):
                layer.set_weights(weights)

    def _alive(self):
        if self.kernel_pid is None:
            return True
        try:
            os.kill(self.kernel_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        with contextlib.suppress(OSError), open(f"/proc/{self.kernel_pid}/stat") as f:
            if f.read().split(") ")[-1].startswith("Z"):
                return False
        return True

    def _run(self, code):
        import queue

        msg_id = self.client.execute(code, silent=True, store_history=False, allow_stdin=False)
        while True:
            if self.deadline is not None and time.monotonic() > self.deadline:
                self._interrupt()
                raise CellTimeout("the student's code ran past the cell's time limit")
            try:
                reply = self.client.get_shell_msg(timeout=0.25)
            except queue.Empty:
                if not self._alive():
                    raise KernelDied("the student's kernel died") from None
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                self._drain()
                return reply

    def _drain(self):
        """Drops what the kernel printed during the calls (the judge shows none of it)."""
        import queue

        with contextlib.suppress(queue.Empty, Exception):
            for _ in range(100_000):
                self.client.iopub_channel.get_msg(timeout=0)

    def _interrupt(self):
        with contextlib.suppress(Exception):
            msg = self.client.session.msg("interrupt_request", content={})
            self.client.control_channel.send(msg)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    self.client.get_shell_msg(timeout=0.5)
                    return

    # The kernel can write in its socket folder: a name there may be a symlink it planted to a
    # file of the grader's. So the judge never follows one, creates its requests anew, and
    # reads only regular files with a single link.

    def _write(self, path, text):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)  # removes a planted symlink itself, not its target
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise wire.WireError(f"the kernel's folder was tampered with ({err})") from None
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _read(self, path):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            raise wire.WireError("the kernel did not answer (its bridge was removed?)") from None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                raise wire.WireError("the kernel's reply is not a plain file")
            if info.st_size > wire.MAX_BYTES:
                raise wire.WireError(f"the kernel's reply is too large ({info.st_size} bytes)")
            return wire.decode_data(f.read(wire.MAX_BYTES + 1))


# --- running cells ------------------------------------------------------------------------------


def defined_names(source):
    """Top-level names a cell defines (functions, classes, assigned and imported names)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _format_error(err):
    lines = traceback.format_exception(type(err), err, err.__traceback__)
    # the judge's own frames say nothing to a student: keep the test cell's lines
    keep = [line for line in lines if "aekeras_grader" not in line]
    return {
        "output_type": "error",
        "ename": type(err).__name__,
        "evalue": str(err),
        "traceback": keep or lines,
    }


class Judge:
    """Runs setup and test cells in one namespace, with the kernel's names as proxies."""

    current = None  # the judge of the submission being graded (one at a time per process)

    def __init__(self, link):
        Judge.current = self
        self.in_test = False
        self.link = link
        # ``student_keras``: the kernel's own Keras, for a test that builds a model around a
        # student's layer where the layer lives (``student_keras.Input``, ``.Model``)
        self.ns = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "student_keras": link.name("keras"),
        }
        self.seeded = False

    def _mirror_seeds(self):
        """``keras.utils.set_random_seed`` and ``np.random.seed`` in a test cell seed the
        kernel too (not in the setup, which the kernel runs itself)."""
        keras = sys.modules.get("keras")
        if keras is not None and not getattr(keras.utils.set_random_seed, "_judge", False):
            original = keras.utils.set_random_seed

            def set_random_seed(seed):
                original(seed)
                if Judge.current is not None and Judge.current.in_test:
                    Judge.current.link.request("seed", seed=int(seed), kind="keras")

            set_random_seed._judge = True
            keras.utils.set_random_seed = set_random_seed
        if not getattr(np.random.seed, "_judge", False):
            original_np = np.random.seed

            def seed(value=None):
                original_np(value)
                if value is not None and Judge.current is not None and Judge.current.in_test:
                    Judge.current.link.request("seed", seed=int(value), kind="numpy")

            seed._judge = True
            np.random.seed = seed

    def run(self, source, names=(), timeout=None):
        """Executes a cell; returns its outputs as nbformat dicts (streams, error, result)."""
        for name in names:
            self.ns[name] = self.link.name(name)
        self.in_test = bool(names)
        self._mirror_seeds()
        out, outputs = io.StringIO(), []
        self.link.deadline = None if timeout is None else time.monotonic() + timeout
        try:
            tree = ast.parse(source)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(compile(tree, "<test cell>", "exec"), self.ns)
                value = (
                    None if last is None else eval(compile(last, "<test cell>", "eval"), self.ns)
                )
            if value is not None:
                outputs.append(
                    {
                        "output_type": "execute_result",
                        "data": {"text/plain": repr(value)},
                        "metadata": {},
                        "execution_count": None,
                    }
                )
        except BaseException as err:  # noqa: BLE001 - the cell's failure is its verdict
            if isinstance(err, KeyboardInterrupt | SystemExit):
                err = RuntimeError(f"{type(err).__name__} in a test cell")
            outputs.append(_format_error(err))
        finally:
            self.link.deadline = None
            self.in_test = False
            self._mirror_seeds()
        if out.getvalue():
            outputs.insert(0, {"output_type": "stream", "name": "stdout", "text": out.getvalue()})
        return outputs


def handle(lines, write):
    """Serves one submission: JSON requests from ``lines``, answers through ``write``.

    ``start`` connects to the submission's kernel and makes a fresh namespace; ``run``
    executes a cell; ``quit`` (or the end of ``lines``) closes the connection.
    """
    judge = None
    try:
        for line in lines:
            request = json.loads(line)
            op = request["op"]
            if op == "start":
                if judge is not None:
                    judge.link.close()
                link = KernelLink(request["connection_file"], request["io_dir"], request.get("pid"))
                judge = Judge(link)
                reply = {"ok": True}
            elif op == "run":
                outputs = judge.run(
                    request["source"], request.get("names", ()), request.get("timeout")
                )
                reply = {"outputs": outputs}
            elif op == "quit":
                break
            else:
                reply = {"error": f"unknown op {op}"}
            write(json.dumps(reply) + "\n")
    finally:
        if judge is not None:
            judge.link.close()
        Judge.current = None


def serve(path):
    """A judge for one grading worker after another (``make grade``): one process imports
    Keras once, and each submission still gets a fresh namespace and runs the setup again.

    Listens on the Unix socket ``path`` (in the grader's private work folder) and serves one
    connection at a time.
    """
    import socket

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        server.bind(path)
    finally:
        os.umask(old)
    server.listen(1)
    while True:
        connection, _ = server.accept()
        with connection, connection.makefile("r") as reader, connection.makefile("w") as writer:

            def write(text, writer=writer):
                writer.write(text)
                writer.flush()

            with contextlib.suppress(OSError, ValueError):
                handle(reader, write)


def main():
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed at the C level goes to stderr, not into the protocol
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
        return

    def write(text):
        protocol.write(text)
        protocol.flush()

    handle(sys.stdin, write)


if __name__ == "__main__":
    main()
