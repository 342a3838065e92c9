"""The JVM path's first calls, several subtasks at once: ML_PREDICT with 4 subtasks in a fresh
runner (new JVM: JNA binding, native libraries extracted and loaded, OpenVINO core and compiled
model created, first infer requests) must classify every photo, run after run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, SHARED, model_options, needs_shared, subprocess_env

pytestmark = [pytest.mark.flink, pytest.mark.slow, needs_shared]

PHOTOS = SHARED / "images" / "photos"
SCRIPTS = ["-i", "sql/10_images.sql", "-i", "sql/21_model.sql", "-i", "sql/29_sinks.sql", "-f", "sql/31_ml_predict.sql"]


@pytest.mark.parametrize("run", [1, 2])
def test_four_subtasks_starting_together_classify_every_photo(run, tmp_path):
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "udfs.sql", "--set", "parallelism.default=4", *SCRIPTS],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=subprocess_env(IMAGES_DIR=str(PHOTOS), OUTPUT_DIR=str(output), MODEL_PRESET="mobilenet_v2_quant",
                           MODEL_PATH=model_options("mobilenet_v2_quant")["classify.model-path"]),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for part in output.glob("[!.]*") for line in part.read_text().splitlines()]
    photos = sorted(str(p) for p in PHOTOS.iterdir() if p.is_file())
    assert sorted(row["path"] for row in rows) == photos
    assert [row["path"] for row in rows if row["label"] is None and row["error"] is None] == []
