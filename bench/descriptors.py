"""The study behind the embedding's design: which pooling of ResNet-50's last conv block, and
whether a whitening learned on other photos helps, on the near-duplicate benchmark.

    python -m bench.descriptors [--indexed 250] [--distractors 150] [--precision auto]

Outside Flink, to try descriptors the model file does not have: the converted ResNet-50 with the
feature map of the preset's embedding layer pooled four ways as extra outputs (average = the
network's own, GeM p=3 and p=4, max), fed the same crops as the UDF (``udfs.preprocess``, the
host-side reference of the in-graph preprocessing). Whitenings are learned on the benchmark's
held-out photos (never stored, never queried) and their altered copies:

* PCA whitening: centre, rotate to the principal axes, divide by sqrt(eigenvalue + 0.1 x mean
  eigenvalue) (shrinkage: the held-out set has fewer vectors than dimensions), all 2048 kept;
* learned whitening ("Lw", Radenovic et al.): whiten the differences of matching pairs (a photo
  and its altered copies), then rotate to the principal axes of the non-matching spread.

Prints recall@1 / recall above every distractor, overall and per alteration kind (Markdown).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import reference_input
from bench.near_duplicates import (
    ALTERATIONS,
    SEED,
    Benchmark,
    Split,
    cosine_scores,
    recall,
    split_photos,
    write_benchmark,
)

POOLINGS = ("average", "gem3", "gem4", "max")
SHRINKAGE = 0.1


def pooled_features(files: list[Path], precision: str) -> dict[str, np.ndarray]:
    """Every file's feature map pooled each way of ``POOLINGS``: name -> (files, 2048)."""
    import openvino as ov
    import openvino.opset13 as ops

    from udfs.config import load_config
    from udfs.embedding_head import tensor_named
    from udfs.models import resolve_model_path
    from udfs.preprocess import decode_image, needed_shorter_side, resize_and_crop

    config = load_config({})
    model = ov.Core().read_model(resolve_model_path(config))
    features = tensor_named(model, config.preset.embedding.layer)
    positive = ops.maximum(features, ops.constant(np.float32(1e-6)))

    def gem(power: float) -> ov.Output:
        mean = ops.reduce_mean(ops.power(positive, ops.constant(np.float32(power))), [2, 3], False)
        return ops.power(mean, ops.constant(np.float32(1 / power))).output(0)

    outputs = {"average": ops.reduce_mean(features, [2, 3], False).output(0), "gem3": gem(3.0), "gem4": gem(4.0),
               "max": ops.reduce_max(features, [2, 3], False).output(0)}
    study = ov.Model([ops.result(output) for output in outputs.values()], model.get_parameters(), "descriptors")
    settings = {} if precision == "auto" else {"INFERENCE_PRECISION_HINT": precision}
    compiled = ov.Core().compile_model(study, "CPU", settings)
    request = compiled.create_infer_request()
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    for path in files:
        image = decode_image(path.read_bytes(), config.max_pixels, config.max_image_bytes,
                             needed_shorter_side(config.preprocessing))  # as the classifier decodes
        request.infer({0: reference_input(resize_and_crop(image, config.preprocessing), config.preprocessing)})
        for index, name in enumerate(outputs):
            pooled[name].append(request.get_output_tensor(index).data[0].copy())
    return {name: np.stack(vectors).astype(np.float64) for name, vectors in pooled.items()}


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def pca_whitening(learn: np.ndarray):
    mean = learn.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov((learn - mean).T))
    projection = vectors / np.sqrt(np.maximum(values, 0) + SHRINKAGE * values.mean())
    return lambda x: unit((x - mean) @ projection)


def learned_whitening(learn: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]):
    mean = learn.mean(axis=0)
    differences = pairs[0] - pairs[1]
    within = differences.T @ differences / len(differences)
    within += SHRINKAGE * np.trace(within) / len(within) * np.eye(len(within))
    values, vectors = np.linalg.eigh(within)
    whiten = vectors @ np.diag(values ** -0.5) @ vectors.T
    _, rotation = np.linalg.eigh(np.cov(((learn - mean) @ whiten).T))
    projection = whiten @ rotation
    return lambda x: unit((x - mean) @ projection)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.descriptors", description=__doc__.splitlines()[0])
    parser.add_argument("--indexed", type=int, default=250)
    parser.add_argument("--distractors", type=int, default=150)
    parser.add_argument("--precision", default="auto", choices=("auto", "f32", "bf16"))
    args = parser.parse_args(argv)
    split = split_photos(args.indexed, args.distractors, SEED)
    with tempfile.TemporaryDirectory(prefix="descriptors.") as temp:
        benchmark = write_benchmark(split, Path(temp) / "benchmark")
        held: Benchmark = write_benchmark(Split(split.held_out, (), ()), Path(temp) / "held_out")
        learn_files = [*held.indexed, *(path for path, _, _ in held.queries)]
        files = [*benchmark.files, *learn_files]
        print(f"{len(benchmark.files)} benchmark files, {len(learn_files)} held-out files for learning",
              file=sys.stderr)
        features = pooled_features(files, args.precision)
    row = {path: i for i, path in enumerate(files)}
    kinds = [kind for _, kind, _ in benchmark.queries]
    originals = np.array([original for _, _, original in benchmark.queries])
    print("| descriptor | recall@1 | recall, no distractor | " + " | ".join(ALTERATIONS) + " |")
    print("|---|---|---|" + "---|" * len(ALTERATIONS))
    for pooling, vectors in features.items():
        vectors = unit(vectors)

        def take(paths):
            return vectors[[row[path] for path in paths]]

        learn = take(learn_files)
        pairs = (take([held.indexed[n] for _, _, n in held.queries]), take([path for path, _, _ in held.queries]))
        variants = {pooling: lambda x: x, f"{pooling} + PCA whitening": pca_whitening(learn),
                    f"{pooling} + learned whitening": learned_whitening(learn, pairs)}
        for name, transform in variants.items():
            scores = cosine_scores(transform(take(benchmark.indexed)),
                                   transform(take([path for path, _, _ in benchmark.queries])),
                                   transform(take(benchmark.distractors)))
            _, result = recall(scores, originals, kinds)
            per_kind = " | ".join(f"{result[kind].at_threshold:.2f}" for kind in ALTERATIONS)
            print(f"| {name} | {result['all'].at_1:.3f} | {result['all'].at_threshold:.3f} | {per_kind} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
