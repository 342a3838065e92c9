"""The UDF class in-process, no JVM: ``ClassifyImage`` opened with PyFlink's own
``FunctionContext`` and metric group, ``eval`` on a pandas Series as PyFlink passes an Arrow
batch, with a real model (EfficientNet-Lite0 from ../shared). The same class in real Flink jobs:
test_classify_flink."""

from __future__ import annotations

import pandas as pd
import pytest
from pyflink.fn_execution.metrics.process.metric_impl import GenericMetricGroup
from pyflink.table.udf import FunctionContext

from udfs.classifier import NULL_IMAGE_ERROR, ImageClassifier, Prediction
from udfs.config import load_config
from udfs.functions import RESULT_COLUMNS, RESULT_TYPE, ClassifyImage, classify_parameters, predictions_frame

from conftest import SHARED, model_options, needs_shared

OPTIONS = model_options("efficientnet_lite0") | {"classify.precision": "f32", "classify.top-k": "3",
                                                 "classify.cache-dir": ""}


def context(job_parameters: dict[str, str]) -> FunctionContext:
    """What PyFlink's table operations hand to ``open()`` (their base metric group included)."""
    return FunctionContext(GenericMetricGroup(None, None), job_parameters)


def test_result_columns_are_the_result_type_fields_in_order():
    assert RESULT_COLUMNS == ["label", "class_id", "probability", "top_labels", "top_class_ids",
                              "top_probabilities", "embedding", "error"]
    assert RESULT_COLUMNS == [field.name for field in RESULT_TYPE.fields]


def test_predictions_frame_splits_top_k_and_keeps_missing_values_none():
    frame = predictions_frame([
        Prediction("hotdog", 934, 0.9, [("hotdog", 934, 0.9), ("plate", 923, 0.05)]),
        Prediction(error="cannot decode"),
    ])
    assert list(frame.columns) == RESULT_COLUMNS
    assert frame.iloc[0].tolist() == ["hotdog", 934, 0.9, ["hotdog", "plate"], [934, 923], [0.9, 0.05], None, None]
    # object columns: a missing class_id stays None (Arrow NULL), not NaN
    assert frame.iloc[1].tolist() == [None, None, None, None, None, None, None, "cannot decode"]


def test_predictions_frame_of_an_empty_batch_has_the_columns():
    frame = predictions_frame([])
    assert frame.empty and list(frame.columns) == RESULT_COLUMNS


def test_classify_parameters_reads_the_classify_options_of_the_job():
    parameters = {**OPTIONS, "pipeline.name": "job", "classify.not-an-option": "x"}
    assert classify_parameters(context(parameters)) == OPTIONS


@needs_shared
def test_eval_gives_one_row_per_image_in_order_with_errors_as_rows():
    photos = SHARED / "images" / "photos"
    images = pd.Series([(photos / "hot_dog.jpg").read_bytes(), None, b"not an image",
                        (photos / "dog.jpg").read_bytes()])
    udf = ClassifyImage()
    udf.open(context(OPTIONS))
    try:
        frame = udf.eval(images)
    finally:
        udf.close()
    assert list(frame.columns) == RESULT_COLUMNS and len(frame) == len(images)
    with ImageClassifier(load_config(OPTIONS)) as classifier:
        expected = classifier.classify([(photos / name).read_bytes() for name in ("hot_dog.jpg", "dog.jpg")])
    for row, prediction in zip((0, 3), expected):
        label, class_id, probability, top_labels, top_ids, top_probabilities, embedding, error = frame.iloc[row]
        assert error is None and (label, class_id) == (prediction.label, prediction.class_id)
        assert top_labels == [name for name, _, _ in prediction.top_k] and len(top_ids) == 3
        assert top_probabilities == pytest.approx([p for _, _, p in prediction.top_k], abs=1e-5)
        assert probability == top_probabilities[0] == max(top_probabilities)
    assert frame.iloc[0]["label"] == "hotdog"
    assert frame.iloc[1].tolist() == [None] * 7 + [NULL_IMAGE_ERROR]
    assert frame.iloc[2].tolist()[:7] == [None] * 7 and frame.iloc[2]["error"]


def test_open_with_a_bad_option_names_it(tmp_path):
    udf = ClassifyImage()
    with pytest.raises(ValueError, match="^classify.model-path: model file not found"):
        udf.open(context(OPTIONS | {"classify.model-path": str(tmp_path / "missing.onnx")}))
    udf.close()  # closing a UDF whose open() failed is a no-op
