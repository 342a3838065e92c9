"""The ``flink run`` command line of a Python job: the job file runs as the client (the SQL runner by
default), the ``udfs`` package is shipped to the TaskManagers as Python files (``-pyfs``) and the
workers run ``-pyexec`` (this interpreter, or one unpacked from ``-pyarch``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SQL_RUNNER = PACKAGE_DIR / "sql.py"


def flink_run_command(flink: str, rest_address: str, job_args: list[str], job: Path | str = SQL_RUNNER,
                      python: str | None = None, archives: list[str] | None = None, parallelism: int = 2,
                      jars: list[str] | None = None, py_files: list[str] | None = None, detached: bool = False,
                      savepoint: str | None = None, options: Mapping[str, str] | None = None) -> list[str]:
    """``savepoint``: resume from it (``-s``); the job may run at another parallelism than the one
    that took it, up to its max parallelism."""
    command = [flink, "run", "-m", rest_address, "-p", str(parallelism)]
    if detached:
        command.append("-d")
    if savepoint:
        command += ["-s", savepoint]
    for key, value in (options or {}).items():
        command.append(f"-D{key}={value}")
    command += ["-py", str(Path(job).resolve()), "-pyfs", ",".join([str(PACKAGE_DIR), *(py_files or [])])]
    command += ["-pyexec", python or sys.executable]
    if archives:
        command += ["-pyarch", ",".join(archives)]
    for jar in jars or []:
        command += ["-j", str(jar)]
    return [*command, "--", *job_args]
