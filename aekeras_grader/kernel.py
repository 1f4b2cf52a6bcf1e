"""The grading kernel's ``sys.stdout`` / ``sys.stderr``: printed output capped per cell.

A loop that prints forever (``while True: print(..., flush=True)``) sends one message per
line until the cell timeout interrupts it: 30 000 messages in 6 s on this machine. The grader
must read every one before it may go on; on a busy machine it falls behind, ZeroMQ drops
messages past its high-water mark, the kernel's final "idle" among them, and nbclient's wait
for it (``iopub_timeout``) ends in ``Timeout waiting for IOPub output``: nbgrader then gives
up on the whole submission. Bounding the output where it is made, in the kernel, keeps the
stream of messages small.

``BoundedExecute`` starts its kernels with
``--IPKernelApp.outstream_class=aekeras_grader.kernel.BoundedOutStream``.
"""

import os
import sys

from ipykernel.iostream import OutStream

MAX_CHARS_ENV = "AEKERAS_GRADING_MAX_OUTPUT"
MAX_CHARS = 2_000_000  # characters of printed output per cell
# The one note for output cut short, in the kernel and in what the grader keeps.
TRUNCATED = "\n... Output truncated (too long): the rest of this output is dropped ...\n"


class BoundedOutStream(OutStream):
    """ipykernel's ``OutStream`` with at most ``max_chars`` characters and a bounded number
    of messages per cell.

    The counts start again with each execute request (each cell). Past ``max_chars``, writes
    are dropped after one note saying so (``max_chars`` comes from the environment variable
    ``AEKERAS_GRADING_MAX_OUTPUT``; 2 000 000 when unset). Past ``max_flushes`` explicit
    flushes, ``flush()`` no longer sends at once: the text is sent with the stream's regular
    flush, every ``flush_interval`` (0.2 s), so a flood becomes five messages a second,
    and nothing printed within ``max_chars`` is lost.
    """

    max_flushes = 1000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_chars = int(os.environ.get(MAX_CHARS_ENV, MAX_CHARS))
        self._cell = None
        self._written = 0
        self._flushes = 0

    def _count(self):
        cell = self.parent_header.get("msg_id")
        if cell != self._cell:
            self._cell, self._written, self._flushes = cell, 0, 0

    def flush(self):
        self._count()
        self._flushes += 1
        # The kernel's own flush before it replies stays immediate, so nothing printed
        # arrives after the cell has finished.
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if self._flushes > self.max_flushes and not caller.startswith("ipykernel"):
            if self.pub_thread is not None:
                self._schedule_flush()
            return
        super().flush()

    def write(self, string):
        self._count()
        used = self._written
        self._written += len(string) if isinstance(string, str) else 0
        if self._written <= self.max_chars:
            return super().write(string)
        if used <= self.max_chars:
            super().write(TRUNCATED)
        return len(string)
