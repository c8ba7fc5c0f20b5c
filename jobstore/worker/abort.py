"""A second stop signal stops the worker, even when its experiment never returns to Python.

The first stop signal only asks the experiment to stop at its next ``channel.switch()``. A second
one that means "now" (:class:`AbortRule`) raises ``KeyboardInterrupt`` in the worker's main thread
(:class:`~.channel.StopSignals`): an experiment in Python code (a ``time.sleep`` loop, say) is
interrupted there, and the worker hands its job back (START) and exits (130 for SIGINT, 143 for
SIGTERM). A SIGTERM that follows the first within ``DUPLICATE_WINDOW_S`` is the same request
delivered twice, not a second one: a launcher that forwards SIGTERM to its child while the whole
process group gets it too (``backends/launcher.py``, an ssh cancel) delivers it twice in
milliseconds, and a well-behaved experiment must still get its checkpoint.

Python runs signal handlers only when the main thread comes back to the interpreter, so an
experiment stuck in native code (a long C call, a deadlocked lock) would never see that exception.
:class:`AbortWatchdog` covers that case: the C-level handler writes every signal number to a
wakeup file descriptor (``signal.set_wakeup_fd``) at once, whatever the main thread does; a thread
reading it sees the second stop signal and, if the process is still there ``ABORT_GRACE_S``
later, ends it with ``os._exit``. Its job is then not handed back: it stays RUNNING until its lease
expires, and the next claim requeues it (counted as one lost lease).
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable

__all__ = ["ABORT_GRACE_S", "ABORT_SIGNALS", "DUPLICATE_WINDOW_S", "AbortRule", "AbortWatchdog"]

# After a second SIGTERM/SIGINT, the worker has this long to hand its job back and exit by itself.
ABORT_GRACE_S = 5.0
# The stop signals that abort when they come after a first stop signal (SIGUSR1/2 are a batch
# scheduler's warnings, which may be repeated: they never abort).
ABORT_SIGNALS: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
# A SIGTERM this soon after the first SIGTERM/SIGINT is a duplicate delivery (see the docstring).
DUPLICATE_WINDOW_S = 1.0


class AbortRule:
    """Whether a stop signal, given the ones before it, aborts: a SIGINT after any stop signal (a
    person at a terminal); a SIGTERM at least ``DUPLICATE_WINDOW_S`` after a first SIGTERM or
    SIGINT. A SIGTERM after only SIGUSR1/2 (a scheduler's warning, then its time limit) does not:
    the experiment keeps its chance to checkpoint. The signal handler and the watchdog each keep one."""

    def __init__(self) -> None:
        self.seen = False  # any stop signal before
        self.first_hard_at: float | None = None  # monotonic time of the first SIGTERM/SIGINT

    def aborts(self, signum: int, now: float) -> bool:
        if signum == signal.SIGINT:
            verdict = self.seen
        else:
            verdict = (signum == signal.SIGTERM and self.first_hard_at is not None
                       and now - self.first_hard_at >= DUPLICATE_WINDOW_S)
        self.seen = True
        if signum in ABORT_SIGNALS and self.first_hard_at is None:
            self.first_hard_at = now
        return verdict


class AbortWatchdog:
    """Watches the process's signals from a thread (see the module docstring). ``start()`` in the
    main thread while the stop signals are trapped, ``stop()`` when they no longer are."""

    def __init__(self, stop_signals: Iterable[int], grace_s: float = ABORT_GRACE_S,
                 on_abandon: Callable[[str], None] | None = None) -> None:
        self.stop_signals = frozenset(int(s) for s in stop_signals)
        self.grace_s = grace_s
        self.on_abandon = on_abandon  # told (from the thread) why the process is about to end
        self._read: socket.socket | None = None
        self._write: socket.socket | None = None
        self._previous_fd = -1
        self._stopped = threading.Event()
        self.aborted_by: int | None = None  # the signal that aborts, once decided (here or by arm())

    def start(self) -> None:
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self._read.settimeout(0.25)  # the thread sees arm() and stop() without a signal
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        threading.Thread(target=self._run, name="jobman-abort-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        signal.set_wakeup_fd(self._previous_fd)
        if self._write is not None:
            self._write.close()  # the thread reads the end of the stream (or times out) and ends;
            # it closes its own end: closed here, its number could be reused under a recv in flight

    def arm(self, signum: int) -> None:
        """The signal handler decided that ``signum`` aborts: the grace period starts now here too."""
        if self.aborted_by is None:
            self.aborted_by = signum

    def _run(self) -> None:
        assert self._read is not None
        with self._read:
            self._watch(self._read)

    def _watch(self, sock: socket.socket) -> None:
        rule = AbortRule()
        while not self._stopped.is_set() and self.aborted_by is None:
            try:
                data = sock.recv(64)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            for signum in data:
                if signum in self.stop_signals and rule.aborts(signum, now) and self.aborted_by is None:
                    self.aborted_by = signum
        if self.aborted_by is not None:
            self._abandon_after_grace(self.aborted_by)

    def _abandon_after_grace(self, signum: int) -> None:
        """The main thread had ``grace_s`` to hand its job back and exit; it did not: end now."""
        if self._stopped.wait(self.grace_s):
            return
        name = signal.Signals(signum).name
        if self.on_abandon is not None:
            try:
                self.on_abandon(f"second {name}, and the experiment did not return to Python within "
                                f"{self.grace_s:g} s: exiting now; its job stays RUNNING until its lease "
                                "expires, then goes back to START")
            except Exception:  # noqa: BLE001 - the exit below must happen whatever the message does
                pass
        os._exit(128 + signum)
