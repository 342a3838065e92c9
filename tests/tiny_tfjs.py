"""A tiny TF.js layers model using every layer type ``udfs.tfjs`` supports, with random weights,
and a plain numpy implementation of the same network (channels-last, as Keras computes it) to
check the conversion against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

INPUT_SHAPE = (11, 9, 3)  # height, width, channels (odd and unequal on purpose)


def _layer(name, class_name, inbound, **config):
    nodes = [[[source, 0, 0, {}] for source in inbound]] if inbound else []
    return {"name": name, "class_name": class_name, "config": {"name": name, **config}, "inbound_nodes": nodes}


def layers() -> list[dict]:
    return [
        _layer("input", "InputLayer", [], batch_input_shape=[None, *INPUT_SHAPE], dtype="float32"),
        _layer("pad", "ZeroPadding2D", ["input"], padding=[[1, 2], [0, 3]], data_format="channels_last"),
        # strided SAME conv with an activation: the BN after it cannot be folded
        _layer("conv_a", "Conv2D", ["pad"], filters=4, kernel_size=[3, 3], strides=[2, 2], padding="same",
               dilation_rate=[1, 1], activation="relu", use_bias=True, data_format="channels_last"),
        _layer("bn_a", "BatchNormalization", ["conv_a"], axis=[3], epsilon=1e-3, center=True, scale=True),
        # linear conv without bias followed by a BN: folded into the conv
        _layer("conv_b", "Conv2D", ["bn_a"], filters=4, kernel_size=[1, 1], strides=[1, 1], padding="valid",
               dilation_rate=[1, 1], activation="linear", use_bias=False, data_format="channels_last"),
        _layer("bn_b", "BatchNormalization", ["conv_b"], axis=[3], epsilon=1e-3, center=False, scale=True),
        # dilated conv on the other branch
        _layer("conv_c", "Conv2D", ["bn_a"], filters=4, kernel_size=[3, 3], strides=[1, 1], padding="same",
               dilation_rate=[2, 2], activation="tanh", use_bias=True, data_format="channels_last"),
        _layer("add", "Add", ["bn_b", "conv_c", "bn_a"]),
        _layer("relu", "Activation", ["add"], activation="relu"),
        _layer("max_pool", "MaxPooling2D", ["relu"], pool_size=[2, 2], strides=[1, 1], padding="same",
               data_format="channels_last"),
        _layer("avg_pool", "AveragePooling2D", ["max_pool"], pool_size=[3, 3], strides=[2, 2], padding="same",
               data_format="channels_last"),
        _layer("gap", "GlobalAveragePooling2D", ["max_pool"], data_format="channels_last"),
        _layer("flatten", "Flatten", ["avg_pool"], data_format="channels_last"),
        _layer("probabilities", "Dense", ["flatten"], units=5, activation="softmax", use_bias=True),
        _layer("score", "Dense", ["gap"], units=2, activation="sigmoid", use_bias=False),
    ]


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    flat = 4 * 3 * 4  # avg_pool output (4 x 3 x 4) flattened
    return {
        "conv_a/kernel": normal(3, 3, 3, 4), "conv_a/bias": normal(4),
        "bn_a/gamma": normal(4), "bn_a/beta": normal(4), "bn_a/moving_mean": normal(4),
        "bn_a/moving_variance": rng.uniform(0.5, 2.0, 4).astype(np.float32),
        "conv_b/kernel": normal(1, 1, 4, 4),
        "bn_b/gamma": normal(4), "bn_b/moving_mean": normal(4),
        "bn_b/moving_variance": rng.uniform(0.5, 2.0, 4).astype(np.float32),
        "conv_c/kernel": normal(3, 3, 4, 4), "conv_c/bias": normal(4),
        "probabilities/kernel": normal(flat, 5), "probabilities/bias": normal(5),
        "score/kernel": normal(4, 2),
    }


def write_model(folder: Path, model_layers: list[dict] | None = None, seed: int = 0) -> Path:
    """model.json plus two weight shards (a tensor straddles them) in ``folder``; manifest order
    differs from layer order, as converters are free to choose it."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = dict(reversed(list(weights(seed).items())))
    blob = b"".join(array.astype("<f4").tobytes() for array in tensors.values())
    half = len(blob) // 2 + 2  # not a multiple of 4: cuts a float
    (folder / "group1-shard1of2.bin").write_bytes(blob[:half])
    (folder / "group1-shard2of2.bin").write_bytes(blob[half:])
    document = {
        "format": "layers-model",
        "generatedBy": "tests/tiny_tfjs.py",
        "modelTopology": {"model_config": {"class_name": "Model", "config": {
            "name": "tiny", "layers": model_layers or layers(),
            "input_layers": [["input", 0, 0]], "output_layers": [["probabilities", 0, 0], ["score", 0, 0]],
        }}},
        "weightsManifest": [{
            "paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
            "weights": [{"name": name, "shape": list(a.shape), "dtype": "float32"} for name, a in tensors.items()],
        }],
    }
    (folder / "model.json").write_text(json.dumps(document))
    return folder / "model.json"


# --- the same network in numpy, channels-last ------------------------------------------------------


def _same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _windows(x, kernel, stride, dilation, padding, fill):
    """(N, out_h, out_w, kh, kw, C) windows of x (N, H, W, C)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    if padding == "same":
        pads = [_same_padding(x.shape[1], kh, sh, dh), _same_padding(x.shape[2], kw, sw, dw)]
        x = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    out_h = (x.shape[1] - (kh - 1) * dh - 1) // sh + 1
    out_w = (x.shape[2] - (kw - 1) * dw - 1) // sw + 1
    windows = np.empty((x.shape[0], out_h, out_w, kh, kw, x.shape[3]), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            windows[:, i, j] = x[:, i * sh : i * sh + (kh - 1) * dh + 1 : dh, j * sw : j * sw + (kw - 1) * dw + 1 : dw]
    return windows


def _conv(x, kernel, bias, stride, dilation, padding):
    out = np.einsum("nijhwc,hwco->nijo", _windows(x, kernel.shape[:2], stride, dilation, padding, 0.0), kernel)
    return out + (0 if bias is None else bias)


def _bn(x, w, name, scale=True, center=True):
    y = (x - w[f"{name}/moving_mean"]) / np.sqrt(w[f"{name}/moving_variance"] + 1e-3)
    return y * (w[f"{name}/gamma"] if scale else 1) + (w[f"{name}/beta"] if center else 0)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Both outputs of the tiny network for ``x`` (N, H, W, C), float64."""
    w = {k: v.astype(np.float64) for k, v in weights(seed).items()}
    x = np.pad(x.astype(np.float64), [(0, 0), (1, 2), (0, 3), (0, 0)])
    a = _bn(np.maximum(_conv(x, w["conv_a/kernel"], w["conv_a/bias"], (2, 2), (1, 1), "same"), 0), w, "bn_a")
    b = _bn(_conv(a, w["conv_b/kernel"], None, (1, 1), (1, 1), "valid"), w, "bn_b", center=False)
    c = np.tanh(_conv(a, w["conv_c/kernel"], w["conv_c/bias"], (1, 1), (2, 2), "same"))
    r = np.maximum(b + c + a, 0)
    m = _windows(r, (2, 2), (1, 1), (1, 1), "same", -np.inf).max(axis=(3, 4))
    # average over the pixels inside the image only (Keras' SAME average pooling)
    ones = np.ones_like(m[..., :1])
    total = _windows(m, (3, 3), (2, 2), (1, 1), "same", 0.0).sum(axis=(3, 4))
    count = _windows(ones, (3, 3), (2, 2), (1, 1), "same", 0.0).sum(axis=(3, 4))
    avg = total / count
    probabilities = _softmax(avg.reshape(len(x), -1) @ w["probabilities/kernel"] + w["probabilities/bias"])
    score = 1 / (1 + np.exp(-(m.mean(axis=(1, 2)) @ w["score/kernel"])))
    return probabilities, score
