"""INT8 ResNet-50 end to end: `python -m udfs.models quantize` on a small calibration set, then
Flink SQL jobs (the pandas UDF and ML_PREDICT) at int8 against f32 on the photos not used for
calibration.

Calibration: 64 of the 500 shared photos (spread over the classes), to keep the test short; the
other 436 are scored, so no scored photo was seen by the calibration.
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

from udfs.models import int8_model_path

from conftest import SHARED, imagenet_truth, needs_shared, subprocess_env
from test_classify_flink import classify_folder
from test_model_provider import predict_folder

pytestmark = [needs_shared, pytest.mark.flink, pytest.mark.slow]

IMAGENET_DEV = SHARED / "images" / "imagenet-dev"
CALIBRATION_IMAGES = 64


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
    """The real ResNet-50 beside a copy (not the shared model cache), quantized by the command."""
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


def top1(rows: dict[str, tuple], label_column: int) -> float:
    truth = imagenet_truth()
    assert rows and all(row[-1] is None for row in rows.values())
    return sum(rows[name][label_column] == truth[name] for name in rows) / len(rows)


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
    f32 = top1(classify_folder(photos[1], model | {"classify.precision": "f32"}), 1)
    int8_udf = top1(classify_folder(photos[1], model | {"classify.precision": "int8"}), 1)
    int8_predict = top1(predict_folder(photos[1], model | {"classify.precision": "int8"}), 1)
    with capsys.disabled():
        print(f"\n[int8] resnet50 top-1 on {len(os.listdir(photos[1]))} photos: f32 {f32:.3f}, "
              f"int8 pandas UDF {int8_udf:.3f}, int8 ML_PREDICT {int8_predict:.3f}")
    assert abs(int8_udf - f32) <= 0.01
    assert abs(int8_predict - f32) <= 0.01
