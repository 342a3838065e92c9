"""Table API entry point: classify a folder of images, print the predictions and write them as
JSON lines, then report the job runtime and images/s.

    python -m udfs.job --images samples/images --output out/predictions \
        -D classify.model=mobilenet_v2_quant -D classify.model-path=model.tflite
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file by `flink run -py udfs/job.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyflink.table import EnvironmentSettings, Schema, StatementSet, Table, TableDescriptor, TableEnvironment
from pyflink.table.expressions import call, col

from udfs import settings
from udfs.catalog import create_images_table
from udfs.functions import RESULT_COLUMNS


def classify_images(t_env: TableEnvironment, images: str) -> Table:
    """``path`` plus the flattened prediction of every image in the ``images`` table."""
    prediction = call("classify_resnet50", col("image"))
    return t_env.from_path(images).select(
        col("path"), *(prediction.get(name).alias(name) for name in RESULT_COLUMNS)
    )


def add_sinks(t_env: TableEnvironment, predictions: Table, output: str, print_rows: bool) -> StatementSet:
    """JSON lines under ``output`` and, if asked, every row on stdout; one job, one inference."""
    statements = t_env.create_statement_set()
    schema = Schema.new_builder().from_row_data_type(predictions.get_schema().to_row_data_type()).build()
    statements.add_insert(
        TableDescriptor.for_connector("filesystem").schema(schema).option("path", output).format("json").build(),
        predictions,
    )
    if print_rows:
        statements.add_insert(TableDescriptor.for_connector("print").schema(schema).build(), predictions)
    return statements


def count_files(folder: Path) -> int:
    """Files the filesystem source will read (it skips names starting with '.' or '_')."""
    return sum(
        1
        for root, dirs, files in os.walk(folder)
        for name in files
        if not name.startswith((".", "_")) and not any(part.startswith((".", "_")) for part in Path(root).relative_to(folder).parts)
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m udfs.job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, type=Path, help="folder of image files (read recursively)")
    parser.add_argument("--output", required=True, type=Path, help="folder for the JSON-lines predictions")
    parser.add_argument("--mode", choices=("batch", "streaming"), default="batch")
    parser.add_argument("--monitor-interval", help="streaming: keep watching --images, e.g. '2 s'")
    parser.add_argument("--parallelism", type=int, help="parallelism.default (default: number of cores)")
    parser.add_argument("--no-print", action="store_true", help="do not print each prediction")
    parser.add_argument("--conf", type=Path, default=settings.DEFAULT_CONF, help="settings file")
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="a Flink or classify.* option (python -m udfs.config lists the latter)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.images.is_dir():
        print(f"ERROR --images: not a folder: {args.images}", file=sys.stderr)
        return 2
    overrides = dict(option.split("=", 1) for option in args.options if "=" in option)
    if args.parallelism:
        overrides["parallelism.default"] = str(args.parallelism)
    streaming = args.mode == "streaming"
    env_settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
    try:
        t_env = settings.configure(TableEnvironment.create(env_settings), args.conf, overrides)
    except ValueError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 2
    create_images_table(t_env, args.images.resolve(), monitor_interval=args.monitor_interval if streaming else None)
    statements = add_sinks(t_env, classify_images(t_env, "images"), str(args.output.resolve()), not args.no_print)

    images = count_files(args.images)
    started = time.perf_counter()
    statements.execute().wait()
    runtime_ms = (time.perf_counter() - started) * 1000
    print(f"Job Runtime: {runtime_ms:.0f} ms")
    print(f"Images: {images}, {images / (runtime_ms / 1000):.1f} images/s (submit to finish, start-up included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
