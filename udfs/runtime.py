"""OpenVINO side of the classifier: the only module that imports ``openvino``.

1. read the model (anything ``Core.read_model`` reads: IR, ONNX, TFLite, TF, PaddlePaddle);
2. check it: one rank-4 input, one output as wide as the label list (the scores), and maybe the
   preset's embedding output (a second output added at conversion, ``udfs.embedding_head``);
3. embed preprocessing with ``PrePostProcessor``: the tensor side is what ``udfs.preprocess``
   produces (u8 NHWC BGR, batched), the model side is the preset's channel order and layout,
   then element type, mean and scale;
4. embed postprocessing: softmax for logits, quantised scores normalised to probabilities (the
   embedding is final as the graph gives it);
5. compile with the precision, performance hint and cache directory, once per process: every
   runtime built with the same model and settings shares one compiled model (see ``_SharedModel``);
6. run images through the runtime's own pool of asynchronous infer requests; the embedding is
   read from a request only when the caller asks for it.

Importing this module first initialises, single-threaded, what OpenVINO's Python binding would
otherwise initialise lazily on the first tensor access of the process (see
``_initialise_numpy_bridge``): two subtasks reading their first tensors at the same moment
could otherwise deadlock for ever.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.preprocess import ColorFormat, PrePostProcessor

from udfs.models import require_model_file
from udfs.presets import Preprocessing

log = logging.getLogger(__name__)

# Images per infer request when classify.batch-size is 0 (automatic). bench/run.py, light
# ResNet-50, bf16, 2 cores: 193 (batch 1), 215 (4), 227 (8) images/s on pre-decoded crops.
AUTO_BATCH_SIZE = 8

# Ops between a Softmax and the model's Result that leave its probabilities intact.
_PASS_THROUGH_OPS = {"Reshape", "Squeeze", "Unsqueeze", "Convert", "FakeQuantize", "Flatten"}


def _initialise_numpy_bridge() -> None:
    """Make OpenVINO's Python binding build its numpy type tables now, in one thread.

    ``Tensor.data`` looks up the numpy dtype in a function-local C++ static
    (``Common::type_helpers::ov_type_to_dtype()``, openvino 2026.4) built on first use. Building
    it constructs ``py::dtype`` objects, whose first use initialises pybind11's numpy API table
    through ``gil_safe_call_once_and_store``, which releases the GIL while it waits. So the
    first thread holds the static's initialisation guard and wants the GIL back, while a second
    thread, holding the GIL, waits in ``__cxa_guard_acquire`` for the same static: a lock-order
    inversion (the class of deadlock pybind11 PR #4877 describes) that hung 126 of 200 fresh
    processes whose 4 threads built runtimes and called ``infer`` together, 0 of 200 with this
    warm-up (``tests/first_infer_race.py``). Initialised at import, the guard is never contended.
    Every element type this module reads or writes is touched, and a tensor is also made from
    a numpy array (the reverse table, ``dtype_num_to_ov_type()``, is lazy in the same way).
    """
    for element_type in (ov.Type.u8, ov.Type.f32, ov.Type.f16, ov.Type.i64):
        ov.Tensor(element_type, [1]).data  # noqa: B018 - the access is the point
    ov.Tensor(np.zeros(1, np.uint8))


_initialise_numpy_bridge()

# What an infer call is doing, reported to an optional observer (udfs.stall: a call that stops
# reporting for classify.call-timeout fails, naming the last stage).
StageReporter = Callable[[str], None]


def _no_report(stage: str) -> None:
    pass


class ClassificationRuntime:
    """A compiled classification model taking u8 BGR crops and returning probabilities, and the
    embedding of each crop when the model gives one (``embedding_output``) and the caller asks."""

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
        batch_size: int = 0,
        streams: int = 0,
        cache_dir: Path | None = None,
        embedding_output: str | None = None,
    ) -> None:
        settings: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
        if precision != "auto":
            settings["INFERENCE_PRECISION_HINT"] = precision
        if streams:
            settings["NUM_STREAMS"] = streams
        if cache_dir is not None:
            settings["CACHE_DIR"] = str(cache_dir)
        self._shared = _SharedModel.acquire(
            _ModelKey.of(model_path, preprocessing, num_classes, output_activation, batch_size, device, settings,
                         embedding_output)
        )
        self._compiled = self._shared.compiled
        names = [output.get_names() for output in self._compiled.outputs]
        # Outputs by index: one compiled model serves both classify and embed (the embedding is
        # computed in the same inference whether read or not: measured cost in bench/README.md).
        self._embedding_index = next((i for i, n in enumerate(names) if embedding_output in n), None)
        self._scores_index = next(i for i in range(len(names)) if i != self._embedding_index)
        self.batch_size = self._compiled.input().get_shape()[0]  # tensor side: NHWC
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

    @property
    def has_embedding(self) -> bool:
        """Whether the model gives the embedding output (``embedding_output``)."""
        return self._embedding_index is not None

    def infer(self, crops: Iterable[tuple[Hashable, np.ndarray]], report: StageReporter = _no_report, *,
              embeddings: dict[Hashable, np.ndarray] | None = None) -> dict[Hashable, np.ndarray]:
        """Classify ``(key, crop)`` pairs; returns ``{key: probabilities}``. Given a dict
        ``embeddings`` (and a model with ``has_embedding``), also puts each key's embedding in it.

        Crops are written straight into an idle request's input tensor; a request starts as
        soon as its batch is full, so whatever produces the crops (decoding) overlaps with
        inference, which runs without the GIL. The last batch may run part-filled: the rows
        left over from an earlier batch are computed and ignored. ``report`` hears each stage
        as it starts (waiting for a request, collecting its scores).
        """
        # A hand-rolled request pool rather than AsyncInferQueue: destroying an
        # AsyncInferQueue whose callback is a Python function intermittently deadlocked
        # (openvino 2026.4, CPU), and close() must be safe in a long-lived Flink worker.
        results: dict[Hashable, np.ndarray] = {}
        idle = list(self._requests)
        running: deque[tuple[ov.InferRequest, list[Hashable]]] = deque()

        def collect_oldest() -> None:
            request, keys = running.popleft()
            report(f"OpenVINO inference of a batch of {len(keys)} images (InferRequest.wait)")
            request.wait()
            report("reading OpenVINO output scores")
            scores = request.get_output_tensor(self._scores_index).data
            for row, key in enumerate(keys):
                results[key] = scores[row].copy()
            if embeddings is not None:
                vectors = request.get_output_tensor(self._embedding_index).data
                for row, key in enumerate(keys):
                    embeddings[key] = vectors[row].copy()
            idle.append(request)

        request, batch, keys = None, None, []
        try:
            for key, crop in crops:
                if request is None:
                    if not idle:
                        collect_oldest()
                    request = idle.pop()
                    report("getting an OpenVINO input tensor")
                    batch = request.get_input_tensor(0).data  # (batch, H, W, 3) u8, the request's memory
                batch[len(keys)] = crop
                keys.append(key)
                if len(keys) == self.batch_size:
                    request.start_async()
                    running.append((request, keys))
                    request, keys = None, []
            if keys:
                request.start_async()
                running.append((request, keys))
        except BaseException:
            # Producing the crops failed: no request may be left running into the next call.
            report("waiting for started OpenVINO requests after a failure")
            for started, _ in running:
                started.wait()
            raise
        while running:
            collect_oldest()
        return results

    def close(self) -> None:
        """Release the requests, and the compiled model when no other runtime uses it."""
        self._requests = []
        self._compiled = None
        if self._shared is not None:
            self._shared.release()
            self._shared = None


@dataclass(frozen=True)
class _ModelKey:
    """What makes two compiled models interchangeable: the model file and every setting."""

    path: Path
    file_version: tuple[int, int]  # (mtime_ns, size): a replaced file is compiled afresh
    preprocessing: Preprocessing
    num_classes: int
    output_activation: str
    batch_size: int
    device: str
    settings: tuple[tuple[str, Any], ...]
    embedding_output: str | None

    @classmethod
    def of(cls, path: Path, preprocessing: Preprocessing, num_classes: int, output_activation: str,
           batch_size: int, device: str, settings: dict[str, Any], embedding_output: str | None) -> _ModelKey:
        path = Path(path)
        try:
            stat = path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            version = (0, 0)  # prepare_model reports the missing file
        return cls(path, version, preprocessing, num_classes, output_activation, batch_size, device,
                   tuple(sorted(settings.items())), embedding_output)


class _SharedModel:
    """A compiled model shared by every runtime with the same ``_ModelKey`` in this process.

    Parallel subtasks whose Python UDFs run in one process (PyFlink's loopback mode, used by
    local jobs) would otherwise compile one model each, every one sized by the performance hint
    for the whole machine: on 2 cores that is 4 inference threads fighting over 2 cores, which
    measured 145 instead of 164 images/s. Shared, the device's streams serve all requests.
    """

    _lock = threading.Lock()
    _models: dict[_ModelKey, _SharedModel] = {}

    def __init__(self, key: _ModelKey) -> None:
        self.key = key
        self.users = 0
        core = ov.Core()
        model = prepare_model(core, key.path, key.preprocessing, key.num_classes, key.output_activation,
                              key.batch_size, key.embedding_output)
        self.compiled = core.compile_model(model, key.device, dict(key.settings))

    @classmethod
    def acquire(cls, key: _ModelKey) -> _SharedModel:
        with cls._lock:  # compiling under the lock: a second subtask waits rather than compiles
            shared = cls._models.get(key)
            if shared is None:
                shared = cls._models[key] = cls(key)
            shared.users += 1
            return shared

    def release(self) -> None:
        with self._lock:
            self.users -= 1
            if self.users > 0:
                return
            del self._models[self.key]
            compiled, self.compiled = self.compiled, None
        del compiled  # freed outside the lock: other subtasks' open() need not wait for it


def prepare_model(
    core: ov.Core,
    model_path: Path,
    preprocessing: Preprocessing,
    num_classes: int,
    output_activation: str = "auto",
    batch_size: int = 0,
    embedding_output: str | None = None,
) -> ov.Model:
    """Read and check a model, then embed pre- and postprocessing (steps 1-4)."""
    model = _read_model(core, Path(model_path))
    scores = _check_model(model, num_classes, preprocessing, embedding_output)
    return _embed_processing(model, scores, preprocessing, output_activation, batch_size)


def _read_model(core: ov.Core, path: Path) -> ov.Model:
    require_model_file(path)
    try:
        return core.read_model(path)
    except RuntimeError as error:
        raise ValueError(f"classify.model-path: cannot read model '{path}': {_first_line(error)}") from None


def _scores_output(model: ov.Model, embedding_output: str | None) -> ov.Output | None:
    """The output that is not the embedding, when there is exactly one such."""
    others = [output for output in model.outputs if embedding_output not in output.get_names()]
    return others[0] if len(others) == 1 else None


def _check_model(model: ov.Model, num_classes: int, preprocessing: Preprocessing,
                 embedding_output: str | None) -> str:
    """Check the model; returns the name of its scores output."""
    scores = _scores_output(model, embedding_output)
    if len(model.inputs) != 1 or scores is None:
        extra = f" (plus the embedding output '{embedding_output}')" if embedding_output else ""
        raise ValueError(
            f"classify.model-path: expected a model with 1 input and 1 output{extra}, "
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
    width = scores.get_partial_shape()[-1]
    if width.is_dynamic or width.get_length() != num_classes:
        raise ValueError(
            f"classify.labels-path: the model outputs {width} scores but the labels give "
            f"{num_classes} (label count + background offset)"
        )
    return scores.get_any_name()


def _set_batch_size(model: ov.Model, scores: str, preprocessing: Preprocessing, batch_size: int) -> None:
    """Reshape the input to ``batch_size`` images of the crop size; 0 = ``AUTO_BATCH_SIZE`` when
    the graph allows it, else 1. Graphs that hard-code a batch of 1 in a Reshape (TFLite exports,
    for one) either refuse the new shape or fold the batch away; both count as not batchable."""

    def reshape(batch: int) -> None:
        model.reshape({model.input(): ov.PartialShape(input_shape(preprocessing, batch))})
        output_batch = model.output(scores).get_partial_shape()[0]
        if output_batch.is_dynamic or output_batch.get_length() != batch:
            raise RuntimeError(f"a batch of {batch} images gives {output_batch} rows of scores")

    try:
        reshape(batch_size or AUTO_BATCH_SIZE)
    except RuntimeError as error:
        if batch_size:
            raise ValueError(
                f"classify.batch-size: the model cannot take batches of {batch_size} "
                f"({str(error).strip().splitlines()[-1]}); set classify.batch-size to 1, or 0 for automatic"
            ) from None
        log.info("model '%s' has a fixed batch size: inferring one image per request", model.friendly_name)
        reshape(1)


def input_shape(preprocessing: Preprocessing, batch: int) -> list[int]:
    """The model input's shape for ``batch`` crops, in the preset's layout."""
    layout = ov.Layout(preprocessing.layout)
    shape = [1, 1, 1, 1]
    shape[layout.get_index_by_name("N")] = batch
    shape[layout.get_index_by_name("C")] = 3
    shape[layout.get_index_by_name("H")] = shape[layout.get_index_by_name("W")] = preprocessing.crop_size
    return shape


def preprocessing_model(preprocessing: Preprocessing, input_type: ov.Type = ov.Type.f32) -> ov.Model:
    """The in-graph preprocessing alone, as ``prepare_model`` embeds it: one u8 NHWC BGR crop in,
    the model's input out (channel order, layout, element type, mean, scale). Quantization
    calibrates the model without that graph on what this computes (``udfs.quantize``)."""
    parameter = ops.parameter(input_shape(preprocessing, 1), input_type)
    model = ov.Model([ops.result(parameter)], [parameter], "preprocessing")
    ppp = PrePostProcessor(model)
    _embed_preprocessing(ppp, preprocessing, input_type)
    return ppp.build()


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _embed_processing(model: ov.Model, scores: str, preprocessing: Preprocessing, output_activation: str,
                      batch_size: int) -> ov.Model:
    _set_batch_size(model, scores, preprocessing, batch_size)
    output_type = model.output(scores).get_element_type()
    apply_softmax = output_activation == "softmax" or (
        output_activation == "auto" and not _ends_in_softmax(model.output(scores))
    )

    ppp = PrePostProcessor(model)
    _embed_preprocessing(ppp, preprocessing, model.input().get_element_type())
    postprocess = ppp.output(scores).postprocess()
    if not output_type.is_real():
        # Quantised scores (e.g. a u8 softmax): back to f32 and rescaled to sum to 1.
        postprocess.convert_element_type(ov.Type.f32)
        postprocess.custom(lambda node: ops.divide(node, ops.reduce_sum(node, [-1], keep_dims=True)).output(0))
    elif apply_softmax:
        postprocess.custom(lambda node: ops.softmax(node, -1).output(0))
    for output in model.outputs:
        ppp.output(output.get_any_name()).tensor().set_element_type(ov.Type.f32)
    return ppp.build()


def _embed_preprocessing(ppp: PrePostProcessor, preprocessing: Preprocessing, model_input_type: ov.Type) -> None:
    """Tensor side u8 NHWC BGR crops; model side the preset's layout, channel order, mean and scale."""
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
        ColorFormat.BGR
    )
    ppp.input().model().set_layout(ov.Layout(preprocessing.layout))
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


def _ends_in_softmax(output: ov.Output) -> bool:
    """Whether the output is a Softmax, possibly behind reshapes or a quantisation step."""
    node = output.get_node().input_value(0).get_node()
    while node.get_type_name() in _PASS_THROUGH_OPS:
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Softmax"
