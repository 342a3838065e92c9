"""What the image embedding costs classification, measured in pairs on a shared machine.

    flock /tmp/flink-image-udfs-bench.lock python -m bench.embedding_cost [--images 400] [--rounds 4]
                                                                         [--only ceiling,flink] [-D key=value ...]

``bench.run`` measures each approach in its own process, one after the other; on a machine whose
load moves by tens of percent within minutes that cannot resolve a few percent. Here the variants
alternate within one process, round by round, and the report gives the median of each round's
ratios (images/s, and CPU ms per image of all our processes, which other load disturbs less) to
the variant it is compared with:

* **ceiling** (OpenVINO on pre-decoded crops, as ``bench.run``'s row 1), three variants of one
  ``ClassificationRuntime`` call: the model file without the embedding output (classification as
  it was before embeddings; a copy of the model with that output removed), with the output
  computed but not read (what ``classify_resnet50`` pays by default), and read (``embed_image``,
  ``classify.embedding``);
* **flink** (the SQL job into a blackhole sink, one ``TableEnvironment``, the same images table):
  ``classify_resnet50`` without and with ``classify.embedding``, and ``ML_PREDICT`` (async) whose
  OUTPUT lacks or lists ``embedding``.

Results: ``bench/results/embedding_cost[-<group>].{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping

from bench.common import (
    IMAGENET_DEV,
    RESULTS,
    add_model_arguments,
    classify_options,
    job_options,
    machine,
    make_image_dir,
    model_file,
)

Variant = Callable[[], tuple[float, float]]  # runs once: images/s, CPU ms per image


def cpu_seconds() -> float:
    """User + system CPU of this process (inference threads, loopback Python workers) and its
    children (the Flink JVM)."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def timed(images: int, run: Callable[[], None]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), cpu_seconds()
    run()
    return images / (time.perf_counter() - started), (cpu_seconds() - cpu) / images * 1000


def without_embedding_output(options: Mapping[str, str], target: Path) -> None:
    """Saves to ``target`` (IR) a copy of the model file ``options`` select with its embedding
    output removed (classification as it was before embeddings existed)."""
    import openvino as ov

    from udfs.config import load_config

    embedding = load_config(options).preset.embedding
    model = ov.Core().read_model(model_file(options))
    for result in model.get_results():
        if embedding is not None and embedding.output in result.output(0).get_names():
            model.remove_result(result)
    ov.save_model(model, target, compress_to_fp16=False)


def ceiling_variants(options: Mapping[str, str], images: int,
                     folder: Path) -> tuple[dict[str, Variant], Callable[[], None], str]:
    from udfs.classifier import ImageClassifier
    from udfs.config import load_config
    from udfs.models import int8_model_path
    from udfs.preprocess import decode_image, resize_and_crop

    config = load_config(classify_options(options))
    with_output = ImageClassifier(config)
    # The copy runs in the precision the model resolved to: under 'auto' a new file gets its own
    # measurement, which on a loaded machine can pick another precision (f32 against bf16: twice
    # the CPU per image), and the comparison would measure that instead of the output.
    pinned = classify_options(options) | {"classify.precision": with_output.precision_choice.precision}
    copy = folder / "without_embedding" / "model.xml"  # the INT8 IR's copy goes where int8 looks for it
    without_embedding_output(pinned, int8_model_path(copy) if pinned["classify.precision"] == "int8" else copy)
    without_output = ImageClassifier(load_config(pinned | {"classify.model-path": str(copy)}))
    assert without_output.precision == with_output.precision, (without_output.precision, with_output.precision)
    crops = [resize_and_crop(decode_image(p.read_bytes(), config.max_pixels), config.preprocessing)
             for p in sorted(IMAGENET_DEV.glob("*.JPEG"))]

    def run(classifier: ImageClassifier, read: bool) -> Variant:
        def once() -> tuple[float, float]:
            return timed(images, lambda: classifier._runtime.infer(
                ((i, crops[i % len(crops)]) for i in range(images)), embeddings={} if read else None))
        return once

    variants = {"no embedding output in the model": run(without_output, False),
                "embedding computed, not read": run(with_output, False),
                "embedding read": run(with_output, True)}
    for once in variants.values():
        once()  # warm up

    def close() -> None:
        with_output.close()
        without_output.close()
    return variants, close, with_output.precision


def flink_variants(options: Mapping[str, str], folder: Path) -> dict[str, Variant]:
    from pyflink.table import Schema, TableDescriptor

    from udfs import settings
    from udfs.catalog import create_images_table
    from udfs.model_provider import create_classifier_model, provider_options

    t_env = settings.configure(settings.table_environment("batch"), overrides=dict(options))
    create_images_table(t_env, folder)
    create_classifier_model(t_env, provider_options(options), name="image_classifier")
    create_classifier_model(t_env, provider_options(options), name="image_classifier_embedding", embedding=True)
    images = len(list(folder.iterdir()))
    ml_columns = "label, class_id, probability, top_labels, top_probabilities, error"
    queries = {
        "classify_resnet50": ("false", "SELECT path, classify_resnet50(image) AS p FROM images"),
        "classify_resnet50, classify.embedding = true": ("true", "SELECT path, classify_resnet50(image) AS p FROM images"),
        "ML_PREDICT async": ("false", f"SELECT path, {ml_columns} FROM ML_PREDICT(TABLE images, MODEL image_classifier, "
                                      "DESCRIPTOR(image), MAP['async', 'true', 'max-concurrent-operations', '16'])"),
        "ML_PREDICT async, OUTPUT with embedding": (
            "false", f"SELECT path, {ml_columns}, embedding FROM ML_PREDICT(TABLE images, MODEL image_classifier_embedding, "
                     "DESCRIPTOR(image), MAP['async', 'true', 'max-concurrent-operations', '16'])"),
    }

    def job(sink: str, embedding: str, query: str) -> Variant:
        schema = t_env.sql_query(query).get_resolved_schema().to_physical_row_data_type()
        t_env.create_temporary_table(sink, TableDescriptor.for_connector("blackhole").schema(
            Schema.new_builder().from_row_data_type(schema).build()).build())

        def once() -> tuple[float, float]:
            settings.set_option(t_env, "classify.embedding", embedding)
            return timed(images, lambda: t_env.execute_sql(f"INSERT INTO {sink} {query}").wait())
        return once

    variants = {name: job(f"sink_{i}", embedding, query) for i, (name, (embedding, query)) in enumerate(queries.items())}
    for once in variants.values():
        once()  # warm up: class loading, the JIT, the compiled-model cache
    return variants


def measure(variants: Mapping[str, Variant], baselines: Mapping[str, str], rounds: int) -> dict:
    """Every variant once per round, in order; each variant's rate and CPU per image as ratios to
    its baseline's in the same round (``baselines``: variant -> the variant it is compared with)."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        for name, once in variants.items():
            rate, ms = once()
            rates[name].append(rate)
            cpu[name].append(ms)
        print(f"[embedding_cost] round {round_ + 1}: " + ", ".join(
            f"{n} {rates[n][-1]:.1f}/s {cpu[n][-1]:.1f} ms" for n in variants), file=sys.stderr, flush=True)
    result = {}
    for name in variants:
        base = baselines[name]
        rate_ratios = [v / b for v, b in zip(rates[name], rates[base])]
        cpu_ratios = [v / b for v, b in zip(cpu[name], cpu[base])]
        result[name] = {"baseline": base, "rates": rates[name], "cpu_ms_per_image": cpu[name],
                        "median_rate": statistics.median(rates[name]),
                        "median_cpu_ms": statistics.median(cpu[name]),
                        "rate_ratios": rate_ratios, "median_rate_ratio": statistics.median(rate_ratios),
                        "cpu_ratios": cpu_ratios, "median_cpu_ratio": statistics.median(cpu_ratios)}
    return result


def markdown(report: dict) -> str:
    lines = [f"Embedding cost {report['timestamp']}: precision {report['precision']}, {report['images']} images per "
             f"run, {report['rounds']} rounds (medians; ratios are per round, to the variant compared with). "
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, ISA "
             f"{', '.join(report['machine']['isa'])}; 1-min load before/after {report['load'][0]:.1f}/{report['load'][1]:.1f}.",
             f"Command: `{report['command']}`", "",
             "| group | variant | compared with | images/s | x rate (median of rounds) | CPU ms/image | x CPU (median of rounds) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for group, results in report["groups"].items():
        for name, r in results.items():
            base = "-" if r["baseline"] == name else r["baseline"]
            lines.append(f"| {group} | {name} | {base} | {r['median_rate']:.1f} | {r['median_rate_ratio']:.3f} | "
                         f"{r['median_cpu_ms']:.1f} | {r['median_cpu_ratio']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embedding_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="images per run")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--only", default="ceiling,flink", help="ceiling, flink or both")
    add_model_arguments(parser, "Flink or classify.* option (overrides conf/job.yaml)")
    args = parser.parse_args(argv)
    conf_options, overrides = job_options(args)
    options = conf_options | overrides
    load_before = os.getloadavg()[0]
    groups, precision = {}, None
    with tempfile.TemporaryDirectory(prefix="embedding-cost-") as temp:
        temp = Path(temp)
        if "ceiling" in args.only:
            variants, close, precision = ceiling_variants(options, args.images, temp)
            first = next(iter(variants))
            groups["ceiling"] = measure(variants, dict.fromkeys(variants, first), args.rounds)
            close()
        if "flink" in args.only:
            variants = flink_variants(options, make_image_dir(temp, args.images))
            udf, udf_embedding, ml, ml_embedding = variants
            groups["flink"] = measure(variants, {udf: udf, udf_embedding: udf, ml: ml, ml_embedding: ml}, args.rounds)
    report = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "command": " ".join(["python -m bench.embedding_cost", *(argv if argv is not None else sys.argv[1:])]),
              "machine": machine(), "precision": precision or options.get("classify.precision", "auto"),
              "images": args.images, "rounds": args.rounds, "options": options,
              "load": [load_before, os.getloadavg()[0]], "groups": groups}
    table = markdown(report)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "embedding_cost" + ("" if set(groups) == {"ceiling", "flink"} else "-" + "-".join(groups))
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / f"{stem}.md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
