"""One line saying why a Flink statement or job failed, from the exception PyFlink raised.

A failed job reaches Python as a chain of Java exceptions ("Failed to wait job finish" ->
"Job execution failed" -> "Recovery is suppressed ..." -> ... -> the cause). The deepest cause
says what to fix (a missing folder, an oversize file, a Python worker's error); for a statement
Flink rejects before any job runs (SQL validation), the first message is the telling one.
"""

from __future__ import annotations

import re

from py4j.protocol import Py4JError, Py4JJavaError

JOB_FAILED = "org.apache.flink.runtime.client.JobExecutionException"
_PYTHON_ERROR = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception): .+")
_NOISE = ("at ", "... ", "Traceback", 'File "', "An error occurred while calling")  # stack trace lines


def failure_message(error: BaseException) -> str:
    """``job failed: <deepest cause>`` for a failed job, else Flink's (or Python's) first message."""
    causes = java_causes(error)
    if any(name == JOB_FAILED for name, _ in causes):
        return "job failed: " + deepest_cause(causes)
    text = str(error)
    return python_error(text) or _first_line(text) or type(error).__name__


def java_causes(error: BaseException) -> list[tuple[str, str | None]]:
    """(class name, message) of the Java exception behind ``error`` and each of its causes."""
    if not isinstance(error, Py4JJavaError):
        return []
    causes = []
    throwable = error.java_exception
    try:
        while throwable is not None and len(causes) < 64:  # a bound in case of a cause cycle
            causes.append((str(throwable.getClass().getName()), throwable.getMessage()))
            throwable = throwable.getCause()
    except Py4JError:
        pass  # the gateway is gone: report what was read
    return causes


def deepest_cause(causes: list[tuple[str, str | None]]) -> str:
    """The last cause, as ``<Python error line>`` when it carries a Python worker's traceback,
    else ``<class>: <first message line>``."""
    name, message = causes[-1]
    if message:
        return python_error(message) or f"{name}: {_first_line(message)}"
    return name


def python_error(text: str) -> str | None:
    """The last ``SomeError: message`` line of a Python traceback inside ``text``, if any."""
    if "Traceback (most recent call last)" not in text:
        return None
    lines = [line.strip() for line in text.splitlines()]
    errors = [line for line in lines if _PYTHON_ERROR.match(line)]
    return errors[-1] if errors else None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip(": ")
        if line and not line.startswith(_NOISE):
            return line
    return ""
