"""INT8 post-training quantization with NNCF, then speed and top-1 against the float model.

    python -m bench.quantize [--model efficientnet_lite0] [--calibration DIR] [--subset 300]
                             [--output bench/results/int8] [--no-eval]

1. read the preset's original model (no embedded preprocessing);
2. calibrate ``nncf.quantize`` on ``--subset`` images of ``--calibration``, each prepared exactly
   as the UDF prepares it (OpenCV decode, resize, crop, then the preset's channel order, mean,
   scale and layout, i.e. what the PrePostProcessor of ``udfs.runtime`` does in-graph);
3. save OpenVINO IR ``<output>/<model>_int8.xml`` (use it with ``classify.model-path``; the
   preset's preprocessing still applies, so nothing else changes);
4. evaluate: top-1/top-5 on the 500 imagenet-dev photos (ground truth from the file names) and
   images/s on pre-decoded crops, for the float model at f32, at the default precision and INT8.

nncf is not a project dependency; keep it out of the project venv with a venv of its own:
``python3 -m venv /tmp/nncf-venv && /tmp/nncf-venv/bin/pip install -e . nncf``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import IMAGENET_DEV, RESULTS, imagenet_truth, model_file, model_options, reference_input
from udfs.presets import PRESETS


def evaluate(options: dict[str, str], files: list[Path], repeats: int = 3) -> dict:
    from udfs.classifier import ImageClassifier
    from udfs.config import load_config
    from udfs.preprocess import decode_image, resize_and_crop

    config = load_config(options)
    with ImageClassifier(config) as classifier:
        data = [f.read_bytes() for f in files]
        predictions = classifier.classify(data)
        gt = imagenet_truth()
        top1 = np.mean([p.class_id == gt[f.name] for f, p in zip(files, predictions)])
        top5 = np.mean([gt[f.name] in [c for _, c, _ in p.top_k] for f, p in zip(files, predictions)])
        runtime = classifier._runtime
        crops = [resize_and_crop(decode_image(d, config.max_pixels), config.preprocessing) for d in data]
        runtime.infer(enumerate(crops[:50]))
        rates = []
        for _ in range(repeats):
            t = time.perf_counter()
            runtime.infer((i, crops[i % len(crops)]) for i in range(1000))
            rates.append(1000 / (time.perf_counter() - t))
        t = time.perf_counter()
        classifier.classify(data)
        tight = len(data) / (time.perf_counter() - t)
        return {"precision": classifier.precision, "top1": float(top1), "top5": float(top5),
                "ceiling_images_per_s": float(np.median(rates)), "tight_loop_images_per_s": tight}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0", choices=sorted(PRESETS))
    parser.add_argument("--model-path", type=Path)
    parser.add_argument("--calibration", type=Path, default=IMAGENET_DEV)
    parser.add_argument("--subset", type=int, default=300)
    parser.add_argument("--output", type=Path, default=RESULTS / "int8")
    parser.add_argument("--no-eval", action="store_true")
    args = parser.parse_args()

    import nncf
    import openvino as ov

    from udfs import presets
    from udfs.preprocess import decode_image, resize_and_crop

    preset = presets.get_preset(args.model)
    pre = preset.preprocessing
    source = model_file(model_options(args.model, args.model_path))
    core = ov.Core()
    model = core.read_model(source)
    shape = [1, 1, 1, 1]
    layout = ov.Layout(pre.layout)
    shape[layout.get_index_by_name("C")] = 3
    shape[layout.get_index_by_name("H")] = shape[layout.get_index_by_name("W")] = pre.crop_size
    model.reshape({model.input(): ov.PartialShape(shape)})

    calibration = sorted(p for p in args.calibration.iterdir() if p.is_file())
    rng = np.random.default_rng(0)
    calibration = [calibration[i] for i in sorted(rng.permutation(len(calibration))[: args.subset])]
    items = [reference_input(resize_and_crop(decode_image(p.read_bytes(), 50_000_000), pre), pre) for p in calibration]
    t = time.perf_counter()
    quantized = nncf.quantize(model, nncf.Dataset(items), subset_size=len(items),
                              preset=nncf.QuantizationPreset.PERFORMANCE)
    quantize_s = time.perf_counter() - t
    args.output.mkdir(parents=True, exist_ok=True)
    target = args.output / f"{args.model}_int8.xml"
    ov.save_model(quantized, target)
    print(f"saved {target} (quantized on {len(items)} images in {quantize_s:.0f} s)")
    if args.no_eval:
        return 0

    files = sorted(IMAGENET_DEV.glob("*.JPEG"))
    base = {"classify.model": args.model}
    results = {
        "float f32": evaluate({**base, "classify.model-path": str(source), "classify.precision": "f32"}, files),
        "float auto": evaluate({**base, "classify.model-path": str(source)}, files),
        "int8 (auto)": evaluate({**base, "classify.model-path": str(target)}, files),
    }
    lines = [f"INT8 PTQ of {args.model}: NNCF {nncf.__version__}, {len(items)} calibration images "
             f"from {args.calibration.name} (note: drawn from the same 500 photos that are evaluated), "
             f"quantized in {quantize_s:.0f} s",
             "", "| model | precision | top-1 | top-5 | ceiling images/s | tight loop images/s |",
             "|---|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['precision']} | {r['top1']:.3f} | {r['top5']:.3f} | "
                     f"{r['ceiling_images_per_s']:.1f} | {r['tight_loop_images_per_s']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (args.output / f"{args.model}_int8.md").write_text(text)
    (args.output / f"{args.model}_int8.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
