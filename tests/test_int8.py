"""INT8 ResNet-50 end to end: `python -m udfs.models quantize` on a small calibration set, then
one Flink SQL job that classifies the photos not used for calibration at f32 and at int8, through
both paths (the pandas UDF and ML_PREDICT).

Calibration: 64 of the 500 shared photos (spread over the classes); NNCF's time grows with it.
Evaluation: all of the other 436, so no scored photo was seen by the calibration. Fewer would
not do: one photo is 0.23 points of 436 but 1 point of 100, so on a small set "within 1 point"
is decided by one or two chance flips (f32 and int8 disagree on 3 of these 436). Classifying them
is the cheaper part (about 30 of the test's 90 CPU-s); the JVM, the model compilations and the
quantize command (11 s) are the rest: 58 s on 2 cores at load 2-5.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.catalog import create_images_table
from udfs.model_provider import create_classifier_model, provider_options
from udfs.models import int8_model_path

from conftest import SHARED, imagenet_truth, needs_shared, subprocess_env

pytestmark = [needs_shared, pytest.mark.flink, pytest.mark.slow]

IMAGENET_DEV = SHARED / "images" / "imagenet-dev"
CALIBRATION_IMAGES = 64

# One job, three passes over the photos: the f32 reference and int8 through both paths. The int8
# ML_PREDICT reads a table of its own: Flink 2.3's optimizer merges two ML_PREDICT calls that
# differ only in their model (both then run the first model; seen in explain_sql's optimized plan).
QUERY = """
SELECT 'f32, ML_PREDICT' AS pass, name, class_id, error
FROM ML_PREDICT(TABLE images, MODEL resnet50_f32, DESCRIPTOR(image))
UNION ALL
SELECT 'int8, ML_PREDICT', name, class_id, error
FROM ML_PREDICT(TABLE images_for_int8, MODEL resnet50_int8, DESCRIPTOR(image))
UNION ALL
SELECT 'int8, pandas UDF', name, p.class_id, p.error
FROM (SELECT name, classify_resnet50(image) AS p FROM images)
"""


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    """(calibration folder: 64 photos, evaluation folder: the other 436)."""
    root = tmp_path_factory.mktemp("int8-photos")
    files = sorted(IMAGENET_DEV.glob("*.JPEG"))
    calibration = {files[i * len(files) // CALIBRATION_IMAGES] for i in range(CALIBRATION_IMAGES)}
    for file in files:
        link_or_copy(file, root / ("calibration" if file in calibration else "evaluation") / file.name)
    return root / "calibration", root / "evaluation"


@pytest.fixture(scope="module")
def quantized(resnet50_model, photos, tmp_path_factory) -> Path:
    """The real ResNet-50 beside a copy (not the shared model cache), quantized by the command,
    once per session."""
    float_model = tmp_path_factory.mktemp("resnet50") / "model.xml"
    link_or_copy(resnet50_model, float_model)
    link_or_copy(resnet50_model.with_suffix(".bin"), float_model.with_suffix(".bin"))
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "udfs.models", "quantize", "resnet50", "--calibration", str(photos[0]),
         "--model-path", str(float_model)],
        capture_output=True, text=True, env=subprocess_env(), timeout=1800)
    seconds = time.perf_counter() - started
    assert completed.returncode == 0, completed.stderr[-3000:]
    target = int8_model_path(float_model)
    assert completed.stdout.strip().splitlines()[-1] == str(target)
    print(f"\n[int8] quantize resnet50 on {CALIBRATION_IMAGES} images: {seconds:.0f} s")
    return float_model


def test_quantize_writes_the_model_and_how_it_was_made(quantized, photos):
    source = json.loads((int8_model_path(quantized).parent / "SOURCE.json").read_text())
    assert source["preset"] == "resnet50"
    assert source["calibration"]["images"] == CALIBRATION_IMAGES and source["calibration"]["skipped"] == []
    assert source["calibration"]["folder"] == str(photos[0].resolve())
    assert len(source["calibration"]["sha256"]) == 64 and len(source["float_model"]["sha256"]) == 64
    assert source["tools"]["nncf"] and source["tools"]["openvino"] and source["created"].endswith("Z")
    assert int8_model_path(quantized).with_suffix(".bin").stat().st_size < quantized.with_suffix(".bin").stat().st_size / 2


def test_int8_top1_within_a_point_of_f32_through_flink(quantized, photos, capsys):
    model = {"classify.model": "resnet50", "classify.model-path": str(quantized)}
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()),
                               overrides=model | {"classify.precision": "int8"})  # the pandas UDF's
    create_images_table(t_env, photos[1])
    create_images_table(t_env, photos[1], name="images_for_int8")
    for precision in ("f32", "int8"):
        create_classifier_model(t_env, provider_options(model | {"classify.precision": precision}),
                                name=f"resnet50_{precision}")
    plan = t_env.explain_sql(QUERY).split("== Optimized Execution Plan ==")[1]
    assert "MODEL default_catalog.default_database.resnet50_int8" in plan, "the int8 pass runs the int8 model"
    classes: dict[str, dict[str, int]] = {}
    with t_env.execute_sql(QUERY).collect() as rows:
        for row in rows:
            assert row[3] is None, f"{row[0]}: {row[1]}: {row[3]}"
            classes.setdefault(row[0], {})[row[1]] = row[2]

    truth = {name: label for name, label in imagenet_truth().items() if (photos[1] / name).exists()}
    assert len(truth) == 500 - CALIBRATION_IMAGES
    assert set(classes) == {"f32, ML_PREDICT", "int8, ML_PREDICT", "int8, pandas UDF"}
    assert all(by_name.keys() == truth.keys() for by_name in classes.values()), "one row per photo and pass"
    top1 = {run: sum(by_name[name] == truth[name] for name in truth) / len(truth) for run, by_name in classes.items()}
    f32 = classes["f32, ML_PREDICT"]
    differ = {run: sum(by_name[name] != f32[name] for name in truth) for run, by_name in classes.items()}
    with capsys.disabled():
        print(f"\n[int8] resnet50 top-1 on {len(truth)} photos: "
              + ", ".join(f"{run} {top1[run]:.3f} ({differ[run]} top-1 classes differ from f32)" for run in top1))
    assert top1["f32, ML_PREDICT"] > 0.85  # the float model itself is right (0.90 on these photos)
    assert abs(top1["int8, pandas UDF"] - top1["f32, ML_PREDICT"]) <= 0.01
    assert abs(top1["int8, ML_PREDICT"] - top1["f32, ML_PREDICT"]) <= 0.01
