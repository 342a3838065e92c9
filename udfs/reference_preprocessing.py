"""The in-graph preprocessing of ``udfs.runtime`` done by hand in numpy: the reference its
``PrePostProcessor`` is tested against, and the input of a model without that graph (what
bench/quantize.py feeds NNCF)."""

from __future__ import annotations

import numpy as np

from udfs.presets import Preprocessing


def reference_input(crop_bgr: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """A u8 BGR HWC crop as the model's input tensor (batch 1)."""
    pixels = crop_bgr[..., ::-1] if preprocessing.channel_order == "RGB" else crop_bgr
    pixels = pixels.astype(np.float32)
    if preprocessing.mean is not None:
        pixels = pixels - np.asarray(preprocessing.mean, np.float32)
    if preprocessing.scale is not None:
        pixels = pixels / np.asarray(preprocessing.scale, np.float32)
    if preprocessing.layout == "NCHW":
        pixels = pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels[np.newaxis])
