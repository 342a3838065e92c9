"""The baseline a user writes first: a row-at-a-time (general, not pandas) Python UDF that
decodes one image and runs one synchronous inference per row.

Same model, same in-graph preprocessing (``udfs.runtime.prepare_model``) and the same OpenCV
decode/crop as the project, so the only differences are: one row per Python call, one blocking
``compiled_model(...)`` per image, OpenVINO's default performance hint (no THROUGHPUT streams).
"""

from __future__ import annotations

import numpy as np
import openvino as ov
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from udfs.classifier import load_labels
from udfs.config import load_config
from udfs.functions import classify_parameters
from udfs.models import resolve_model_path
from udfs.preprocess import decode_image, resize_and_crop
from udfs.runtime import prepare_model


class NaiveClassify(ScalarFunction):
    def open(self, function_context: FunctionContext) -> None:
        self.config = load_config(classify_parameters(function_context))
        self.labels = load_labels(self.config.labels_path, self.config.preset.labels)
        core = ov.Core()
        model = prepare_model(
            core, resolve_model_path(self.config), self.config.preprocessing,
            len(self.labels) + self.config.preset.label_offset, self.config.preset.output_activation,
            batch_size=1,
            embedding_output=self.config.preset.embedding_output,
        )
        settings = {}
        if self.config.precision != "auto":
            settings["INFERENCE_PRECISION_HINT"] = self.config.precision
        self.compiled = core.compile_model(model, "CPU", settings)  # compiled once per worker
        embedding = self.config.preset.embedding_output
        self.scores = next(o for o in self.compiled.outputs if embedding not in o.get_names())

    def eval(self, image: bytes) -> str:
        crop = resize_and_crop(decode_image(image, self.config.max_pixels), self.config.preprocessing)
        scores = self.compiled(crop[np.newaxis])[self.scores][0]  # synchronous, one image
        return self.labels[int(np.argmax(scores[self.config.preset.label_offset:]))]


classify_naive = udf(NaiveClassify(), result_type=DataTypes.STRING())
