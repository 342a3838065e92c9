"""Progress of a running job, read from Flink's REST API (the embedded MiniCluster's or the
cluster's) and nothing else: images classified (the ``classify.images`` counter of the UDF or the
model provider) of the files the job's whole-file sources found (their enumerators' ``filesFound``
metric), errors (``classify.errors``), rate and ETA.

On a terminal the status line is redrawn every second; otherwise (a log file, a pipe, the output
of `flink run`) a plain line is printed every ``log_interval`` (30 s), so short jobs print none and
the log of a long one stays readable. In batch and streaming jobs alike, a notice says when no
image has been classified for ``stall_notice`` seconds while rows wait for the classifier.

The wait itself runs on a helper thread, so that Ctrl-C reaches the main thread whatever thread
the signal lands on; Ctrl-C cancels the job and, if it has not stopped ``CANCEL_GRACE`` seconds
later (a task stuck in native code cannot be cancelled), raises ``JobStuckError`` so that the
entry point can exit anyway.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, TextIO, TypeVar

from py4j.protocol import Py4JError
from pyflink.common import JobClient
from pyflink.table import TableEnvironment, TableResult

IMAGES_METRIC = ".classify.images"
ERRORS_METRIC = ".classify.errors"
LOG_INTERVAL = 30.0  # seconds between progress lines when the output is not a terminal
STALL_NOTICE = 120.0  # seconds without a classified image, rows waiting, before saying so
CANCEL_GRACE = 20.0  # seconds a cancelled job gets to stop after Ctrl-C
STOPPED = 130  # exit status after Ctrl-C, as a shell reports SIGINT
STOPPED_MESSAGE = "Stopped (Ctrl-C): the running job was cancelled."
FILES_FOUND_METRIC = ".filesFound"  # the whole-file connector's enumerators (coordinator metrics)
_RECORDS_IN = ".numRecordsIn"
_RECORDS_OUT = ".numRecordsOut"
_PYTHON_OPERATOR = "PythonCalc["  # metric ids of a Python UDF operator: "PythonCalc[2].numRecordsIn"


class JobStuckError(KeyboardInterrupt):
    """Ctrl-C cancelled the job, but it did not stop within the grace period."""
T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """What a job has done so far; ``total`` is None while unknown."""

    images: int = 0
    errors: int = 0
    total: int | None = None
    images_per_second: float | None = None
    waiting: int = 0  # rows the classifying operators received but have not classified yet

    def line(self) -> str:
        """``120/500 images (24%), 0 errors, 8.1 images/s, ETA 47 s``"""
        done = f"{self.images} images"
        if self.total:
            done = f"{self.images}/{self.total} images ({100 * self.images // self.total}%)"
        parts = [done, f"{self.errors} errors"]
        if self.images_per_second:
            parts.append(f"{self.images_per_second:.1f} images/s")
            if self.total and self.images < self.total:
                parts.append(f"ETA {_duration((self.total - self.images) / self.images_per_second)}")
        return ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def wait_for_job(t_env: TableEnvironment, result: TableResult, show_progress: bool = True,
                 print_rows: bool = False, log_interval: float = LOG_INTERVAL,
                 stall_notice: float | None = STALL_NOTICE, cancel_grace: float = CANCEL_GRACE) -> str:
    """Wait for the job ``result`` started (printing its rows if asked) while showing its progress;
    Ctrl-C cancels the job (``JobStuckError`` if it has not stopped ``cancel_grace`` s later).
    Returns the summary line. A detached client (``flink run -d``) does not wait: the line then
    names the submitted job; rows to print make it cancel the job and fail."""
    job = result.get_job_client()
    if is_detached(t_env):
        if print_rows:
            _cancel(job)
            raise ValueError("a query prints its rows, which needs an attached client: submit it without -d "
                             "(or write the rows with INSERT INTO a sink)")
        return f"Submitted job {job.get_job_id()}, not waiting for it (detached)"
    try:
        with JobProgress(t_env, job, show=show_progress, log_interval=log_interval,
                         stall_notice=stall_notice) as progress:
            interruptible(result.print if print_rows else result.wait)
    except KeyboardInterrupt:
        _quiet_thread_errors()
        if not stop_job(job, cancel_grace):
            raise JobStuckError(
                f"Ctrl-C: the job was cancelled but had not stopped {cancel_grace:g} s later "
                "(a task is stuck, e.g. in native code); exiting without waiting for it."
            ) from None
        raise
    return summary(job.get_job_execution_result().result().get_net_runtime(), progress.total)


def _quiet_thread_errors() -> None:
    """From now on, threads that die print nothing: once the job is being cancelled, PyFlink's
    in-process workers end their gRPC streams with CANCELLED errors, expected and not the user's."""
    threading.excepthook = lambda args: None


def interruptible(wait: Callable[[], T], timeout: float | None = None) -> T:
    """``wait()``, run on a helper thread while this one polls, so that Ctrl-C is seen here
    within a fraction of a second even when the signal lands on another thread (a blocking Py4J
    call would not return until the JVM answers). ``TimeoutError`` after ``timeout`` seconds."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, wait()))
        except BaseException as error:  # re-raised on the calling thread
            outcome.append((False, error))

    waiter = threading.Thread(target=run, name="job-wait", daemon=True)
    waiter.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    while waiter.is_alive():
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"no answer within {timeout:g} s")
        waiter.join(0.2)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def stop_job(job: JobClient, grace: float = CANCEL_GRACE) -> bool:
    """Cancel ``job`` and wait up to ``grace`` seconds for it to reach a terminal state: whether
    it did. A second Ctrl-C stops waiting."""
    deadline = time.monotonic() + grace
    try:
        interruptible(lambda: job.cancel().result(), grace)
        while time.monotonic() < deadline:
            status = interruptible(lambda: job.get_job_status().result(), max(deadline - time.monotonic(), 0.1))
            if status.is_globally_terminal_state():
                return True
            time.sleep(0.2)
    except Py4JError:
        return True  # it finished or failed meanwhile: the client no longer knows it
    except (TimeoutError, KeyboardInterrupt):
        pass
    return False


def exit_status_after_ctrl_c(interrupt: KeyboardInterrupt, stream: TextIO = sys.stderr) -> int:
    """Says that Ctrl-C stopped the run and returns ``STOPPED``; if the job did not stop, ends
    the process at once instead: its stuck threads would hold a normal exit for ever (the JVM it
    started then ends too, as PyFlink's gateway does when its Python process is gone)."""
    if isinstance(interrupt, JobStuckError):
        print(f"Stopped (Ctrl-C): {interrupt}", file=stream, flush=True)
        sys.stdout.flush()
        os._exit(STOPPED)
    print(STOPPED_MESSAGE, file=stream, flush=True)
    return STOPPED


def is_detached(t_env: TableEnvironment) -> bool:
    """Whether the client was told not to wait for its jobs (``flink run -d``)."""
    return t_env.get_config().get("execution.attached", "true").strip().lower() == "false"


def _cancel(job: JobClient) -> None:
    try:
        job.cancel().result()
    except Py4JError:
        pass  # it finished or failed meanwhile


def summary(runtime_ms: int, images: int | None) -> str:
    """The final line: ``Job Runtime: 23511 ms, 500 images, 21.3 images/s``; ``runtime_ms`` is
    Flink's net runtime of the job, ``images`` the files its whole-file tables read (one row each)."""
    line = f"Job Runtime: {runtime_ms} ms"
    if images:
        line += f", {images} images, {images / max(runtime_ms / 1000, 1e-3):.1f} images/s"
    return line


def rest_url(t_env: TableEnvironment) -> str | None:
    """The REST address of the cluster running ``t_env``'s jobs, from its configuration: the
    cluster's (``flink run`` sets ``rest.address``/``rest.port``) or the embedded MiniCluster's
    (``udfs.settings.table_environment`` binds it to a known port); None if the port is unknown."""
    config = t_env.get_config()
    port = config.get("rest.port", "")
    if not port:
        return None
    return f"http://{config.get('rest.address', '') or 'localhost'}:{port}"


class JobProgress:
    """Counts the files a running job reads and, if ``show``, polls its REST API in a thread and
    reports its progress on ``stream``. Use as a context manager around the wait for the job."""

    def __init__(
        self,
        t_env: TableEnvironment,
        job_client: JobClient,
        show: bool = True,
        stream: TextIO = sys.stderr,
        interactive: bool | None = None,
        log_interval: float = LOG_INTERVAL,
        poll_interval: float = 1.0,
        stall_notice: float | None = STALL_NOTICE,
    ) -> None:
        self._t_env = t_env
        self._job_id = str(job_client.get_job_id())
        self._url = rest_url(t_env)
        self._show = show
        self._stream = stream
        self._interactive = stream.isatty() if interactive is None else interactive
        self._log_interval = log_interval
        self._poll_interval = poll_interval
        self._stall_notice = stall_notice
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-progress", daemon=True)
        self._metric_ids: dict[str, list[str]] = {}  # vertex id -> its classify.* and rows-in metric ids
        self._coordinator_ids: dict[str, list[str]] = {}  # vertex id -> its enumerator's filesFound
        self._first: tuple[float, int] | None = None  # (time, images) when images were first seen
        self._last_classified: tuple[float, int] = (time.monotonic(), 0)  # (time, images) of the last change
        self._stall_reported = False
        self.total: int | None = None  # files the job's whole-file tables read
        self.progress = Progress()

    def __enter__(self) -> JobProgress:
        if self._url is not None:
            self._thread.start()  # polls even when nothing is shown: the final line wants the total
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def poll(self) -> Progress:
        """The job's progress now, read from its REST API (an error while the job is not up or gone)."""
        self._poll()
        return self.progress

    def _run(self) -> None:
        shown, last_logged = False, time.monotonic()
        while not self._stopped.wait(self._poll_interval):
            try:
                self._poll()
            except (OSError, ValueError, KeyError, Py4JError):
                continue  # not up yet, or gone: the job has ended
            notice = self._stall() if self._stall_notice else None
            if notice:
                if shown:
                    self._stream.write("\r\x1b[K")
                print(notice, file=self._stream, flush=True)
            if not self._show:
                continue
            if self._interactive:
                self._stream.write(f"\r\x1b[K{self.progress.line()}\r")  # rows printed next overwrite it
                self._stream.flush()
                shown = True
            elif time.monotonic() - last_logged >= self._log_interval:
                print(self.progress.line(), file=self._stream, flush=True)
                last_logged = time.monotonic()
        if shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()

    def _get(self, path: str) -> object:
        with urllib.request.urlopen(f"{self._url}{path}", timeout=5) as response:
            return json.load(response)

    def _poll(self) -> None:
        job = self._get(f"/jobs/{self._job_id}")
        totals = {IMAGES_METRIC: 0, ERRORS_METRIC: 0, _RECORDS_IN: 0, _RECORDS_OUT: 0}
        for vertex in job["vertices"]:
            for metric in self._vertex_metrics(vertex["id"]):
                suffix = next(s for s in totals if metric["id"].endswith(s))
                totals[suffix] += int(float(metric["sum"]))
        # A standalone cluster's REST API lists no metrics of Python workers (they do reach
        # reporters such as Prometheus): there, the rows out of the Python operators count.
        images = totals[IMAGES_METRIC] or totals[_RECORDS_OUT]
        errors = totals[ERRORS_METRIC]
        found = sum(self._files_found(vertex["id"]) for vertex in job["vertices"])
        if found:
            self.total = found
        now = time.monotonic()
        if self._first is None and images:
            self._first = (now, images)
        rate = None
        if self._first is not None and images > self._first[1]:
            rate = (images - self._first[1]) / (now - self._first[0])
        done = images + totals[_RECORDS_OUT]  # either moving is progress
        waiting = max(totals[_RECORDS_IN] - totals[_RECORDS_OUT], 0)
        if done != self._last_classified[1] or not waiting:
            # the clock starts again at every classified row, and while no row waits
            self._last_classified = (now, done)
            self._stall_reported = False
        self.progress = Progress(images, errors, self.total, rate, waiting=waiting)

    def _stall(self) -> str | None:
        """The notice to print once when no image was classified for ``stall_notice`` seconds
        while rows wait for the classifier (received by its operator, not classified yet)."""
        idle = time.monotonic() - self._last_classified[0]
        if (self._stall_notice is None or self._stall_reported or not self.progress.waiting
                or idle < self._stall_notice):
            return None
        self._stall_reported = True
        return (f"No image classified for {idle:.0f} s while {self.progress.waiting} rows wait for the "
                f"classifier ({self.progress.images} classified so far): a call stuck that long fails "
                "after classify.call-timeout, and Flink restarts its task.")

    def _vertex_metrics(self, vertex: str) -> list[dict]:
        """Summed over subtasks: the vertex's classify.images/errors, and the rows in and out of
        the operators that classify: those with classify metrics (registered by a Python worker
        only after its first batch) and every Python UDF operator (PythonCalc)."""
        base = f"/jobs/{self._job_id}/vertices/{vertex}/subtasks/metrics"
        ids = self._metric_ids.get(vertex)
        if not ids or not any(i.endswith(IMAGES_METRIC) for i in ids):  # until a worker's metrics arrive
            available = [m["id"] for m in self._get(base)]
            classify = [i for i in available if i.endswith((IMAGES_METRIC, ERRORS_METRIC))]
            operators = {i[: -len(IMAGES_METRIC)] for i in classify if i.endswith(IMAGES_METRIC)}
            operators |= {i[: -len(_RECORDS_IN)] for i in available
                          if i.startswith(_PYTHON_OPERATOR) and i.endswith(_RECORDS_IN)}
            rows = [op + suffix for op in sorted(operators) for suffix in (_RECORDS_IN, _RECORDS_OUT)]
            ids = self._metric_ids[vertex] = [i for i in classify + rows if i in available]
        return self._get(f"{base}?get={','.join(ids)}&agg=sum") if ids else []

    def _files_found(self, vertex: str) -> int:
        """Files the whole-file source of ``vertex`` found so far (0: none, or not known yet)."""
        base = f"/jobs/{self._job_id}/vertices/{vertex}/jm-operator-metrics"
        try:
            if not self._coordinator_ids.get(vertex):
                self._coordinator_ids[vertex] = [m["id"] for m in self._get(base)
                                                 if m["id"].endswith(FILES_FOUND_METRIC)]
            ids = self._coordinator_ids[vertex]
            return sum(int(float(m["value"])) for m in self._get(f"{base}?get={','.join(ids)}")) if ids else 0
        except OSError:  # a REST API without coordinator metrics: progress without a total
            return 0
