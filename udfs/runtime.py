"""OpenVINO side of the classifier: the only module that imports ``openvino``.

1. read the model (anything ``Core.read_model`` reads: IR, ONNX, TFLite, TF, PaddlePaddle);
2. check it: one rank-4 input, one output as wide as the label list;
3. embed preprocessing with ``PrePostProcessor``: the tensor side is what ``udfs.preprocess``
   produces (u8 NHWC BGR, batch 1), the model side is the preset's channel order and layout,
   then element type, mean and scale;
4. embed postprocessing: softmax for logits, quantised scores normalised to probabilities;
5. compile with the precision, performance hint and cache directory;
6. run images through a pool of asynchronous infer requests.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Hashable, Iterable

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.preprocess import ColorFormat, PrePostProcessor

from udfs.presets import Preprocessing

# Ops between a Softmax and the model's Result that leave its probabilities intact.
_PASS_THROUGH_OPS = {"Reshape", "Squeeze", "Unsqueeze", "Convert", "FakeQuantize", "Flatten"}


class ClassificationRuntime:
    """A compiled classification model taking u8 BGR crops and returning probabilities."""

    def __init__(
        self,
        model_path: Path,
        preprocessing: Preprocessing,
        *,
        num_classes: int,
        output_activation: str = "auto",
        device: str = "CPU",
        precision: str = "auto",
        performance_hint: str = "THROUGHPUT",
        infer_requests: int = 0,
        streams: int = 0,
        cache_dir: Path | None = None,
    ) -> None:
        core = ov.Core()
        model = prepare_model(core, model_path, preprocessing, num_classes, output_activation)
        settings = {"PERFORMANCE_HINT": performance_hint}
        if precision != "auto":
            settings["INFERENCE_PRECISION_HINT"] = precision
        if streams:
            settings["NUM_STREAMS"] = streams
        if cache_dir is not None:
            settings["CACHE_DIR"] = str(cache_dir)
        self._compiled = core.compile_model(model, device, settings)
        count = infer_requests or self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self._requests = [self._compiled.create_infer_request() for _ in range(count)]

    @property
    def precision(self) -> str:
        """Precision the device actually infers in, e.g. ``f32`` or ``bf16``."""
        return self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    @property
    def streams(self) -> int:
        """Inference streams the device runs (``NUM_STREAMS``)."""
        return int(self._compiled.get_property("NUM_STREAMS"))

    @property
    def infer_requests(self) -> int:
        return len(self._requests)

    def infer(self, crops: Iterable[tuple[Hashable, np.ndarray]]) -> dict[Hashable, np.ndarray]:
        """Classify ``(key, crop)`` pairs; returns ``{key: probabilities}``.

        Each crop is submitted as soon as the iterable yields it, so whatever produces the
        crops (decoding) overlaps with inference, which runs without the GIL.
        """
        # A hand-rolled request pool rather than AsyncInferQueue: destroying an
        # AsyncInferQueue whose callback is a Python function intermittently deadlocked
        # (openvino 2026.4, CPU), and close() must be safe in a long-lived Flink worker.
        results: dict[Hashable, np.ndarray] = {}
        idle = list(self._requests)
        running: deque[tuple[ov.InferRequest, Hashable]] = deque()

        def collect_oldest() -> None:
            request, key = running.popleft()
            request.wait()
            results[key] = request.get_output_tensor(0).data[0].copy()
            idle.append(request)

        for key, crop in crops:
            if not idle:
                collect_oldest()
            request = idle.pop()
            request.start_async({0: crop[np.newaxis]})
            running.append((request, key))
        while running:
            collect_oldest()
        return results

    def close(self) -> None:
        """Release the compiled model and its requests."""
        self._requests = []
        self._compiled = None


def prepare_model(
    core: ov.Core,
    model_path: Path,
    preprocessing: Preprocessing,
    num_classes: int,
    output_activation: str = "auto",
) -> ov.Model:
    """Read and check a model, then embed pre- and postprocessing (steps 1-4)."""
    model = _read_model(core, Path(model_path))
    _check_model(model, num_classes, preprocessing)
    return _embed_processing(model, preprocessing, output_activation)


def _read_model(core: ov.Core, path: Path) -> ov.Model:
    if not path.is_file():
        raise ValueError(f"classify.model-path: model file not found: '{path}'")
    try:
        return core.read_model(path)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"classify.model-path: cannot read model '{path}': {reason}") from None


def _check_model(model: ov.Model, num_classes: int, preprocessing: Preprocessing) -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            "classify.model-path: expected a model with 1 input and 1 output, "
            f"got {len(model.inputs)} inputs and {len(model.outputs)} outputs"
        )
    input_shape = model.input().get_partial_shape()
    if input_shape.rank.is_dynamic or input_shape.rank.get_length() != 4:
        raise ValueError(f"classify.model-path: expected a rank-4 image input, got shape {input_shape}")
    layout = ov.Layout(preprocessing.layout)
    for axis in ("H", "W"):
        dimension = input_shape[layout.get_index_by_name(axis)]
        if dimension.is_static and dimension.get_length() != preprocessing.crop_size:
            raise ValueError(
                f"classify.crop-size: expected {dimension.get_length()} (model input shape "
                f"{input_shape}, layout {preprocessing.layout}), got '{preprocessing.crop_size}'"
            )
    width = model.output().get_partial_shape()[-1]
    if width.is_dynamic or width.get_length() != num_classes:
        raise ValueError(
            f"classify.labels-path: the model outputs {width} scores but the labels give "
            f"{num_classes} (label count + background offset)"
        )


def _embed_processing(model: ov.Model, preprocessing: Preprocessing, output_activation: str) -> ov.Model:
    layout = ov.Layout(preprocessing.layout)
    shape = [1, 1, 1, 1]
    shape[layout.get_index_by_name("C")] = 3
    shape[layout.get_index_by_name("H")] = shape[layout.get_index_by_name("W")] = preprocessing.crop_size
    model.reshape({model.input(): ov.PartialShape(shape)})  # batch of one: requests run in parallel

    model_input_type = model.input().get_element_type()
    output_type = model.output().get_element_type()
    apply_softmax = output_activation == "softmax" or (
        output_activation == "auto" and not _ends_in_softmax(model)
    )

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
        ColorFormat.BGR
    )
    ppp.input().model().set_layout(layout)
    steps = ppp.input().preprocess()
    if preprocessing.channel_order == "RGB":
        steps.convert_color(ColorFormat.RGB)
    if preprocessing.mean is not None or preprocessing.scale is not None:
        if not model_input_type.is_real():
            raise ValueError(
                "classify.mean-values: the model takes integer input "
                f"({model_input_type.get_type_name()}), so mean/scale must be empty"
            )
    if model_input_type.is_real():
        steps.convert_element_type(ov.Type.f32)
    if preprocessing.mean is not None:
        steps.mean(list(preprocessing.mean))
    if preprocessing.scale is not None:
        steps.scale(list(preprocessing.scale))

    postprocess = ppp.output().postprocess()
    if not output_type.is_real():
        # Quantised scores (e.g. a u8 softmax): back to f32 and rescaled to sum to 1.
        postprocess.convert_element_type(ov.Type.f32)
        postprocess.custom(lambda node: ops.divide(node, ops.reduce_sum(node, [-1], keep_dims=True)).output(0))
    elif apply_softmax:
        postprocess.custom(lambda node: ops.softmax(node, -1).output(0))
    ppp.output().tensor().set_element_type(ov.Type.f32)
    return ppp.build()


def _ends_in_softmax(model: ov.Model) -> bool:
    """Whether the output is a Softmax, possibly behind reshapes or a quantisation step."""
    node = model.output().get_node().input_value(0).get_node()
    while node.get_type_name() in _PASS_THROUGH_OPS:
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Softmax"
