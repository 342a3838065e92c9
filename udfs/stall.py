"""No silent hangs: a call that makes no progress for ``classify.call-timeout`` fails, naming
the stage it was stuck in.

Flink has no timeout of its own for a Python UDF call: a call that never returns leaves its
subtask waiting for ever (no output, checkpoints never complete, nothing logged). So a guarded
call runs on a worker thread of its own while the calling thread waits for it and watches:

* the call reports each stage as it starts (``report("decoding image 3 of 8")``); every report
  counts as progress;
* when no report has come for the timeout, the waiting thread raises ``CallStalledError`` with
  the stage and the worker's Python stack: the UDF call fails, Flink restarts the task and the
  job's exceptions say why. The stuck worker is abandoned (a daemon thread: code stuck inside a
  native call cannot be interrupted, and must not keep the process from exiting); the guard
  refuses further calls;
* a call stuck while *holding the GIL* (native code that never returns and never releases it)
  stops every Python thread, the waiting one included. For that, ``_GilWatch`` keeps a C-level
  timer (``faulthandler.dump_traceback_later``) re-armed from a Python thread while calls run:
  if that thread cannot run for the timeout, the timer prints every thread's stack and ends the
  process, which Flink sees as a failed Python worker (embedded runs: the runner ends, status 1).
"""

from __future__ import annotations

import faulthandler
import itertools
import logging
import queue
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Report = Callable[[str], None]


class CallStalledError(RuntimeError):
    """A guarded call made no progress for its timeout."""


class _Call:
    """One guarded call: its work, its outcome and its last reported stage."""

    def __init__(self, work: Callable[[Report], T]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.stage = "starting"
        self.last_report = time.monotonic()

    def report(self, stage: str) -> None:
        self.stage = stage  # read by the waiting thread; a torn pair of stores is harmless
        self.last_report = time.monotonic()

    def run(self) -> None:
        try:
            self.result = self.work(self.report)
        except BaseException as error:  # handed to the waiting thread
            self.error = error
        finally:
            self.done.set()


class StallGuard:
    """Runs calls one at a time on a daemon worker thread, failing one that stops reporting
    progress for ``timeout`` seconds (0 = no guard: calls run on the caller's thread)."""

    def __init__(self, timeout: float, what: str = "call", timeout_option: str = "classify.call-timeout") -> None:
        self.timeout = timeout
        self._what = what
        self._option = timeout_option
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._stuck: _Call | None = None

    def run(self, work: Callable[[Report], T]) -> T:
        """``work(report)``'s result, or its exception; ``CallStalledError`` if it stalls."""
        if self.timeout <= 0:
            return work(lambda stage: None)
        if self._stuck is not None:
            raise CallStalledError(
                f"{self._what}: an earlier call is still stuck in '{self._stuck.stage}'; no new call starts"
            )
        call = _Call(work)
        self._start_worker()
        self._calls.put(call)
        with _GIL_WATCH.watching(self.timeout):
            while not call.done.wait(min(1.0, self.timeout)):
                idle = time.monotonic() - call.last_report
                if idle >= self.timeout:
                    self._stuck = call
                    raise CallStalledError(self._stalled_message(call, idle))
        if call.error is not None:
            raise call.error
        return call.result

    @property
    def stuck(self) -> bool:
        """Whether a call stalled: what it uses may still be in use and must not be freed."""
        return self._stuck is not None

    def close(self) -> None:
        """Ends the worker thread once it is idle (a stuck one is left to itself)."""
        if self._worker is not None:
            self._calls.put(None)
            self._worker = None

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._serve, name=f"{self._what}-worker", daemon=True)
            self._worker.start()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            call.run()

    def _stalled_message(self, call: _Call, idle: float) -> str:
        where = ""
        frame = sys._current_frames().get(self._worker.ident) if self._worker is not None else None
        if frame is not None:
            where = " Stuck at:\n" + "".join(traceback.format_stack(frame)[-4:]).rstrip()
        return (
            f"{self._what} made no progress for {idle:.0f} s (limit {self._option} = {self.timeout:g} s) "
            f"while {call.stage}. The task fails so that Flink restarts it.{where}"
        )


class _GilWatch:
    """While guarded calls run, a faulthandler timer is armed for the longest active timeout (at
    least ``MIN_TIMEOUT``: a busy machine may delay a thread for a moment, never for seconds) and
    re-armed by a Python thread several times per timeout; a thread that holds the GIL for that
    long stops the re-arming, and the timer dumps every thread's stack and exits the process."""

    MIN_TIMEOUT = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timeouts: dict[int, float] = {}  # active call -> its timeout
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._usable = True

    @contextmanager
    def watching(self, timeout: float) -> Iterator[None]:
        with self._lock:
            call_id = next(self._ids)
            self._timeouts[call_id] = max(timeout, self.MIN_TIMEOUT)
            self._arm()  # now, on the caller's thread: the call may take the GIL at once
            if self._thread is None:
                self._thread = threading.Thread(target=self._rearm_while_calls_run, name="gil-watch", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._timeouts[call_id]
                self._arm()

    def _arm(self) -> None:
        """(Re)start the timer for the longest active timeout, or stop it; under ``_lock``."""
        if not self._usable:
            return
        try:
            if self._timeouts:
                faulthandler.dump_traceback_later(max(self._timeouts.values()), exit=True, file=sys.__stderr__)
            else:
                faulthandler.cancel_dump_traceback_later()
        except (ValueError, OSError, AttributeError) as error:  # no usable stderr
            self._usable = False
            log.warning("no watch for calls stuck holding the GIL: %s", error)

    def _rearm_while_calls_run(self) -> None:
        while True:
            with self._lock:
                interval = min(self._timeouts.values(), default=4.0) / 4
                if self._timeouts:
                    self._arm()
            time.sleep(min(interval, 1.0))


_GIL_WATCH = _GilWatch()
