"""The image embedding as a second output of a converted model (see ``presets.Embedding``).

Built into the graph at conversion time (``python -m udfs.models fetch``), so that every runtime
reading the model file, the pandas UDF and the Java provider alike, computes the same descriptor
in the same inference as the class scores:

1. find the tensor of the Keras layer the preset names (``udfs.tfjs`` names every layer's output;
   4-D tensors are channels-first inside the converted graph);
2. pool it over height and width: global average, or generalised mean (GeM,
   ``mean(max(x, eps) ** p) ** (1 / p)``: p = 1 is the average, large p the maximum);
3. divide by its L2 norm, so that a dot product of two embeddings is their cosine similarity;
4. add it as a model output named after the preset (``embedding``).
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from udfs.presets import Embedding

# Below this a feature is treated as 0 before GeM's power (ReLU outputs are >= 0 already; the
# clamp keeps x ** (1/p) away from 0 ** fractional).
_GEM_FLOOR = 1e-6
# NormalizeL2's epsilon, added to the squared norm: an all-zero vector stays all zeros.
_NORM_EPSILON = 1e-12


def add_embedding_output(model: ov.Model, embedding: Embedding) -> ov.Model:
    """``model`` with one more output: the L2-normalised, pooled ``embedding.layer``."""
    features = tensor_named(model, embedding.layer)
    shape = features.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4 or shape[1] != embedding.size:
        raise ValueError(
            f"embedding: layer '{embedding.layer}' has shape {shape}, expected N x {embedding.size} x H x W"
        )
    if embedding.pooling == "gem":
        power = np.float32(embedding.gem_power)
        clamped = ops.maximum(features, ops.constant(np.float32(_GEM_FLOOR)))
        mean = ops.reduce_mean(ops.power(clamped, ops.constant(power)), [2, 3], keep_dims=False)
        pooled = ops.power(mean, ops.constant(np.float32(1.0) / power))
    else:
        pooled = ops.reduce_mean(features, [2, 3], keep_dims=False)
    normalised = ops.normalize_l2(pooled, ops.constant(np.array([1], np.int64)), _NORM_EPSILON, "add")
    result = ops.result(normalised)
    result.output(0).get_tensor().set_names({embedding.output})
    model.add_results([result])
    return model


def tensor_named(model: ov.Model, name: str) -> ov.Output:
    for node in model.get_ordered_ops():
        for output in node.outputs():
            if name in output.get_names():
                return output
    raise ValueError(f"embedding: the model has no tensor named '{name}'")
