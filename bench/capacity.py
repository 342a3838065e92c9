"""The capacity table of deploy/README.md: images/s per core for each model and precision, from the
CPU time a Flink batch job spends per image in steady state (``cpu_ms_per_image`` of
``bench.run``'s flink-batch row: client, JVM and Python workers together).

    python -m bench.capacity run [--models resnet50,efficientnet_lite0,mobilenet_v2_quant]
                                 [--precisions f32,bf16,int8] [--images 800] [--repeats 2]
    python -m bench.capacity table bench/results/*capacity*.json

``run`` runs ``python -m bench.run --only tight,flink-batch`` once per model and precision (tagged
``capacity-<model>-<precision>``; int8 for the presets that offer it, with their INT8 model made by
``python -m udfs.models quantize``), then prints the table; ``table`` prints it from result files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench.common import RESULTS, model_file, model_options


def row_of(result: dict) -> dict:
    meta = result["meta"]
    rows = {row["key"]: row for row in result["rows"]}
    flink, tight = rows["flink-batch"], rows.get("tight", {})
    return {
        "model": meta["model"],
        "precision": meta.get("precision_used") or meta["precision_requested"],
        "flink_ms": flink["cpu_ms_per_image"],
        "tight_ms": tight.get("cpu_ms_per_image"),
        "date": meta["timestamp"][:10],
        "load": meta["machine"]["load_avg_at_start"][0],
    }


def table(results: list[dict]) -> str:
    lines = [
        "| model | precision | CPU ms/image, Flink job | images/s per core | CPU ms/image, Python loop | measured (1-min load) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in sorted((row_of(result) for result in results), key=lambda r: (r["model"], r["precision"])):
        tight = f"{r['tight_ms']:.1f}" if r["tight_ms"] else "-"
        lines.append(f"| {r['model']} | {r['precision']} | {r['flink_ms']:.1f} | {1000 / r['flink_ms']:.0f} | "
                     f"{tight} | {r['date']} ({r['load']:.0f}) |")
    machine = results[0]["meta"]["machine"]
    lines.append(f"\nMachine: {machine['cpu']}, {machine['cores']} cores, ISA {', '.join(machine['isa'])}; "
                 f"{results[0]['meta']['images']} imagenet-dev JPEGs per job, median of "
                 f"{results[0]['meta']['repeats']} repeats (`python -m bench.capacity`).")
    return "\n".join(lines)


def run(models: list[str], precisions: list[str], images: int, repeats: int, out: Path) -> list[dict]:
    results = []
    for model in models:
        for precision in precisions:
            if precision == "int8":
                try:
                    model_file({**model_options(model), "classify.precision": "int8"})
                except ValueError as error:  # not offered, or its INT8 model not made
                    print(f"capacity: {model} int8 skipped: {error}", file=sys.stderr)
                    continue
            tag = f"capacity-{model}-{precision}"
            subprocess.run([sys.executable, "-m", "bench.run", "--images", str(images), "--repeats", str(repeats),
                            "--only", "tight,flink-batch", "--model", model, "--precision", precision,
                            "--tag", tag, "--out", str(out)], check=True)
            results.append(json.loads((out / "latest.json").read_text()))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="measure every model and precision, print the table")
    run_cmd.add_argument("--models", default="resnet50,efficientnet_lite0,mobilenet_v2_quant")
    run_cmd.add_argument("--precisions", default="f32,bf16,int8")
    run_cmd.add_argument("--images", type=int, default=800)
    run_cmd.add_argument("--repeats", type=int, default=2)
    run_cmd.add_argument("--out", type=Path, default=RESULTS)
    table_cmd = commands.add_parser("table", help="print the table from bench.run result files")
    table_cmd.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        results = run(args.models.split(","), args.precisions.split(","), args.images, args.repeats, args.out)
    else:
        results = [json.loads(path.read_text()) for path in args.results]
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
