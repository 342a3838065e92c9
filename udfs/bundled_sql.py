"""The ``flink-image-sql`` command: ``python -m udfs.sql`` plus ``--script NAME``, which runs a
set of the SQL scripts shipped with the package (``sql/`` of a checkout, ``udfs/data/sql`` of an
installed wheel), so an install without the source tree classifies images with one command:

    IMAGES_DIR=/path/to/images OUTPUT_DIR=/tmp/predictions flink-image-sql --script classify

Every other argument is the SQL runner's (``python -m udfs.sql --help``); ``-i``/``-f`` scripts
given as well run after the named set's init scripts and before its last script.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from udfs.package_data import data_path

# name -> (init scripts, script), as in the README: the pandas UDF, or the JVM's ML_PREDICT.
SCRIPTS: dict[str, tuple[tuple[str, ...], str]] = {
    "classify": (("10_images.sql", "20_functions.sql"), "30_classify.sql"),
    "ml-predict": (("10_images.sql", "21_model.sql"), "31_ml_predict.sql"),
}


def script_dir() -> Path:
    return data_path("sql")


def script_arguments(name: str) -> list[str]:
    """The runner's ``-i``/``-f`` arguments for the script set ``name``."""
    init, script = SCRIPTS[name]
    folder = script_dir()
    return [argument for file in init for argument in ("-i", str(folder / file))] + ["-f", str(folder / script)]


def expand_script(argv: list[str]) -> list[str]:
    """``argv`` with ``--script NAME`` replaced by the set's ``-i``/``-f`` arguments (its init
    scripts first, its last script after any other ``-f``)."""
    parser = argparse.ArgumentParser(prog="flink-image-sql", add_help=False)
    parser.add_argument("--script", choices=sorted(SCRIPTS))
    args, rest = parser.parse_known_args(argv)
    if args.script is None:
        return rest
    *init, last_flag, last = script_arguments(args.script)
    return [*init, *rest, last_flag, last]


def main(argv: list[str] | None = None) -> int:
    from udfs import sql

    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(f"--script {{{','.join(sorted(SCRIPTS))}}}: run the scripts shipped in {script_dir()} "
              "(classify: the pandas UDF, ml-predict: ML_PREDICT in the JVM); the SQL runner's options follow.\n")
    return sql.main(expand_script(argv))


if __name__ == "__main__":
    sys.exit(main())
