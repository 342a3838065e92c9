"""Convert a TensorFlow.js *layers* model (``model.json`` + weight shards) to an OpenVINO model.

OpenVINO reads ONNX, TFLite, TensorFlow and PaddlePaddle, but not TF.js. A layers model is a Keras
functional graph in JSON plus raw little-endian weights, so the graph is rebuilt here with
OpenVINO's opset API, layer by layer, in topological order:

1. read the weights: the shards concatenated, cut into tensors in ``weightsManifest`` order;
2. walk ``modelTopology``: each layer type has a builder in ``LAYER_BUILDERS``; an unknown type
   fails naming it and the types supported;
3. Keras tensors are channels-last; inside the graph 4-D tensors are kept channels-first (the
   layout OpenVINO's convolutions take), with a transpose at the input and, for a 4-D output, at
   the output, so the converted model has the Keras model's input and output shapes;
4. a BatchNormalization that is the only consumer of a Conv2D is folded into its kernel and bias;
5. every layer's output tensor carries the layer's name (a folded Conv2D's, its batch norm's), so a
   head can be attached to any layer later (``udfs.embedding_head``).

Only numpy and openvino are needed; TensorFlow is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import openvino as ov
import openvino.opset13 as ops

ACTIVATIONS: Mapping[str, Callable[[ov.Output, int], ov.Output]] = {
    "linear": lambda x, axis: x,
    "relu": lambda x, axis: ops.relu(x).output(0),
    "sigmoid": lambda x, axis: ops.sigmoid(x).output(0),
    "tanh": lambda x, axis: ops.tanh(x).output(0),
    "softmax": lambda x, axis: ops.softmax(x, axis).output(0),
}
_TO_CHANNELS_FIRST = [0, 3, 1, 2]
_TO_CHANNELS_LAST = [0, 2, 3, 1]


class ConversionError(ValueError):
    """The model uses something this converter does not support, or its files are inconsistent."""


@dataclass(frozen=True)
class Tensor:
    """A layer output: 4-D outputs are channels-first inside the graph (NCHW)."""

    output: ov.Output

    @property
    def rank(self) -> int:
        return self.output.get_partial_shape().rank.get_length()

    def channel_axis(self) -> int:
        """The axis Keras calls the last one (channels for images)."""
        return 1 if self.rank == 4 else self.rank - 1

    def keras_order(self) -> ov.Output:
        """The tensor in Keras' own (channels-last) order."""
        return ops.transpose(self.output, _TO_CHANNELS_LAST).output(0) if self.rank == 4 else self.output


def read_model_json(model_json: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(model_json).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConversionError(f"cannot read TF.js model '{model_json}': {error}") from None
    if document.get("format") != "layers-model" or "modelTopology" not in document:
        raise ConversionError(
            f"'{model_json}' is not a TF.js layers model (format {document.get('format')!r}); "
            "graph models are not supported"
        )
    return document


def read_weights(model_dir: Path, manifest: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Weights by name, cut from the shards of each manifest group in order."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join((Path(model_dir) / path).read_bytes() for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            if spec.get("dtype") != "float32" or "quantization" in spec:
                raise ConversionError(f"weight '{spec['name']}': only unquantised float32 weights are supported")
            count = int(np.prod(spec["shape"], dtype=np.int64))
            end = offset + 4 * count
            if end > len(data):
                raise ConversionError(f"weight '{spec['name']}': the shards {group['paths']} end before it does")
            weights[spec["name"]] = np.frombuffer(data, "<f4", count, offset).reshape(spec["shape"])
            offset = end
        if offset != len(data):
            raise ConversionError(f"shards {group['paths']}: {len(data) - offset} bytes beyond the last weight")
    return weights


def convert(model_json: Path) -> ov.Model:
    """The TF.js layers model at ``model_json`` (weights beside it) as an OpenVINO model."""
    document = read_model_json(model_json)
    config = document["modelTopology"].get("model_config", document["modelTopology"])
    if config.get("class_name") not in ("Model", "Functional", "Sequential"):
        raise ConversionError(f"unsupported model class {config.get('class_name')!r}")
    weights = read_weights(Path(model_json).parent, document.get("weightsManifest", []))
    return _GraphBuilder(config["config"], weights).build()


class _GraphBuilder:
    def __init__(self, config: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> None:
        self.layers = config["layers"]
        self.config = config
        self.weights = weights
        self.tensors: dict[str, Tensor] = {}
        self.parameters: list[ov.Node] = []
        unknown = sorted({layer["class_name"] for layer in self.layers} - set(SUPPORTED_LAYERS))
        if unknown:
            raise ConversionError(
                f"unsupported layer type(s) {', '.join(unknown)}; supported: {', '.join(SUPPORTED_LAYERS)}"
            )
        consumers: dict[str, int] = {}
        for layer in self.layers:
            for name in self._inbound_names(layer):
                consumers[name] = consumers.get(name, 0) + 1
        by_name = {layer["name"]: layer for layer in self.layers}
        # BatchNormalization name -> the Conv2D folded into it (the BN is that conv's only consumer)
        self.folded: dict[str, Mapping[str, Any]] = {}
        for layer in self.layers:
            if layer["class_name"] == "BatchNormalization":
                (source,) = self._inbound_names(layer)
                conv = by_name[source]
                if (conv["class_name"] == "Conv2D" and consumers[source] == 1
                        and conv["config"].get("activation", "linear") == "linear"):
                    self.folded[layer["name"]] = conv
        self._folded_convs = {conv["name"] for conv in self.folded.values()}

    def build(self) -> ov.Model:
        for layer in self.layers:  # layers are listed in topological order
            if layer["name"] in self._folded_convs:
                continue  # built with its batch norm
            if layer["name"] in self.folded:
                tensor = self._conv_with_batch_norm(self.folded[layer["name"]], layer)
            else:
                inputs = [self.tensors[name] for name in self._inbound_names(layer)]
                tensor = LAYER_BUILDERS[layer["class_name"]](self, layer, inputs)
                if layer["class_name"] != "InputLayer":  # the input keeps its name on the Parameter
                    # heads added after conversion (udfs.embedding_head) find layers by name
                    tensor.output.get_tensor().add_names({layer["name"]})
            self.tensors[layer["name"]] = tensor
        outputs = []
        for name, *_ in self.config["output_layers"]:
            result = ops.result(self.tensors[name].keras_order())
            result.output(0).get_tensor().set_names({name})
            outputs.append(result)
        return ov.Model(outputs, self.parameters, self.config.get("name", "tfjs_model"))

    @staticmethod
    def _inbound_names(layer: Mapping[str, Any]) -> list[str]:
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise ConversionError(f"layer '{layer['name']}': shared layers (called more than once) are not supported")
        return [entry[0] for entry in nodes[0]] if nodes else []

    def weight(self, layer: Mapping[str, Any], name: str) -> np.ndarray:
        key = f"{layer['name']}/{name}"
        if key not in self.weights:
            raise ConversionError(f"layer '{layer['name']}': weight '{key}' missing from the weights manifest")
        return self.weights[key]

    def _conv_with_batch_norm(self, conv: Mapping[str, Any], batch_norm: Mapping[str, Any]) -> Tensor:
        """``conv -> batch norm`` as one convolution: the BN's scale and shift folded into the
        conv's kernel and bias (per output channel)."""
        scale, shift = _batch_norm_affine(self, batch_norm)
        kernel, bias = _conv_weights(self, conv)
        inputs = [self.tensors[name] for name in self._inbound_names(conv)]
        return _conv2d(self, conv, inputs, kernel * scale, bias * scale + shift)


def _require_channels_last(layer: Mapping[str, Any]) -> None:
    if layer["config"].get("data_format", "channels_last") != "channels_last":
        raise ConversionError(f"layer '{layer['name']}': only data_format channels_last is supported")


def _auto_pad(layer: Mapping[str, Any]) -> str:
    padding = layer["config"].get("padding", "valid")
    if padding not in ("valid", "same"):
        raise ConversionError(f"layer '{layer['name']}': padding {padding!r} is not supported")
    return "same_upper" if padding == "same" else "valid"  # TF's SAME puts the odd pixel at the end


def _pair(value: Any) -> list[int]:
    return [int(value)] * 2 if isinstance(value, int) else [int(v) for v in value]


def _activate(layer: Mapping[str, Any], tensor: Tensor) -> Tensor:
    name = layer["config"].get("activation", "linear")
    if name not in ACTIVATIONS:
        raise ConversionError(
            f"layer '{layer['name']}': activation {name!r} is not supported; supported: {', '.join(ACTIVATIONS)}"
        )
    return Tensor(ACTIVATIONS[name](tensor.output, tensor.channel_axis()))


def _input_layer(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    shape = [-1 if d is None else int(d) for d in layer["config"]["batch_input_shape"]]
    parameter = ops.parameter(ov.PartialShape(shape), ov.Type.f32, name=layer["name"])
    parameter.output(0).get_tensor().set_names({layer["name"]})
    builder.parameters.append(parameter)
    output = parameter.output(0)
    if len(shape) == 4:
        output = ops.transpose(output, _TO_CHANNELS_FIRST).output(0)
    return Tensor(output)


def _zero_padding(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    _require_channels_last(layer)
    padding = layer["config"]["padding"]  # n, (h, w) or ((top, bottom), (left, right))
    if isinstance(padding, int):
        padding = (padding, padding)
    (top, bottom), (left, right) = ((p, p) if isinstance(p, int) else p for p in padding)
    pads_begin, pads_end = [0, 0, top, left], [0, 0, bottom, right]
    return Tensor(ops.pad(inputs[0].output, pads_begin, pads_end, "constant").output(0))


def _conv_weights(builder: _GraphBuilder, layer: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    kernel = builder.weight(layer, "kernel")  # (H, W, in, out)
    if layer["config"].get("use_bias", True):
        bias = builder.weight(layer, "bias")
    else:
        bias = np.zeros(kernel.shape[-1], np.float32)
    return kernel, bias


def _conv2d(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor],
            kernel: np.ndarray | None = None, bias: np.ndarray | None = None) -> Tensor:
    _require_channels_last(layer)
    if kernel is None:
        kernel, bias = _conv_weights(builder, layer)
    config = layer["config"]
    if int(config.get("groups", 1)) != 1:
        raise ConversionError(f"layer '{layer['name']}': grouped convolutions are not supported")
    weights = ops.constant(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), np.float32))  # (out, in, H, W)
    output = ops.convolution(inputs[0].output, weights, _pair(config.get("strides", 1)), [0, 0], [0, 0],
                             _pair(config.get("dilation_rate", 1)), _auto_pad(layer))
    output = ops.add(output, ops.constant(bias.reshape(1, -1, 1, 1).astype(np.float32)))
    return _activate(layer, Tensor(output.output(0)))


def _batch_norm_affine(builder: _GraphBuilder, layer: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``gamma * (x - mean) / sqrt(var + eps) + beta`` as ``x * scale + shift``."""
    config = layer["config"]
    mean = builder.weight(layer, "moving_mean")
    variance = builder.weight(layer, "moving_variance")
    gamma = builder.weight(layer, "gamma") if config.get("scale", True) else np.ones_like(mean)
    beta = builder.weight(layer, "beta") if config.get("center", True) else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + np.float32(config.get("epsilon", 1e-3)))
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def _batch_norm(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    tensor = inputs[0]
    axis = layer["config"].get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if axis not in (-1, tensor.rank - 1):
        raise ConversionError(f"layer '{layer['name']}': only normalisation over the last axis is supported")
    scale, shift = _batch_norm_affine(builder, layer)
    shape = [1] * tensor.rank
    shape[tensor.channel_axis()] = -1
    output = ops.add(ops.multiply(tensor.output, ops.constant(scale.reshape(shape))), ops.constant(shift.reshape(shape)))
    return Tensor(output.output(0))


def _activation(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    return _activate(layer, inputs[0])


def _pooling(kind: str) -> Callable[[_GraphBuilder, Mapping[str, Any], list[Tensor]], Tensor]:
    def build(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
        _require_channels_last(layer)
        config = layer["config"]
        kernel = _pair(config.get("pool_size", 2))
        strides = _pair(config.get("strides") or kernel)
        if kind == "max":
            node = ops.max_pool(inputs[0].output, strides, [1, 1], [0, 0], [0, 0], kernel, "floor", _auto_pad(layer))
        else:  # Keras averages over the pixels inside the image only
            node = ops.avg_pool(inputs[0].output, strides, [0, 0], [0, 0], kernel, True, "floor", _auto_pad(layer))
        return Tensor(node.output(0))

    return build


def _add(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    output = inputs[0].output
    for tensor in inputs[1:]:
        output = ops.add(output, tensor.output).output(0)
    return Tensor(output)


def _global_average_pooling(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    _require_channels_last(layer)
    if layer["config"].get("keepdims"):
        raise ConversionError(f"layer '{layer['name']}': keepdims is not supported")
    return Tensor(ops.reduce_mean(inputs[0].output, [2, 3], keep_dims=False).output(0))


def _flatten(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    _require_channels_last(layer)  # flattened in Keras' element order: channels last
    return Tensor(ops.reshape(inputs[0].keras_order(), [0, -1], special_zero=True).output(0))


def _dense(builder: _GraphBuilder, layer: Mapping[str, Any], inputs: list[Tensor]) -> Tensor:
    if inputs[0].rank != 2:
        raise ConversionError(f"layer '{layer['name']}': Dense on a {inputs[0].rank}-D input is not supported")
    output = ops.matmul(inputs[0].output, ops.constant(np.ascontiguousarray(builder.weight(layer, "kernel"))), False, False)
    if layer["config"].get("use_bias", True):
        output = ops.add(output, ops.constant(builder.weight(layer, "bias")))
    return _activate(layer, Tensor(output.output(0)))


LAYER_BUILDERS: Mapping[str, Callable[[_GraphBuilder, Mapping[str, Any], list[Tensor]], Tensor]] = {
    "InputLayer": _input_layer,
    "ZeroPadding2D": _zero_padding,
    "Conv2D": _conv2d,
    "BatchNormalization": _batch_norm,
    "Activation": _activation,
    "MaxPooling2D": _pooling("max"),
    "AveragePooling2D": _pooling("average"),
    "Add": _add,
    "GlobalAveragePooling2D": _global_average_pooling,
    "Flatten": _flatten,
    "Dense": _dense,
}
# Keras layer types the converter knows: a layer of any other type is refused by name.
SUPPORTED_LAYERS = tuple(LAYER_BUILDERS)
