"""classify_resnet50 through real Flink SQL jobs on the embedded MiniCluster.

Accuracy on the 500 shared ImageNet photos, parity with an in-process call of the same code,
every shared photo format, bad rows, and the SQL scripts under sql/ run by the SQL runner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.catalog import create_images_table
from udfs.classifier import ImageClassifier
from udfs.config import load_config
from udfs.presets import get_preset

from conftest import REPO, SHARED, imagenet_truth, model_options, needs_shared, subprocess_env

pytestmark = pytest.mark.flink

MOBILENET = model_options("mobilenet_v2_quant")
EFFICIENTNET = model_options("efficientnet_lite0")
F32 = {"classify.precision": "f32"}

QUERY = """
SELECT name, p.label, p.class_id, p.probability, p.top_class_ids, p.top_probabilities, p.error
FROM (SELECT name, classify_resnet50(image) AS p FROM images)
"""


def classify_folder(folder: Path, options: dict[str, str], **table_options) -> dict[str, tuple]:
    """Run QUERY as a Flink batch job over ``folder``: file name -> result row."""
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()), overrides=options)
    create_images_table(t_env, folder, **table_options)
    with t_env.execute_sql(QUERY).collect() as rows:
        result = [tuple(row) for row in rows]
    by_name = {row[0]: row[1:] for row in result}
    assert len(by_name) == len(result), "one row per file"
    return by_name


def top1_top5(rows: dict[str, tuple]) -> tuple[float, float]:
    truth = imagenet_truth()
    top1 = sum(rows[name][1] == label for name, label in truth.items()) / len(truth)
    top5 = sum(label in rows[name][3] for name, label in truth.items()) / len(truth)
    return top1, top5


@needs_shared
@pytest.mark.parametrize("preset", ["mobilenet_v2_quant", "efficientnet_lite0"])
def test_imagenet_dev_accuracy_through_flink(preset, capsys):
    folder = SHARED / "images" / "imagenet-dev"
    started = time.perf_counter()
    rows = classify_folder(folder, model_options(preset) | F32)
    seconds = time.perf_counter() - started
    assert len(rows) == 500 and all(row[-1] is None for row in rows.values())
    top1, top5 = top1_top5(rows)
    with capsys.disabled():
        print(f"\n[flink] {preset} f32: top-1 {top1:.3f} top-5 {top5:.3f}, "
              f"job {seconds:.1f} s for 500 images = {500 / seconds:.1f} images/s (start-up included)")
    meta = get_preset(preset).meta
    assert top1 == pytest.approx(meta["dev_top1"], abs=0.01)
    assert top5 == pytest.approx(meta["dev_top5"], abs=0.01)


@needs_shared
def test_flink_results_equal_in_process_results():
    folder = SHARED / "images" / "photos"
    flink_rows = classify_folder(folder, EFFICIENTNET | F32)
    files = sorted(folder.iterdir())
    with ImageClassifier(load_config(EFFICIENTNET | F32 | {"classify.cache-dir": ""})) as classifier:
        local = classifier.classify([f.read_bytes() for f in files])
    for file, prediction in zip(files, local):
        label, class_id, probability, top_ids, top_probabilities, error = flink_rows[file.name]
        assert error is None and prediction.error is None
        assert (label, class_id) == (prediction.label, prediction.class_id), file.name
        assert top_ids == [c for _, c, _ in prediction.top_k], file.name
        assert top_probabilities == pytest.approx([p for _, _, p in prediction.top_k], abs=1e-4)


@needs_shared
def test_every_shared_photo_format_through_the_resnet50_graph():
    """BMP, PNG (incl. 8-bit grayscale), large JPEG: all predicted, through the ResNet-50 graph."""
    rows = classify_folder(SHARED / "images" / "photos", model_options("resnet50_onnx"))
    assert len(rows) == 19
    for name, (label, class_id, probability, top_ids, top_probabilities, error) in rows.items():
        assert error is None, name
        assert label and 0 <= class_id < 1000 and 0.0 <= probability <= 1.0
        assert len(top_ids) == 5 and top_probabilities == sorted(top_probabilities, reverse=True)


@needs_shared
def test_bad_rows_get_null_prediction_and_error(tmp_path):
    good = (SHARED / "images" / "photos" / "hot_dog.jpg").read_bytes()
    files = {
        "good.jpg": good,
        "empty.jpg": b"",
        "random.jpg": os.urandom(4096),
        "truncated.jpg": good[: len(good) // 3],
        "notes.txt": b"this is not an image\n",
        "oversize.jpg": good + b"\0" * 2_000_000,  # over the table cap: the image column is NULL
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    rows = classify_folder(tmp_path, MOBILENET, max_file_size="1 mb")
    assert set(rows) == set(files), "rows out = rows in"
    assert rows["good.jpg"][-1] is None and rows["good.jpg"][0] == "hotdog"
    for name in set(files) - {"good.jpg"}:
        label, class_id, probability, top_ids, top_probabilities, error = rows[name]
        assert (label, class_id, probability, top_ids) == (None, None, None, None), name
        assert error, name
    assert "NULL" in rows["oversize.jpg"][-1]


def run_sql_runner(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "udfs.sql", *args],
        cwd=REPO, env=subprocess_env(**env), capture_output=True, text=True, timeout=600,
    )


@needs_shared
def test_sql_scripts_print_and_write_json_lines(tmp_path):
    output = tmp_path / "out"
    result = run_sql_runner(
        "--set", f"classify.model={MOBILENET['classify.model']}",
        "--set", f"classify.model-path={MOBILENET['classify.model-path']}",
        "-i", "sql/10_images.sql", "-i", "sql/20_functions.sql", "-f", "sql/30_classify.sql",
        env={"IMAGES_DIR": str(REPO / "samples" / "images"), "OUTPUT_DIR": str(output)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Job Runtime:" in result.stdout
    samples = sorted(p.name for p in (REPO / "samples" / "images").iterdir())
    printed = [line for line in result.stdout.splitlines() if "+I[" in line]
    assert len(printed) == len(samples)
    written = [json.loads(line) for part in output.iterdir() for line in part.read_text().splitlines()]
    assert sorted(Path(row["path"]).name for row in written) == samples
    by_name = {Path(row["path"]).name: row for row in written}
    assert by_name["hot_dog.jpg"]["label"] == "hotdog" and by_name["hot_dog.jpg"]["error"] is None


def test_sql_runner_reports_the_failing_line(tmp_path):
    script = tmp_path / "bad.sql"
    script.write_text("-- a comment\nCREATE TEMPORARY TABLE t (x INT) WITH ('connector' = 'datagen');\n\n"
                      "SELECT x FROM no_such_table;\n")
    result = run_sql_runner("-f", str(script), env={})
    assert result.returncode == 1
    assert f"{script}:4:" in result.stderr and "no_such_table" in result.stderr


def test_unknown_classify_option_fails_before_the_job(tmp_path):
    script = tmp_path / "bad.sql"
    script.write_text("SET 'classify.topk' = '3';\n")
    result = run_sql_runner("-f", str(script), env={})
    assert result.returncode == 1
    assert "classify.topk: unknown option; did you mean 'classify.top-k'?" in result.stderr


@needs_shared
def test_table_api_job_reports_runtime_and_throughput(tmp_path):
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "udfs.job", "--images", str(REPO / "samples" / "images"), "--output", str(output),
         "--no-print", *(f"-D{key}={value}" for key, value in MOBILENET.items())],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Job Runtime:" in result.stdout and "images/s" in result.stdout
    samples = len(list((REPO / "samples" / "images").iterdir()))
    assert f"Images: {samples}," in result.stdout
    written = [json.loads(line) for part in output.iterdir() for line in part.read_text().splitlines()]
    assert len(written) == samples and all(row["error"] is None for row in written)
