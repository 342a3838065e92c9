"""The benchmark scripts run as modules of the ``bench`` package and refuse bad settings before
measuring anything (their measurements themselves are not tests: see bench/README.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, subprocess_env


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", ["bench.run", "bench.peers"])
def test_malformed_define_is_an_error_naming_it(module):
    result = run_module(module, "-D", "python.fn-execution.bundle.size")
    assert result.returncode == 2, result.stderr
    assert "-D 'python.fn-execution.bundle.size': expected KEY=VALUE" in result.stderr


def test_unknown_approach_is_an_error_listing_the_rows():
    result = run_module("bench.run", "--only", "ceiling,flink-bach")
    assert result.returncode == 2, result.stderr
    assert "--only: unknown flink-bach; choose from ceiling, tight," in result.stderr
