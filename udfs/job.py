"""Table API entry point: classify a folder of images, print the predictions and write them as
JSON lines, then report the job runtime and images/s.

    python -m udfs.job --images samples/images --output out/predictions \
        -D classify.model=mobilenet_v2_quant -D classify.model-path=model.tflite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by `flink run -py udfs/job.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyflink.table import Schema, StatementSet, Table, TableDescriptor, TableEnvironment
from pyflink.table.expressions import call, col

from udfs import settings
from udfs.catalog import create_images_table
from udfs.config_file import parse_key_values
from udfs.failures import failure_message
from udfs.functions import RESULT_COLUMNS
from udfs.progress import LOG_INTERVAL, STALL_NOTICE, exit_status_after_ctrl_c, wait_for_job


def classify_images(t_env: TableEnvironment, images: str) -> Table:
    """``path`` plus the flattened prediction of every image in the ``images`` table."""
    prediction = call("classify_resnet50", col("image"))
    return t_env.from_path(images).select(
        col("path"), *(prediction.get(name).alias(name) for name in RESULT_COLUMNS)
    )


def add_sinks(t_env: TableEnvironment, predictions: Table, output: str, print_rows: bool) -> StatementSet:
    """JSON lines under ``output`` and, if asked, every row on stdout; one job, one inference."""
    statements = t_env.create_statement_set()
    schema = Schema.new_builder().from_resolved_schema(predictions.get_resolved_schema()).build()
    statements.add_insert(
        TableDescriptor.for_connector("filesystem").schema(schema).option("path", output).format("json").build(),
        predictions,
    )
    if print_rows:
        statements.add_insert(TableDescriptor.for_connector("print").schema(schema).build(), predictions)
    return statements


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m udfs.job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, type=Path, help="folder of image files (read recursively)")
    parser.add_argument("--output", required=True, type=Path, help="folder for the JSON-lines predictions")
    parser.add_argument("--mode", choices=settings.MODES, default="batch")
    parser.add_argument("--monitor-interval", help="streaming: keep watching --images, e.g. '2 s'")
    parser.add_argument("--parallelism", type=int, help="parallelism.default (default: number of cores)")
    parser.add_argument("--no-print", action="store_true", help="do not print each prediction")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="do not show the progress of a batch job")
    parser.add_argument("--progress-interval", type=float, default=LOG_INTERVAL, metavar="SECONDS",
                        help="seconds between progress lines when stderr is not a terminal (default %(default).0f)")
    parser.add_argument("--stall-notice", type=float, default=STALL_NOTICE, metavar="SECONDS",
                        help="say so when no image was classified for this long while rows wait "
                             "(default %(default).0f; 0: never)")
    parser.add_argument("--conf", type=Path, default=settings.DEFAULT_CONF, help="settings file")
    parser.add_argument("-D", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="a Flink or classify.* option (python -m udfs.config lists the latter)")
    args = parser.parse_args(argv)
    try:
        args.options = parse_key_values(args.options, "-D")
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.images.is_dir():
        print(f"ERROR --images: not a folder: {args.images}", file=sys.stderr)
        return 2
    overrides = dict(args.options)
    if args.parallelism:
        overrides["parallelism.default"] = str(args.parallelism)
    streaming = args.mode == "streaming"
    try:
        t_env = settings.configure(settings.table_environment(args.mode), args.conf, overrides)
    except ValueError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 2
    create_images_table(t_env, args.images.resolve(), monitor_interval=args.monitor_interval if streaming else None)
    statements = add_sinks(t_env, classify_images(t_env, "images"), str(args.output.resolve()), not args.no_print)

    try:
        line = wait_for_job(t_env, statements.execute(), show_progress=args.progress and not streaming,
                            log_interval=args.progress_interval, stall_notice=args.stall_notice or None)
    except KeyboardInterrupt as interrupt:
        return exit_status_after_ctrl_c(interrupt)
    except Exception as error:
        print(f"ERROR {failure_message(error)}", file=sys.stderr)
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
