"""The CI skip policy (tests/ci_skips.py) on real pytest sessions of its own (pytester): under
CI=true an unlisted skip fails the run and is named; a listed one, an xfail and anything outside CI
do not."""

from __future__ import annotations

import pytest

from ci_skips import read_allow_list
from conftest import CI_ALLOWED_SKIPS

CONFTEST = """
from pathlib import Path

import ci_skips


def pytest_configure(config):
    ci_skips.register(config, Path(__file__).with_name("allowed.txt"))
"""

TESTS = """
import pytest


def test_runs():
    pass


def test_listed():
    pytest.skip("needs a GPU")


def test_unlisted():
    pytest.skip("forgot to install prometheus")


@pytest.mark.parametrize("n", [1, 2])
def test_listed_by_pattern(n):
    pytest.skip("not on this machine")


@pytest.fixture
def missing_tool():
    pytest.skip("tool not found")


def test_skipped_in_a_fixture(missing_tool):
    pass


@pytest.mark.xfail(reason="known bug")
def test_known_bug():
    assert False
"""

MODULE_SKIP = """
import pytest

pytest.skip("shared assets not available", allow_module_level=True)


def test_never_collected():
    pass
"""

ALLOWED = """# comment lines and blank lines are ignored

test_a.py::test_listed | no GPU on the CI machines
test_a.py::test_listed_by_pattern[*] | the parametrized cases too
"""


# pytester restores sys.modules after each in-process run: hypothesis's plugin would import it
# again every time (seconds), and these sessions do not use it
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")


@pytest.fixture
def session(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_a=TESTS, test_b=MODULE_SKIP)
    pytester.path.joinpath("allowed.txt").write_text(ALLOWED)
    return pytester


def test_under_ci_an_unlisted_skip_fails_the_run_and_is_named(session, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = session.runpytest(*NO_HYPOTHESIS, "-rs")
    result.assert_outcomes(passed=1, skipped=6, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*= skips not allowed under CI=true =*",
        "SKIPPED test_b.py: shared assets not available",
        "SKIPPED test_a.py::test_unlisted: forgot to install prometheus",
        "SKIPPED test_a.py::test_skipped_in_a_fixture: tool not found",
        "Fix the set-up, or list each with its reason in *allowed.txt*",
    ])
    summary = result.stdout.str().split("skips not allowed under CI=true", 1)[1]
    assert "test_listed" not in summary and "known_bug" not in summary


def test_under_ci_listed_skips_pass(session, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = session.runpytest(*NO_HYPOTHESIS, "-k", "test_runs or test_listed or test_known_bug", "test_a.py")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "skips not allowed" not in result.stdout.str()


def test_outside_ci_skips_are_only_reported(session, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = session.runpytest(*NO_HYPOTHESIS)
    result.assert_outcomes(passed=1, skipped=6, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_an_entry_without_reason_is_a_usage_error(session, monkeypatch):
    monkeypatch.setenv("CI", "true")
    session.path.joinpath("allowed.txt").write_text("test_a.py::test_listed\n")
    result = session.runpytest(*NO_HYPOTHESIS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*allowed.txt:1: want '<test node id> | <reason>', got 'test_a.py::test_listed'"])


def test_the_projects_allow_list_parses():
    for entry in read_allow_list(CI_ALLOWED_SKIPS):
        assert entry.pattern.startswith("tests/") and entry.reason
