"""What the entry points report about a job (in-process, no JVM): the cause of a failure, the
progress line, the final line, the workers' gRPC settings, and how Ctrl-C stops a job that will
not stop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
from pyflink.common.job_status import JobStatus

from udfs.failures import deepest_cause, failure_message, python_error
from udfs.progress import Progress, interruptible, stop_job, summary
from udfs.python_workers import GRPC_ENV, quiet_grpc

from conftest import REPO

# Cause chains as Flink reports them (class, message), outermost first, shortened.
MISSING_FOLDER = [
    ("java.util.concurrent.ExecutionException",
     "org.apache.flink.table.api.TableException: Failed to wait job finish"),
    ("org.apache.flink.table.api.TableException", "Failed to wait job finish"),
    ("org.apache.flink.runtime.client.JobExecutionException", "Job execution failed."),
    ("org.apache.flink.runtime.JobException", "Recovery is suppressed by NoRestartBackoffTimeStrategy"),
    ("org.apache.flink.util.FlinkRuntimeException", "Could not enumerate file splits"),
    ("java.io.FileNotFoundException", "File /nonexistent does not exist or the user running Flink ('root') "
                                      "has insufficient permissions to access it."),
]
WORKER_TRACEBACK = (
    "Error received from SDK harness for instruction 1: Traceback (most recent call last):\n"
    '  File "/x/udfs/runtime.py", line 218, in _read_model\n'
    "    raise ValueError(f\"classify.model-path: model file not found: '{path}'\")\n"
    "ValueError: classify.model-path: model file not found: '/nonexistent.onnx'\n"
)


def test_a_failed_job_is_reported_by_its_deepest_cause():
    assert deepest_cause(MISSING_FOLDER) == (
        "java.io.FileNotFoundException: File /nonexistent does not exist or the user running Flink "
        "('root') has insufficient permissions to access it."
    )


def test_a_python_worker_error_is_reported_by_its_last_line():
    causes = [*MISSING_FOLDER[:4], ("java.lang.RuntimeException", WORKER_TRACEBACK)]
    assert deepest_cause(causes) == "ValueError: classify.model-path: model file not found: '/nonexistent.onnx'"
    assert python_error("ValueError: not in a traceback") is None


def test_a_cause_without_message_is_named_by_its_class():
    assert deepest_cause([("java.lang.NullPointerException", None)]) == "java.lang.NullPointerException"


def test_a_python_exception_is_reported_by_its_first_line():
    assert failure_message(ValueError("classify.top_k: unknown option\nmore")) == "classify.top_k: unknown option"


def test_progress_line():
    assert Progress().line() == "0 images, 0 errors"
    assert Progress(120, 2, 500, 8.0).line() == "120/500 images (24%), 2 errors, 8.0 images/s, ETA 48 s"
    assert Progress(500, 0, 500, 8.0).line() == "500/500 images (100%), 0 errors, 8.0 images/s"
    assert Progress(10, 0, 100_000, 5.0).line().endswith("ETA 5 h 33 min")
    assert Progress(10, 0, 1000, 5.0).line().endswith("ETA 3 min 18 s")


def test_final_line_holds_runtime_and_images_per_second():
    assert summary(23511, 500) == "Job Runtime: 23511 ms, 500 images, 21.3 images/s"
    assert summary(812, None) == "Job Runtime: 812 ms"


def test_quiet_grpc_keeps_what_the_user_set():
    environ = {"GRPC_VERBOSITY": "DEBUG"}
    quiet_grpc(environ)
    assert environ == {"GRPC_VERBOSITY": "DEBUG", "GRPC_ENABLE_FORK_SUPPORT": GRPC_ENV["GRPC_ENABLE_FORK_SUPPORT"]}


class _Future:
    """Stands in for PyFlink's CompletableFuture: ``result()`` blocks until ``ready`` is set."""

    def __init__(self, value=None, ready: threading.Event | None = None) -> None:
        self._value, self._ready = value, ready

    def result(self):
        if self._ready is not None:
            self._ready.wait()
        return self._value


class _Job:
    """A JobClient whose job reaches ``final`` status, or stays CANCELLING for ever."""

    def __init__(self, final: JobStatus | None, cancel_answers: bool = True) -> None:
        self._final, self._answers = final, threading.Event()
        if cancel_answers:
            self._answers.set()

    def cancel(self):
        return _Future(None, self._answers)

    def get_job_status(self):
        return _Future(self._final or JobStatus.CANCELLING)


def test_stop_job_waits_for_a_terminal_state_within_the_grace_period():
    assert stop_job(_Job(JobStatus.CANCELED), grace=5)
    started = time.monotonic()
    assert not stop_job(_Job(None), grace=0.5)  # stays CANCELLING
    assert not stop_job(_Job(None, cancel_answers=False), grace=0.5)  # cancel() never answers
    assert time.monotonic() - started < 5


def test_interruptible_returns_raises_and_times_out():
    assert interruptible(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        interruptible(lambda: 1 / 0)
    with pytest.raises(TimeoutError):
        interruptible(threading.Event().wait, timeout=0.3)


def _run_python(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_ctrl_c_reaches_the_main_thread_when_the_signal_lands_on_another_thread():
    """A blocking call (like a Py4J call waiting for the JVM) on the main thread would never see
    a SIGINT delivered to another thread; waited through ``interruptible``, it does."""
    done = _run_python("""
        import os, signal, threading, time
        from udfs.progress import interruptible

        def deliver_to_this_thread():
            time.sleep(1)
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)

        threading.Thread(target=deliver_to_this_thread, daemon=True).start()
        r, w = os.pipe()
        try:
            interruptible(lambda: os.read(r, 1))  # never returns by itself
        except KeyboardInterrupt:
            print("interrupted")
    """)
    assert done.stdout.strip() == "interrupted", done.stderr


def test_a_job_that_does_not_stop_ends_the_process_with_status_130():
    done = _run_python("""
        import threading
        from udfs.progress import JobStuckError, exit_status_after_ctrl_c

        threading.Thread(target=threading.Event().wait).start()  # would hold a normal exit
        exit_status_after_ctrl_c(JobStuckError("the job had not stopped 20 s later"))
        print("not reached")
    """)
    assert done.returncode == 130 and "not reached" not in done.stdout
    assert "Stopped (Ctrl-C): the job had not stopped 20 s later" in done.stderr
