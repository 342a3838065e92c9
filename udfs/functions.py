"""The SQL function ``classify_resnet50(image BYTES)``: a vectorized (pandas) Python UDF.

Each Python worker builds one ``ImageClassifier`` in ``open()`` from the ``classify.*`` job
parameters and hands every Arrow batch to it whole. Registered in SQL with
``CREATE FUNCTION classify_resnet50 AS 'udfs.functions.classify_resnet50' LANGUAGE PYTHON``.
"""

from __future__ import annotations

import time

import pandas as pd
from pyflink.table import DataTypes, TableEnvironment
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from udfs.classifier import ImageClassifier, Prediction
from udfs.config import OPTIONS, load_config
from udfs.stall import CallStalledError

# Top-k is three parallel arrays: PyFlink's pandas UDFs cannot return ARRAY<ROW<...>>.
RESULT_TYPE = DataTypes.ROW(
    [
        DataTypes.FIELD("label", DataTypes.STRING()),
        DataTypes.FIELD("class_id", DataTypes.INT()),
        DataTypes.FIELD("probability", DataTypes.FLOAT()),
        DataTypes.FIELD("top_labels", DataTypes.ARRAY(DataTypes.STRING())),
        DataTypes.FIELD("top_class_ids", DataTypes.ARRAY(DataTypes.INT())),
        DataTypes.FIELD("top_probabilities", DataTypes.ARRAY(DataTypes.FLOAT())),
        DataTypes.FIELD("error", DataTypes.STRING()),
    ]
)
RESULT_COLUMNS = [field.name for field in RESULT_TYPE.fields]


def predictions_frame(predictions: list[Prediction]) -> pd.DataFrame:
    """One row per prediction, in ``RESULT_TYPE`` field order."""
    rows = []
    for p in predictions:
        labels, class_ids, probabilities = map(list, zip(*p.top_k)) if p.top_k else (None, None, None)
        rows.append((p.label, p.class_id, p.probability, labels, class_ids, probabilities, p.error))
    # object columns keep None as None (a float column would turn a missing class_id into NaN)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS, dtype=object)


def classify_parameters(function_context: FunctionContext) -> dict[str, str]:
    """The ``classify.*`` options set for the job (``udfs.settings`` puts them in the job parameters)."""
    return {
        option.key: value
        for option in OPTIONS
        if (value := function_context.get_job_parameter(option.key, None)) is not None
    }


class ClassifyImage(ScalarFunction):
    """Classifies a batch of encoded images; one result row per input row, errors included."""

    def open(self, function_context: FunctionContext) -> None:
        self._classifier = ImageClassifier(load_config(classify_parameters(function_context)))
        metrics = function_context.get_metric_group().add_group("classify")
        self._images = metrics.counter("images")
        self._errors = metrics.counter("errors")
        self._batch_latency_ms = metrics.distribution("batchLatencyMs")
        # a distribution reaches Flink as a non-numeric gauge that reporters such as Prometheus
        # cannot export: the mean batch latency is also batchMillis / batches, two counters
        self._batches = metrics.counter("batches")
        self._batch_millis = metrics.counter("batchMillis")
        self._last_ms_per_image = 0
        metrics.gauge("lastMillisPerImage", lambda: self._last_ms_per_image)
        self._stalled_calls = metrics.counter("stalledCalls")

    def eval(self, images: pd.Series) -> pd.DataFrame:
        started = time.perf_counter()
        try:
            predictions = self._classifier.classify([None if v is None else bytes(v) for v in images])
        except CallStalledError:
            self._stalled_calls.inc()  # then the task fails, with the stage in its exception
            raise
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        self._images.inc(len(predictions))
        self._errors.inc(sum(p.error is not None for p in predictions))
        self._batch_latency_ms.update(elapsed_ms)
        self._batches.inc()
        self._batch_millis.inc(elapsed_ms)
        self._last_ms_per_image = elapsed_ms // max(len(predictions), 1)
        return predictions_frame(predictions)

    def close(self) -> None:
        classifier = getattr(self, "_classifier", None)
        if classifier is not None:
            classifier.close()
            self._classifier = None


classify_resnet50 = udf(ClassifyImage(), result_type=RESULT_TYPE, func_type="pandas")


def register_functions(t_env: TableEnvironment) -> None:
    """Register ``classify_resnet50`` for SQL on ``t_env`` (temporary, system-wide)."""
    t_env.create_temporary_system_function("classify_resnet50", classify_resnet50)
