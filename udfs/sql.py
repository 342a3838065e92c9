"""Run Flink SQL script files without the SQL client (the SQL-runner pattern of Flink's
Kubernetes operator examples): ``python -m udfs.sql -i sql/00_init.sql -f sql/30_classify.sql``.

Statements end with ``;``. Supported besides everything ``TableEnvironment.execute_sql`` runs:
``--`` and ``/* */`` comments, ``SET 'key' = 'value'`` (applied to the table config;
``classify.*`` keys also become job parameters for the UDF), ``EXECUTE STATEMENT SET BEGIN ...
END;`` blocks, and ``${NAME}`` placeholders taken from ``-D NAME=value`` or the environment
(predefined: ``${FORMAT_JAR}``, the whole-file format jar; ``${OPENVINO_JAR}``, the ``openvino``
model provider's jar, built when a script first names it; ``${MODEL_PRESET}`` and
``${MODEL_PATH}`` for sql/21_model.sql, ``resnet50`` and empty unless set). Queries print their rows, INSERTs wait
for their job, and each job's runtime is printed. A failing statement stops the run with
``<file>:<line>`` and Flink's message. The same file runs on a cluster with
``flink run -py udfs/sql.py -pyfs udfs -- -f ...`` (see README).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

if __package__ in (None, ""):  # run as a file by `flink run -py udfs/sql.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyflink.table import EnvironmentSettings, ResultKind, TableEnvironment

from udfs import presets, settings
from udfs.format_jar import jar_path, provider_jar_path

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_SET = re.compile(r"^SET\s+'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'$", re.IGNORECASE | re.DOTALL)
_BEGIN_SET = re.compile(r"^(EXECUTE\s+)?STATEMENT\s+SET\s+BEGIN\b|^BEGIN\s+STATEMENT\s+SET\b", re.I)


class ScriptError(Exception):
    """A statement failed; ``str()`` reads ``<file>:<line>: <message>``."""


@dataclass(frozen=True)
class Statement:
    text: str
    file: str
    line: int  # 1-based line of the statement's first character

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def split_statements(script: str, file: str = "<script>") -> list[Statement]:
    """Split at ``;`` outside strings, quoted identifiers and comments; drop comments."""
    statements: list[Statement] = []
    buffer: list[str] = []
    start_line, line, i = None, 1, 0
    while i < len(script):
        ch, pair = script[i], script[i : i + 2]
        if pair == "--":
            end = script.find("\n", i)
            i = len(script) if end < 0 else end
            continue
        if pair == "/*":
            end = script.find("*/", i + 2)
            end = len(script) if end < 0 else end + 2
            line += script.count("\n", i, end)
            i = end
            continue
        if ch in "'`\"":
            end = i + 1
            while end < len(script):
                if script[end] == ch and script[end + 1 : end + 2] == ch:
                    end += 2  # doubled quote escapes itself
                elif script[end] == ch:
                    break
                else:
                    end += 1
            token = script[i : end + 1]
        elif ch == ";":
            text = "".join(buffer).strip()
            if text:
                statements.append(Statement(text, file, start_line))
            buffer, start_line, i = [], None, i + 1
            continue
        else:
            token = ch
        if start_line is None and not token.isspace():
            start_line = line
        buffer.append(token)
        line += token.count("\n")
        i += len(token)
    text = "".join(buffer).strip()
    if text:
        statements.append(Statement(text, file, start_line))
    return list(_join_statement_sets(statements))


def _join_statement_sets(statements: list[Statement]) -> Iterator[Statement]:
    """``EXECUTE STATEMENT SET BEGIN a; b; END`` was split at every ``;``: rejoin it."""
    block: list[Statement] = []
    for statement in statements:
        if block:
            block.append(statement)
            if statement.text.upper() == "END":
                yield Statement(";\n".join(s.text for s in block[:-1]) + ";\nEND", block[0].file, block[0].line)
                block = []
        elif _BEGIN_SET.match(statement.text):
            block = [statement]
        else:
            yield statement
    if block:
        yield block[0]  # unterminated: let Flink report it


class Variables(dict):
    """``${NAME}`` values; a lazy one (a jar to build) is computed when a script first names it."""

    def __init__(self, values: Mapping[str, str], lazy: Mapping[str, Callable[[], str]]) -> None:
        super().__init__(values)
        self._lazy = dict(lazy)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self._lazy

    def __getitem__(self, name: str) -> str:
        if not super().__contains__(name) and name in self._lazy:
            self[name] = self._lazy.pop(name)()
        return super().__getitem__(name)


def substitute(statement: Statement, variables: Mapping[str, str]) -> Statement:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ScriptError(f"{statement.where()}: undefined variable ${{{name}}}; pass -D {name}=...")
        return variables[name]

    return Statement(_PLACEHOLDER.sub(value, statement.text), statement.file, statement.line)


def run_statement(t_env: TableEnvironment, statement: Statement, out=sys.stdout) -> None:
    """Run one statement; wait for (and print) the job it starts."""
    match = _SET.match(statement.text)
    if match:
        key, value = (group.replace("''", "'") for group in match.groups())
        settings.set_option(t_env, key, value)
        return
    started = time.perf_counter()
    result = t_env.execute_sql(statement.text)
    if result.get_job_client() is None:
        return
    if result.get_result_kind() == ResultKind.SUCCESS_WITH_CONTENT and not _is_insert(statement.text):
        result.print()
    else:
        result.wait()
    print(f"Job Runtime: {(time.perf_counter() - started) * 1000:.0f} ms ({statement.where()})", file=out)


def _is_insert(text: str) -> bool:
    return bool(re.match(r"^(INSERT|EXECUTE\s+STATEMENT\s+SET|BEGIN|EXECUTE\s+INSERT)", text, re.I))


def run_files(t_env: TableEnvironment, files: list[Path], variables: Mapping[str, str]) -> None:
    for file in files:
        for statement in split_statements(Path(file).read_text(encoding="utf-8"), str(file)):
            statement = substitute(statement, variables)
            try:
                run_statement(t_env, statement)
            except ScriptError:
                raise
            except Exception as error:  # Flink's message, located in the script
                raise ScriptError(f"{statement.where()}: {_first_line(error)}") from error


def _first_line(error: Exception) -> str:
    """The telling line of a Py4J/Flink error: a Python worker's own error when there is one
    (e.g. a bad ``classify.*`` setting found in ``open()``), else Flink's first message line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    python_errors = [line for line in lines if re.match(r"^[A-Z]\w*Error: ", line)]
    if python_errors:
        return python_errors[-1]
    for line in lines:
        if not line.startswith(("at ", "Traceback", "File ", "An error occurred while calling")):
            return line.lstrip(": ")
    return type(error).__name__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m udfs.sql", description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--init", action="append", default=[], type=Path, help="init script(s), run first")
    parser.add_argument("-f", "--file", action="append", default=[], type=Path, help="script(s) to run")
    parser.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE",
                        help="value for ${NAME} placeholders (default: the environment)")
    parser.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="a Flink or classify.* option, as if SET first (python -m udfs.config lists the latter)")
    parser.add_argument("--mode", choices=("batch", "streaming"), default="batch", help="runtime mode")
    parser.add_argument("--conf", type=Path, default=settings.DEFAULT_CONF, help="settings file (conf/job.yaml)")
    args = parser.parse_args(argv)
    if not args.init and not args.file:
        parser.error("give at least one -i or -f script")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variables = Variables({"MODEL_PRESET": presets.DEFAULT, "MODEL_PATH": "", **os.environ, "FORMAT_JAR": str(jar_path())},
                          {"OPENVINO_JAR": lambda: str(provider_jar_path())})
    variables.update(define.split("=", 1) for define in args.defines if "=" in define)
    env_settings = EnvironmentSettings.in_streaming_mode() if args.mode == "streaming" else EnvironmentSettings.in_batch_mode()
    started = time.perf_counter()
    try:
        overrides = dict(option.split("=", 1) for option in args.options if "=" in option)
        t_env = settings.configure(TableEnvironment.create(env_settings), args.conf, overrides)
        run_files(t_env, [*args.init, *args.file], variables)
    except (ScriptError, ValueError) as error:
        print(f"ERROR {error}", file=sys.stderr)
        return 1
    print(f"Total Runtime: {(time.perf_counter() - started) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
