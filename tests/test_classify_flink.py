"""classify_resnet50 through real Flink SQL jobs on the embedded MiniCluster.

Accuracy on the 500 shared ImageNet photos, parity with an in-process call of the same code,
every shared photo format and bad rows (the SQL runner and the Table API job: test_sql_runner.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.catalog import create_images_table
from udfs.classifier import ImageClassifier
from udfs.config import load_config

from conftest import SHARED, imagenet_truth, model_options, needs_shared

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
    """Top-1 and top-5 accuracy over the dev photos in ``rows`` (all 500 or a subset)."""
    truth = imagenet_truth()
    labels = {name: truth[name] for name in rows}
    top1 = sum(rows[name][1] == label for name, label in labels.items()) / len(labels)
    top5 = sum(label in rows[name][3] for name, label in labels.items()) / len(labels)
    return top1, top5


# The pandas UDF's accuracy through Flink on the 500 dev photos, per preset, is held to the
# preset's reference by tests/test_model_provider.py::test_parity_with_the_pandas_udf_on_500_photos
# (the same job, beside ML_PREDICT's).


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


@needs_shared
def test_classify_file_gives_each_file_the_row_classify_resnet50_gives(tmp_path):
    """classify_file(path), the same classifier fed the table's path column and reading the files
    itself: the row classify_resnet50(image) gives, good file or bad; a path naming nothing
    readable is an error row and the job goes on."""
    for photo in (SHARED / "images" / "photos").iterdir():
        os.link(photo, tmp_path / photo.name)
    good = (SHARED / "images" / "photos" / "hot_dog.jpg").read_bytes()
    for name, data in {"empty.jpg": b"", "random.jpg": os.urandom(4096),
                       "truncated.jpg": good[: len(good) // 3], "notes.txt": b"not an image\n"}.items():
        (tmp_path / name).write_bytes(data)
    t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()),
                               overrides=EFFICIENTNET | F32)
    create_images_table(t_env, tmp_path)
    fields = "{0}.label, {0}.class_id, {0}.top_class_ids, {0}.error, {0}.top_probabilities"
    query = (f"SELECT name, {fields.format('a')}, {fields.format('b')} "
             "FROM (SELECT name, classify_resnet50(image) AS a, classify_file(path) AS b FROM images)")
    with t_env.execute_sql(query).collect() as result:
        rows = {row[0]: (tuple(row[1:6]), tuple(row[6:11])) for row in result}
    assert len(rows) == len(list(tmp_path.iterdir())) == 23
    assert sum(by_path[3] is None for by_bytes, by_path in rows.values()) == 19
    for name, (by_bytes, by_path) in rows.items():
        assert by_path[:4] == by_bytes[:4], name  # label, class id, top class ids, error
        if by_bytes[3] is None:
            assert by_path[4] == pytest.approx(by_bytes[4], abs=1e-4), name  # top probabilities
    assert rows["hot_dog.jpg"][1][0] == "hotdog" and rows["empty.jpg"][1][3] == "empty input: 0 bytes"

    missing = tmp_path / "gone.jpg"
    query = ("SELECT p, classify_file(p).error FROM (VALUES "
             f"('{missing}'), ('s3://bucket/a.jpg'), ('file:{tmp_path}/hot_dog.jpg'), ('{tmp_path}')) AS t(p)")
    with t_env.execute_sql(query).collect() as result:
        errors = dict(tuple(row) for row in result)
    assert errors == {
        str(missing): f"cannot read '{missing}': No such file or directory",
        "s3://bucket/a.jpg": "cannot read 's3://bucket/a.jpg': classify_file reads local files only; "
                             "classify_resnet50(image) reads any file system through the images table",
        f"file:{tmp_path}/hot_dog.jpg": None,
        str(tmp_path): f"cannot read '{tmp_path}': not a regular file",
    }
