"""The channel handed to ``experiment(state, channel)``, and the stop signals it reports.

An experiment polls ``channel.switch()`` (or ``channel()``) now and then:

- ``'stop'``: the worker received SIGTERM, SIGINT, SIGUSR1 or SIGUSR2 (a batch scheduler's warning
  before preemption or the walltime), or the job is no longer this worker's (its lease was lost or
  another client changed its status). The experiment should write its checkpoint files in its
  working directory and ``return channel.INCOMPLETE``; the job goes back to START with priority
  raised to at least 2.0 and resumes from those files wherever it is claimed next. Unlike Jobman's,
  ``'stop'`` is sticky: every later call returns it again, so nested loops all see it.
- ``'finish-up'``: once, ``--finish-up-after`` seconds after the experiment started.
- ``'save'``: every ``--save-every`` seconds (the clock restarts when ``'save'`` is returned, as in
  Jobman); never after ``'finish-up'``.
- ``None``: carry on.

``channel.report(step, **metrics)`` records metric values at a step (an epoch): they wait in the
channel and go to the table's metric history with the next save or the finish, in the same fenced
transaction (a refused attempt writes none). Cheap: no database work of its own.
``channel.save()`` writes ``current.conf`` and the state to the table (fenced by the attempt);
``channel.save_and_switch()`` saves and returns what ``switch()`` says (Jobman's returned None).
The return values are Jobman's, and easy to mistake: ``channel.COMPLETE`` is ``None`` (what a function
that returns nothing returns) → DONE; ``channel.INCOMPLETE`` is ``True`` → START, requeued (meant for
after ``'stop'`` or ``'finish-up'``: an experiment that returns it unasked, without changing its state,
``--max-attempts`` times in a row ends as ERR_RUN); anything else or an exception → ERR_RUN.
"""
from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import Any

from .. import status as _status
from ..errors import ParamError
from ..files import atomic_write
from ..store.metrics import Point, make_points
from .abort import AbortRule, AbortWatchdog

STOP_SIGNALS: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)

STOP = "stop"
FINISH_UP = "finish-up"
SAVE = "save"

_CONF_KEY_RE = re.compile(r"^[^\s\x00-\x1f\x7f:=#'\"{}]+$")
# Keys already found valid: a worker writes the same keys twice per job (orig.conf, current.conf),
# and checking each against the pattern again was a third of formatting a job's conf.
_CONF_KEYS_SEEN: set[str] = set()
_CONF_KEYS_SEEN_MAX = 10_000


class StopSignals:
    """Trap the stop signals while active (a ``with`` block in the main thread).

    A trapped signal only records itself: the experiment sees it through ``switch()`` and the
    worker claims no further job. A second SIGINT, or a second SIGTERM (not a duplicate delivery:
    :class:`~.abort.AbortRule`), raises ``KeyboardInterrupt`` so that an experiment that never
    polls is still stopped; :mod:`.abort` ends the process if that exception cannot reach it.
    Outside the main thread nothing is installed (Python only delivers signals there) and
    :attr:`installed` is False.
    """

    def __init__(self, signals: Iterable[int] = STOP_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.received: int | None = None  # the first stop signal received
        self.aborted_by: int | None = None  # the second SIGINT/SIGTERM, which interrupted the worker
        self.count = 0
        self.installed = False
        self._previous: dict[int, Any] = {}
        # Called (in the handler) with the signal's name when the first one arrives, so the worker
        # can say at once what happens next; it must not take locks or use buffered files.
        self.on_first: Callable[[str], None] | None = None
        self.watchdog = AbortWatchdog(self.signals)
        self._rule = AbortRule()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
            self.watchdog.start()
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            self.watchdog.stop()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        self.installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        again = self.received is not None
        if self.received is None:
            self.received = signum
            if self.on_first is not None:
                self.on_first(signal.Signals(signum).name)
        self.count += 1
        # The watchdog read the signal as it arrived: its verdict wins over this handler's timing
        # (which is late when the main thread was busy in native code).
        aborts = self._rule.aborts(signum, time.monotonic()) or self.watchdog.aborted_by is not None
        if again and aborts and self.aborted_by is None:
            self.aborted_by = signum
            self.watchdog.arm(signum)
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: the worker stops now")

    @property
    def name(self) -> str | None:
        return signal.Signals(self.received).name if self.received is not None else None


def format_conf(flat: Mapping[str, Any]) -> str:
    """A flat state in Jobman's ``.conf`` syntax: one ``key = repr(value)`` line per key, sorted.

    ``repr`` keeps every value on its line; a key that would not read back as itself (a line
    break, ``:``, ``=``, ``#``, quotes, ``<-``: a row written by anyone could hold one, and
    re-scheduling from the file would then run what follows it) is refused with a ParamError."""
    if not _CONF_KEYS_SEEN.issuperset(flat):  # one C call when every key was seen (nearly always)
        for key in flat:
            if key in _CONF_KEYS_SEEN:
                continue
            if not isinstance(key, str) or not _CONF_KEY_RE.match(key) or "<-" in key:
                raise ParamError(f"key {key!r} cannot be written to a .conf file: a key is one word without "
                                 "spaces, control characters, ':', '=', '#', quotes, braces or '<-'")
            if len(_CONF_KEYS_SEEN) < _CONF_KEYS_SEEN_MAX:
                _CONF_KEYS_SEEN.add(key)
    return "".join([f"{key} = {flat[key]!r}\n" for key in sorted(flat)])  # keys: no tuples to compare


def write_conf(path: str, flat: Mapping[str, Any]) -> None:
    """Write a ``.conf`` file atomically: a killed worker never leaves a truncated one.

    No fsync, on purpose: the table is the source of truth for the state (every save and the
    finish write it there, fenced), and the ``.conf`` files are its human-readable copy beside
    the job's own files. A killed process leaves the old or the new file; a crash of the whole
    machine may leave an older one (or, on a file system that does not order a replace-by-rename
    after its data, an empty one), while the table still has the state. An fsync per write would
    cost a disk flush per job, most of a no-op job's time when job directories are on disk."""
    atomic_write(path, format_conf(flat))


class Channel:
    """What an experiment gets besides its state: the status constants, ``switch()`` and ``save()``.

    Return ``channel.COMPLETE`` (``None``: returning nothing is the same) when the job is done →
    DONE; ``channel.INCOMPLETE`` (``True``) only after ``switch()`` said ``'stop'`` or ``'finish-up'``,
    having checkpointed → the job is requeued (START) and resumes wherever it is claimed next.

    ``save`` is the worker's function that writes ``current.conf`` and the flat state to the table
    and returns False when the job is no longer ours; without one (a channel built by hand for a
    test or an interactive run) ``save()`` does nothing. ``clock`` is monotonic seconds.
    """

    COMPLETE = None
    INCOMPLETE = True
    START = _status.START
    RUNNING = _status.RUNNING
    DONE = _status.DONE
    ERR_START = _status.ERR_START
    ERR_SYNC = _status.ERR_SYNC
    ERR_RUN = _status.ERR_RUN
    CANCELED = _status.CANCELED

    def __init__(self, state: Any = None, *, save: Callable[[], bool] | None = None,
                 signals: StopSignals | None = None, finish_up_after_s: float | None = None,
                 save_every_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.state = state
        self._save = save
        self.signals = signals
        self.finish_up_after_s = finish_up_after_s
        self.save_every_s = save_every_s
        self._clock = clock
        self.start_time = clock()
        self._last_save_tick = self.start_time
        self._finished_up = False
        self.lost_reason: str | None = None  # set when the job stopped being ours
        self._points: list[Point] = []  # reported, not yet written

    # -- what the worker tells the channel ---------------------------------------------------------
    def lose(self, reason: str) -> None:
        """The job is no longer ours (lease lost, status changed elsewhere): switch() says 'stop'."""
        if self.lost_reason is None:
            self.lost_reason = reason

    @property
    def stop_requested(self) -> bool:
        return self.lost_reason is not None or (self.signals is not None and self.signals.received is not None)

    @property
    def asked_to_stop(self) -> bool:
        """Whether switch() said (or would say) 'stop', or said 'finish-up': an INCOMPLETE then is
        the expected answer, not one the worker bounds (see :mod:`.requeue`)."""
        return self.stop_requested or self._finished_up

    # -- the experiment's API ----------------------------------------------------------------------
    def switch(self, message: Any = None) -> str | None:
        """``'stop'``, ``'finish-up'``, ``'save'`` or None; see the module docstring."""
        if self.stop_requested:
            return STOP
        now = self._clock()
        if (self.finish_up_after_s is not None and not self._finished_up
                and now - self.start_time >= self.finish_up_after_s):
            self._finished_up = True
            return FINISH_UP
        if (self.save_every_s is not None and not self._finished_up
                and now - self._last_save_tick >= self.save_every_s):
            self._last_save_tick = now
            return SAVE
        return None

    __call__ = switch

    def save(self) -> bool:
        """Flush the output, write ``current.conf`` and the state to the table. Returns False (and
        makes switch() say 'stop') if the job is no longer ours; the write is then refused."""
        flush_std()
        if self._save is None:
            return True
        ok = self._save()
        if not ok:
            self.lose("the job is no longer ours: its save was refused")
        return ok

    def report(self, step: int, **metrics: float) -> None:
        """Record ``metrics`` (name=value, real numbers) at ``step``; written with the next save or
        the finish. A value that is not a real number is a TypeError naming it."""
        self._points.extend(make_points(step, metrics))

    def pending_metrics(self) -> list[Point]:
        """The points reported and not yet written (a copy: the worker drops them once written)."""
        return list(self._points)

    def drop_metrics(self, n: int) -> None:
        """Forget the first ``n`` pending points: written, or refused with their attempt."""
        del self._points[:n]

    def save_and_switch(self) -> str | None:
        """``save()`` then ``switch()``, returning switch()'s answer."""
        self.save()
        return self.switch()


def flush_std() -> None:
    """Flush Python's stdout and stderr (before a save, or before the descriptors move)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
