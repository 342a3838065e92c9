"""The SQL functions ``classify_resnet50(image BYTES)``, ``classify_file(path STRING)`` and
``embed_image(image BYTES)``: vectorized (pandas) Python UDFs.

Each Python worker builds one ``ImageClassifier`` per function in ``open()`` from the
``classify.*`` job parameters and hands every Arrow batch to it whole. Registered in SQL with
``CREATE FUNCTION classify_resnet50 AS 'udfs.functions.classify_resnet50' LANGUAGE PYTHON`` (and
``embed_image``, ``udfs.functions.embed_image``).

``embed_image`` returns the embedding alone (NULL for an image that cannot be read; the reason is
logged and counted). A query that wants classes, embedding and the error of one image from one
inference sets ``classify.embedding`` and reads ``classify_resnet50(image).embedding``.
"""

from __future__ import annotations

import time
from typing import Callable

import pandas as pd
from pyflink.table import DataTypes, TableEnvironment
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from udfs.classifier import ImageClassifier, Prediction
from udfs.config import OPTIONS, ClassifierConfig, load_config
from udfs.result import RESULT_COLUMNS, RESULT_FIELDS
from udfs.stall import CallStalledError

_SCALAR_TYPES = {"STRING": DataTypes.STRING(), "INT": DataTypes.INT(), "FLOAT": DataTypes.FLOAT()}


def _data_type(sql_type: str):
    """The PyFlink type of one of ``udfs.result``'s SQL types (``INT``, ``ARRAY<FLOAT>``...)."""
    if sql_type.startswith("ARRAY<") and sql_type.endswith(">"):
        return DataTypes.ARRAY(_data_type(sql_type[len("ARRAY<"):-1]))
    return _SCALAR_TYPES[sql_type]


RESULT_TYPE = DataTypes.ROW([DataTypes.FIELD(name, _data_type(sql_type)) for name, sql_type in RESULT_FIELDS])
EMBEDDING_TYPE = DataTypes.ARRAY(DataTypes.FLOAT())


def predictions_frame(predictions: list[Prediction]) -> pd.DataFrame:
    """One row per prediction, in ``RESULT_TYPE`` field order."""
    rows = []
    for p in predictions:
        labels, class_ids, probabilities = map(list, zip(*p.top_k)) if p.top_k else (None, None, None)
        rows.append((p.label, p.class_id, p.probability, labels, class_ids, probabilities, p.embedding, p.error))
    # object columns keep None as None (a float column would turn a missing class_id into NaN)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS, dtype=object)


def encoded_images(images: pd.Series) -> list[bytes | None]:
    """A BYTES column as the classifier takes it (Arrow gives bytes already: no copy)."""
    return [None if v is None else bytes(v) for v in images]


def classify_parameters(function_context: FunctionContext) -> dict[str, str]:
    """The ``classify.*`` options set for the job (``udfs.settings`` puts them in the job parameters)."""
    return {
        option.key: value
        for option in OPTIONS
        if (value := function_context.get_job_parameter(option.key, None)) is not None
    }


class ClassifyImage(ScalarFunction):
    """Classifies a batch of encoded images; one result row per input row, errors included."""

    metric_group = "classify"

    def open(self, function_context: FunctionContext) -> None:
        self._classifier = self._make_classifier(load_config(classify_parameters(function_context)))
        metrics = function_context.get_metric_group().add_group(self.metric_group)
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

    @staticmethod
    def _make_classifier(config: ClassifierConfig) -> ImageClassifier:
        return ImageClassifier(config)

    def eval(self, images: pd.Series) -> pd.DataFrame:
        return self._classify(self._classifier.classify, encoded_images(images))

    def _classify(self, method: Callable[[list], list[Prediction]], inputs: list) -> pd.DataFrame:
        started = time.perf_counter()
        predictions = self._run(method, inputs)
        self._count(started, len(predictions), sum(p.error is not None for p in predictions))
        return predictions_frame(predictions)

    def _run(self, method: Callable[[list], list], inputs: list) -> list:
        try:
            return method(inputs)
        except CallStalledError:
            self._stalled_calls.inc()  # then the task fails, with the stage in its exception
            raise

    def _count(self, started: float, images: int, errors: int) -> None:
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        self._images.inc(images)
        self._errors.inc(errors)
        self._batch_latency_ms.update(elapsed_ms)
        self._batches.inc()
        self._batch_millis.inc(elapsed_ms)
        self._last_ms_per_image = elapsed_ms // max(images, 1)

    def close(self) -> None:
        classifier = getattr(self, "_classifier", None)
        if classifier is not None:
            classifier.close()
            self._classifier = None


class EmbedImage(ClassifyImage):
    """The embeddings of a batch of encoded images: one ARRAY<FLOAT> per row, NULL for an image
    that cannot be read (logged, and counted in the metric group ``embed``'s ``errors``)."""

    metric_group = "embed"  # its own: both functions may run in one operator

    @staticmethod
    def _make_classifier(config: ClassifierConfig) -> ImageClassifier:
        return ImageClassifier(config, embedding=True)

    def eval(self, images: pd.Series) -> pd.Series:
        started = time.perf_counter()
        embeddings = self._run(self._classifier.embed, encoded_images(images))
        self._count(started, len(embeddings), sum(e is None for e in embeddings))
        return pd.Series(embeddings, dtype=object)


class ClassifyFile(ClassifyImage):
    """``classify_resnet50`` for images named by path: each row's local file is read here, in the
    Python worker (``udfs.image_files``), so the images table need not load the bytes and send
    them from the JVM; same results and errors for the same image, plus an error row for a path
    that names no readable regular file. Its metrics are ``classify_resnet50``'s (group ``classify``)."""

    def eval(self, paths: pd.Series) -> pd.DataFrame:
        return self._classify(self._classifier.classify_files, [None if p is None else str(p) for p in paths])


classify_resnet50 = udf(ClassifyImage(), result_type=RESULT_TYPE, func_type="pandas")
classify_file = udf(ClassifyFile(), result_type=RESULT_TYPE, func_type="pandas")
embed_image = udf(EmbedImage(), result_type=EMBEDDING_TYPE, func_type="pandas")


def register_functions(t_env: TableEnvironment) -> None:
    """Register ``classify_resnet50``, ``classify_file`` and ``embed_image`` for SQL on ``t_env``
    (temporary, system-wide)."""
    t_env.create_temporary_system_function("classify_resnet50", classify_resnet50)
    t_env.create_temporary_system_function("classify_file", classify_file)
    t_env.create_temporary_system_function("embed_image", embed_image)
