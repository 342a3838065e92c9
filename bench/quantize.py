"""INT8 against float: quantize a preset's model, then top-1/top-5 and speed at f32, bf16 and int8.

    python -m bench.quantize [--model resnet50] [--model-path FILE] [--calibration DIR] [--images 300]
                             [--no-quantize]

1. ``udfs.quantize`` (what ``python -m udfs.models quantize`` runs) makes the INT8 IR beside the
   float model, calibrated on ``--images`` files of ``--calibration`` (default: the 500
   imagenet-dev photos, which are also the ones scored: say so when quoting the numbers);
   ``--no-quantize`` uses the INT8 IR already there;
2. for f32, bf16 and int8 (``classify.precision``): top-1/top-5 on the 500 imagenet-dev photos
   (ground truth from the file names) with the classifier, images/s on pre-decoded crops
   (ceiling) and of ``classify`` on the encoded photos (one thread).

Needs NNCF (``pip install -e .[int8]``). A model in a read-only folder (``../shared``): copy it
somewhere writable and pass ``--model-path``, as the INT8 IR is written beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import IMAGENET_DEV, RESULTS, imagenet_truth, machine, model_options
from udfs.presets import PRESETS


def evaluate(options: dict[str, str], files: list[Path], repeats: int = 3) -> dict:
    from udfs.classifier import ImageClassifier, prepare_crop
    from udfs.config import load_config

    config = load_config(options)
    with ImageClassifier(config) as classifier:
        data = [f.read_bytes() for f in files]
        predictions = classifier.classify(data)
        truth = imagenet_truth()
        top1 = np.mean([p.class_id == truth[f.name] for f, p in zip(files, predictions)])
        top5 = np.mean([truth[f.name] in [c for _, c, _ in p.top_k] for f, p in zip(files, predictions)])
        runtime = classifier._runtime
        crops = [prepare_crop(d, config, None) for d in data]
        runtime.infer(enumerate(crops[:50]))
        rates = []
        for _ in range(repeats):
            started = time.perf_counter()
            runtime.infer((i, crops[i % len(crops)]) for i in range(1000))
            rates.append(1000 / (time.perf_counter() - started))
        started = time.perf_counter()
        classifier.classify(data)
        tight = len(data) / (time.perf_counter() - started)
        return {"precision": classifier.precision, "top1": float(top1), "top5": float(top5),
                "ceiling_images_per_s": float(np.median(rates)), "tight_loop_images_per_s": tight}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50", choices=sorted(n for n, e in PRESETS.items() if e.offers_int8))
    parser.add_argument("--model-path", type=Path)
    parser.add_argument("--calibration", type=Path, default=IMAGENET_DEV)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--no-quantize", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "int8")
    args = parser.parse_args()

    from udfs.config import load_config
    from udfs.quantize import quantize

    base = model_options(args.model, args.model_path) | {"classify.cache-dir": ""}
    seconds = None
    if not args.no_quantize:
        started = time.perf_counter()
        quantize(load_config(base), args.calibration, images=args.images)
        seconds = time.perf_counter() - started
    files = sorted(IMAGENET_DEV.glob("*.JPEG"))
    results = {precision: evaluate(base | {"classify.precision": precision}, files)
               for precision in ("f32", "bf16", "int8")}
    m = machine()
    lines = [f"{args.model}: INT8 by NNCF on {args.images} images of {args.calibration}"
             + (f", quantized in {seconds:.0f} s" if seconds else "")
             + f"; {m['cpu']}, {m['cores']} cores, ISA {', '.join(m['isa'])}, load {m['load_avg_at_start'][0]:.1f}",
             "", "| precision | top-1 | top-5 | ceiling images/s | tight loop images/s (1 thread) |",
             "|---|---:|---:|---:|---:|"]
    for precision, r in results.items():
        lines.append(f"| {precision} | {r['top1']:.3f} | {r['top5']:.3f} | {r['ceiling_images_per_s']:.1f} | "
                     f"{r['tight_loop_images_per_s']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{args.model}_int8.md").write_text(text)
    (args.output / f"{args.model}_int8.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
