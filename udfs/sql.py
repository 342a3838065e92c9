"""Run Flink SQL script files without the SQL client (the SQL-runner pattern of Flink's
Kubernetes operator examples): ``python -m udfs.sql -i sql/10_images.sql -i sql/20_functions.sql
-i sql/29_sinks.sql -f sql/30_classify.sql``.

Statements end with ``;``. Supported besides everything ``TableEnvironment.execute_sql`` runs:
``--`` and ``/* */`` comments, ``SET 'key' = 'value'`` (applied to the table config;
``classify.*`` keys also become job parameters for the UDF), ``EXECUTE STATEMENT SET BEGIN ...
END;`` blocks, and ``${NAME}`` placeholders taken from ``--var NAME=value`` or the environment
(predefined: ``${FORMAT_JAR}``, the whole-file format jar; ``${OPENVINO_JAR}``, the ``openvino``
model provider's jar, built when a script first names it; ``${MODEL_PRESET}`` and ``${MODEL_PATH}``
for sql/21_model.sql, ``resnet50`` and empty unless set; inside a quoted literal the value's
quotes are doubled). Queries print their rows, INSERTs wait for their job; a batch job shows its
progress while it runs and ends with its runtime and images/s; batch or streaming, a notice says
when no image has been classified for ``--stall-notice`` seconds while rows wait. A failing
statement stops the run with ``<file>:<line>`` and the cause. Ctrl-C cancels the running job
(e.g. a streaming one) and exits with status 130, at the latest 20 s later even if a task is stuck. The same file runs on a cluster with ``flink run -py udfs/sql.py -pyfs
udfs -- -f ...`` (see README); under ``flink run -d`` (``execution.attached: false``) INSERTs are
submitted and not waited for: the runner prints their job IDs and returns.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Callable, Mapping, TextIO

if __package__ in (None, ""):  # run as a file by `flink run -py udfs/sql.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyflink.table import ResultKind, TableEnvironment

from udfs import presets, settings
from udfs.config_file import parse_key_values
from udfs.failures import failure_message
from udfs.package_data import data_path
from udfs.jars import jar_path, provider_jar_path
from udfs.progress import LOG_INTERVAL, STALL_NOTICE, exit_status_after_ctrl_c, wait_for_job
from udfs.sql_script import ScriptError, Statement, split_statements, substitute

_SET = re.compile(r"^SET\s+'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'$", re.IGNORECASE | re.DOTALL)
_PLACEHOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # ${NAME}; Flink option keys have dots
_INSERT = re.compile(r"^(INSERT|EXECUTE\s+STATEMENT\s+SET|BEGIN|EXECUTE\s+INSERT)", re.IGNORECASE)


def run_statement(t_env: TableEnvironment, statement: Statement, show_progress: bool = False,
                  log_interval: float = LOG_INTERVAL, out: TextIO = sys.stdout,
                  stall_notice: float | None = STALL_NOTICE) -> None:
    """Run one statement; wait for (and print) the job it starts, showing its progress if asked."""
    match = _SET.match(statement.text)
    if match:
        key, value = (group.replace("''", "'") for group in match.groups())
        settings.set_option(t_env, key, value)
        return
    result = t_env.execute_sql(statement.text)
    if result.get_job_client() is None:
        return
    is_query = result.get_result_kind() == ResultKind.SUCCESS_WITH_CONTENT and not _INSERT.match(statement.text)
    line = wait_for_job(t_env, result, show_progress, print_rows=is_query, log_interval=log_interval,
                        stall_notice=stall_notice)
    print(f"{line} ({statement.where()})", file=out, flush=True)


def run_files(t_env: TableEnvironment, files: list[Path], variables: Mapping[str, str],
              show_progress: bool = False, log_interval: float = LOG_INTERVAL,
              stall_notice: float | None = STALL_NOTICE) -> None:
    for file in files:
        for statement in split_statements(Path(file).read_text(encoding="utf-8"), str(file)):
            statement = substitute(statement, variables)
            try:
                run_statement(t_env, statement, show_progress, log_interval, stall_notice=stall_notice)
            except Exception as error:  # located in the script, with its cause
                raise ScriptError(f"{statement.where()}: {failure_message(error)}") from error


# --script NAME: the shipped scripts (sql/ of a checkout, udfs/data/sql of a wheel) as
# (init scripts, last script): the pandas UDF, or ML_PREDICT in the JVM.
SCRIPT_SETS: dict[str, tuple[tuple[str, ...], str]] = {
    "classify": (("10_images.sql", "20_functions.sql", "29_sinks.sql"), "30_classify.sql"),
    "ml-predict": (("10_images.sql", "21_model.sql", "29_sinks.sql"), "31_ml_predict.sql"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m udfs.sql", description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--init", action="append", default=[], type=Path, help="init script(s), run first")
    parser.add_argument("-f", "--file", action="append", default=[], type=Path, help="script(s) to run")
    parser.add_argument("--script", choices=sorted(SCRIPT_SETS),
                        help="run the shipped scripts (in %s): classify (the pandas UDF) or ml-predict "
                             "(ML_PREDICT in the JVM); -i scripts run after its init scripts, -f scripts "
                             "before its last one" % data_path("sql"))
    parser.add_argument("--var", dest="variables", action="append", default=[], metavar="NAME=VALUE",
                        help="value for ${NAME} placeholders (default: the environment)")
    parser.add_argument("-D", "--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="a Flink or classify.* option, as if SET first, as `flink run -D` "
                             "(python -m udfs.config lists the latter)")
    parser.add_argument("--mode", choices=settings.MODES, default="batch", help="runtime mode")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="do not show the progress of batch jobs")
    parser.add_argument("--progress-interval", type=float, default=LOG_INTERVAL, metavar="SECONDS",
                        help="seconds between progress lines when stderr is not a terminal (default %(default).0f)")
    parser.add_argument("--stall-notice", type=float, default=STALL_NOTICE, metavar="SECONDS",
                        help="say so when no image was classified for this long while rows wait "
                             "(batch and streaming; default %(default).0f; 0: never)")
    parser.add_argument("--conf", type=Path, default=settings.DEFAULT_CONF, help="settings file (conf/job.yaml)")
    args = parser.parse_args(argv)
    if args.script is not None:
        init, last = SCRIPT_SETS[args.script]
        folder = data_path("sql")
        args.init = [folder / name for name in init] + args.init
        args.file = args.file + [folder / last]
    if not args.init and not args.file:
        parser.error("give --script, or at least one -i or -f script")
    try:
        args.variables = parse_key_values(args.variables, "--var")
        args.options = parse_key_values(args.options, "-D/--set")
    except ValueError as error:
        parser.error(str(error))
    for name in [key for key in args.options if _PLACEHOLDER.match(key)]:
        # Until 0.1, -D set ${NAME} placeholders; option keys always have a dot, names never do.
        print(f"WARNING -D {name}=...: -D now sets Flink and classify.* options (as `flink run -D`); "
              f"use --var {name}=... for the ${{{name}}} placeholder. Taken as --var this time.", file=sys.stderr)
        args.variables.setdefault(name, args.options.pop(name))
    return args


class Variables(dict):
    """``${NAME}`` values; a lazy one (a jar to build) is computed when a script first names it."""

    def __init__(self, values: Mapping[str, str], lazy: Mapping[str, Callable[[], str]]) -> None:
        super().__init__(values)
        self._lazy = {name: compute for name, compute in lazy.items() if name not in values}

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self._lazy

    def __getitem__(self, name: str) -> str:
        if not super().__contains__(name) and name in self._lazy:
            self[name] = self._lazy.pop(name)()
        return super().__getitem__(name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variables = Variables({"MODEL_PRESET": presets.DEFAULT, "MODEL_PATH": "", **os.environ,
                           "FORMAT_JAR": str(jar_path()), **args.variables},
                          {"OPENVINO_JAR": lambda: str(provider_jar_path())})
    try:
        t_env = settings.configure(settings.table_environment(args.mode), args.conf, args.options)
        run_files(t_env, [*args.init, *args.file], variables,
                  show_progress=args.progress and args.mode == "batch", log_interval=args.progress_interval,
                  stall_notice=args.stall_notice or None)
    except (ScriptError, ValueError) as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        return exit_status_after_ctrl_c(interrupt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
