"""Tests find the shared photos and models through one setting, FLINK_IMAGE_UDFS_SHARED (default
../shared beside the checkout), and a test skipped for want of them names it."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO, subprocess_env

# In a child process: the setting is read once, at import.
ASSETS = """
import json, sys
sys.path.insert(0, "tests")
import conftest
from udfs import shared_assets as a
skip = conftest.needs_shared.mark
print(json.dumps([str(a.SHARED), str(a.PHOTOS), str(a.MODELS["mobilenet_v2_quant"]), skip.args[0], skip.kwargs["reason"]]))
"""


def assets(**setting: str) -> list:
    env = {k: v for k, v in subprocess_env(**setting).items() if setting or k != "FLINK_IMAGE_UDFS_SHARED"}
    done = subprocess.run([sys.executable, "-c", ASSETS], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_default_is_the_folder_beside_the_checkout():
    assert assets()[0] == str(REPO.parent / "shared")


def test_one_setting_moves_every_asset_and_the_skip_names_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shared, photos, model, skipped, reason = assets(FLINK_IMAGE_UDFS_SHARED=str(elsewhere))
    assert (shared, photos, model) == (str(elsewhere), str(elsewhere / "images" / "photos"),
                                       str(elsewhere / "models" / "mobilenet_v2_1.0_224_quant.tflite"))
    assert skipped is True
    assert reason == f"{elsewhere} (shared assets) not available: set FLINK_IMAGE_UDFS_SHARED to the folder of shared test assets"
    elsewhere.mkdir()
    assert assets(FLINK_IMAGE_UDFS_SHARED=str(elsewhere))[3] is False
