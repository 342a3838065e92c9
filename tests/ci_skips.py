"""Under ``CI=true`` a skipped test is a failure unless an allow-list names it with its reason.

A skip says "this was not tested": locally that is often fine (no ``../shared``, no npm), in CI it
hides a broken set-up (``.ci/run`` installs everything the tests need). The allow-list is a text
file, one entry a line::

    tests/test_x.py::test_needs_a_gpu    | no GPU on the CI machines
    tests/test_y.py::test_case[*]        | ...

a pytest node id, where ``*`` stands for any text (nothing else is special: node ids hold
brackets), ``|``, and the reason: an entry without a reason is a usage error. Skips are counted from setup, call and collection
reports (a module-level ``pytest.skip``); ``xfail`` is not a skip, and tests deselected with ``-m``
or ``-k`` are not reported at all. The session's exit status becomes 1 when any skip is not
allowed, and the terminal summary lists them with their skip reasons.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest


def ci_enabled(environ=os.environ) -> bool:
    return environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class AllowedSkip:
    pattern: str
    reason: str

    def matches(self, nodeid: str) -> bool:
        return re.fullmatch(".*".join(map(re.escape, self.pattern.split("*"))), nodeid) is not None


def read_allow_list(path: Path) -> list[AllowedSkip]:
    """Entries of ``path`` (see the module docstring); a malformed line fails the session at once."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern, bar, reason = (part.strip() for part in line.partition("|"))
        if not (bar and pattern and reason):
            raise pytest.UsageError(f"{path}:{number}: want '<test node id> | <reason>', got {line!r}")
        entries.append(AllowedSkip(pattern, reason))
    return entries


class CiSkipPolicy:
    """A pytest plugin: records skips, fails the session on those the allow-list does not name."""

    def __init__(self, allow_list: Path):
        self.allow_list_path = allow_list
        self.allowed = read_allow_list(allow_list) if allow_list.exists() else []
        self.unexpected: list[tuple[str, str]] = []  # (node id, skip reason)

    def _record(self, report) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        if any(entry.matches(report.nodeid) for entry in self.allowed):
            return
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        self.unexpected.append((report.nodeid, reason.removeprefix("Skipped: ")))

    def pytest_runtest_logreport(self, report) -> None:
        self._record(report)

    def pytest_collectreport(self, report) -> None:
        self._record(report)

    def pytest_sessionfinish(self, session) -> None:
        if self.unexpected and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.unexpected:
            return
        terminalreporter.section("skips not allowed under CI=true", sep="=", red=True, bold=True)
        for nodeid, reason in self.unexpected:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}")
        terminalreporter.line(f"Fix the set-up, or list each with its reason in {self.allow_list_path} "
                              "('<test node id> | <reason>').")


def register(config, allow_list: Path, environ=os.environ) -> None:
    """Install the policy in ``config`` when CI is set (from a conftest's ``pytest_configure``)."""
    if ci_enabled(environ):
        config.pluginmanager.register(CiSkipPolicy(allow_list), "ci-skip-policy")
