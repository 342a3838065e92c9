"""The commands the docs show still run: every shell command in the code blocks of README.md,
deploy/README.md and bench/README.md that starts one of the project's entry points (``python -m
udfs.*`` / ``bench.*``, ``flink-image-sql``, ``./demo.sh``, ``./test.sh``) parses with that entry
point's own argument parser, and every ``sql/`` and ``conf/`` file a command names exists.
No JVM: arguments are parsed, nothing runs."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "deploy/README.md", "bench/README.md"]
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
REPO_FILE = re.compile(r"^(sql|conf)/")
REDIRECTION = re.compile(r"^\d?(>>?|<)(&\d)?$")  # > file, 2>&1, < file
PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")  # <job id>, <args of my_job.py>; not `< file >`
ARRAY = re.compile(r"^\s*(\w+)=\((.*?)\)", re.S | re.M)  # job=(--mode streaming ...), over several lines


@dataclass(frozen=True)
class Command:
    doc: str
    line: int  # of the code block's first line
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.doc} (block at line {self.line}): {shlex.join(self.words)}"


def code_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of every shell code block: fenced (```bash, ``` ...) or indented
    by four spaces after a blank line (bench/README.md's style)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) in SHELL_FENCES:
                blocks.append((i + 2, "\n".join(lines[i + 1:end])))
            i = end + 1
        elif lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            end = i
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            blocks.append((i + 1, "\n".join(line[4:] for line in lines[i:end])))
            i = end
        else:
            i += 1
    return blocks


def arrays_of(text: str) -> dict[str, list[str]]:
    """The bash arrays a document defines (``job=(...)``): name -> words."""
    return {match.group(1): shlex.split(match.group(2), comments=True) for match in ARRAY.finditer(text)}


def block_commands(block: str, arrays: dict[str, list[str]] | None = None) -> list[list[str]]:
    """The simple commands of a shell block, as words: continuation lines joined, comments
    dropped, bash arrays (``job=(...)``, used as ``"${job[@]}"``; ``arrays``: the document's,
    default the block's) expanded, ``$(...)`` taken out as commands of their own, split at
    ``&&``, ``||``, ``|`` and ``;``."""
    arrays = arrays_of(block) if arrays is None else arrays
    # continuation lines: a trailing backslash, or (usage style) a next line of [optional args]
    block = re.sub(r"\\?\n\s+(?=\[)", " ", ARRAY.sub("", block).replace("\\\n", " "))
    commands = []
    for line in block.splitlines():
        for name, words in arrays.items():
            line = line.replace(f'"${{{name}[@]}}"', shlex.join(words))
        for inner in re.findall(r"\$\(([^()]*)\)", line):
            commands.extend(block_commands(inner, arrays))
        line = re.sub(r"\$\([^()]*\)", "SUBSTITUTED", PLACEHOLDER.sub("PLACEHOLDER", line))
        lexer = shlex.shlex(line, posix=True, punctuation_chars="&|;")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for word in lexer:
            if word in {"&&", "||", "|", ";", "&"}:
                commands.append(words)
                words = []
            else:
                words.append(word)
        commands.append(words)
    return [words for words in commands if words]


def documented_commands() -> list[Command]:
    commands = []
    for doc in DOCS:
        blocks = code_blocks((REPO / doc).read_text())
        arrays = arrays_of("\n".join(block for _, block in blocks))  # one block may use another's
        for line, block in blocks:
            commands.extend(Command(doc, line, tuple(words)) for words in block_commands(block, arrays))
    return commands


# --- entry points -------------------------------------------------------------------------------


def entry_point(words: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """(entry point, its arguments) if the command starts one of ours, else None. Leading
    ``NAME=value`` assignments, a ``flock <lock file>`` wrapper and redirections are skipped."""
    words = list(words)
    for i in reversed(range(len(words))):
        if REDIRECTION.match(words[i]):
            del words[i:i + (1 if "&" in words[i] else 2)]
    while words and re.match(r"^\w+=", words[0]):
        words.pop(0)
    if words[:1] == ["flock"]:
        words = words[2:]
    if not words:
        return None
    if re.search(r"(^|/)python3?$", words[0]) and words[1:2] == ["-m"] and len(words) > 2:
        module = words[2]
        if module.split(".")[0] in {"udfs", "bench"}:
            return module, usage_brackets_dropped(words[3:])
        return None
    if words[0] == "flink-image-sql":
        return "udfs.sql", words[1:]
    if words[0] in {"./demo.sh", "./test.sh"}:
        return words[0], words[1:]
    return None


def usage_brackets_dropped(args: list[str]) -> list[str]:
    """``[--images 2000]`` (usage style: optional) as ``--images 2000``."""
    return [arg.removeprefix("[").removesuffix("]") for arg in args]


class _Parsed(Exception):
    pass


def parse_with_main(module_name: str, args: list[str]) -> None:
    """Parse ``args`` with the module's own ``main``, stopped right after its parser ran: every
    ``ArgumentParser.parse_args`` returns into an exception, so nothing after parsing happens."""
    module = importlib.import_module(module_name)
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(parser, *parse_args, **kwargs):
        original(parser, *parse_args, **kwargs)
        raise _Parsed

    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_then_stop), \
            mock.patch.object(sys, "argv", [module_name, *args]):
        try:
            module.main(args) if inspect.signature(module.main).parameters else module.main()
        except _Parsed:
            return
    raise AssertionError(f"{module_name}.main returned without parsing its arguments")


def parse_sql_runner(args: list[str]) -> argparse.Namespace:
    from udfs import sql

    parsed = sql.parse_args(args)
    for script in [*parsed.init, *parsed.file]:
        if not script.is_absolute():
            assert (REPO / script).is_file(), f"no script {script}"
    return parsed


def parse_cluster(args: list[str]) -> None:
    from udfs.cluster import __main__ as cluster
    from udfs.cluster.submit import SQL_RUNNER

    parsed = cluster.parser().parse_args(args)
    if parsed.command == "submit" and parsed.job == SQL_RUNNER:  # after --: the SQL runner's arguments
        job_args = parsed.job_args[1:] if parsed.job_args[:1] == ["--"] else parsed.job_args
        parse_sql_runner(job_args)


def demo_modes() -> set[str]:
    """The first arguments demo.sh itself takes (``if [ "${1:-}" = "--streaming" ]``...)."""
    return set(re.findall(r'"\$\{1:-\}" = "(--[\w-]+)"', (REPO / "demo.sh").read_text()))


def parse_demo(args: list[str]) -> None:
    """demo.sh takes a mode, then hands the rest to the SQL runner (or, --duplicates, to
    scripts/demo_duplicates.sh, which takes none)."""
    if args[:1] and args[0] in demo_modes():
        mode, args = args[0], args[1:]
        if mode == "--duplicates":
            assert not args, f"demo.sh --duplicates takes no more arguments, got {args}"
            return
    parse_sql_runner([*args, "-f", "sql/30_classify.sql"])


def parse_pytest(args: list[str], pytest_parser) -> None:
    """test.sh hands its arguments to pytest: options pytest knows, test files that exist."""
    namespace, unknown = pytest_parser.parse_known_and_unknown_args(args)
    assert not unknown, f"pytest does not know {unknown}"
    for target in namespace.file_or_dir:
        assert (REPO / target.split("::")[0]).exists(), f"no test file {target}"


def check(command: Command, pytest_parser) -> None:
    """Raises (AssertionError or SystemExit from argparse, its message on stderr) if a file the
    command names is missing or its entry point refuses its arguments."""
    for word in command.words:
        for part in word.split("="):
            if REPO_FILE.match(part):
                assert (REPO / part).exists(), f"no file {part}"
    found = entry_point(command.words)
    if found is None:
        return
    name, args = found
    if name == "./test.sh":
        assert (REPO / "test.sh").is_file()
        parse_pytest(args, pytest_parser)
    elif name == "./demo.sh":
        assert (REPO / "demo.sh").is_file()
        parse_demo(args)
    elif name == "udfs.sql":
        parse_sql_runner(args)
    elif name in {"udfs.cluster", "udfs.cluster.__main__"}:
        parse_cluster(args)
    elif name == "udfs.job":
        from udfs import job

        job.parse_args(args)
    else:
        parse_with_main(name, args)


def refusal(command: Command, pytest_parser) -> str | None:
    """Why ``command`` would not start, or None."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            check(command, pytest_parser)
    except SystemExit:
        return stderr.getvalue().strip().splitlines()[-1]
    except (AssertionError, ModuleNotFoundError) as error:
        return str(error).splitlines()[0]
    return None


# --- the tests ----------------------------------------------------------------------------------


def test_every_documented_command_parses(pytestconfig):
    commands = documented_commands()
    checked = [command for command in commands if entry_point(command.words)]
    # the extraction finds the docs' commands (a parser change that sees none would pass vacuously)
    assert len(checked) >= 30, [str(c) for c in checked]
    for expected in ("udfs.sql", "udfs.cluster", "./demo.sh", "./test.sh", "udfs.jars", "bench.run", "bench.memory"):
        assert any(entry_point(c.words)[0] == expected for c in checked), expected
    failures = [f"{command}\n    -> {why}" for command in commands
                if (why := refusal(command, pytestconfig._parser)) is not None]
    assert not failures, "documented commands that would not start:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "doc_command, why",
    [
        ("python -m udfs.sql -i sql/10_images.sql --sett classify.top-k=3 -f sql/30_classify.sql",
         "unrecognized arguments: --sett"),
        ("python -m udfs.sql -i sql/10_images.sql -f sql/33_classify.sql", "no file sql/33_classify.sql"),
        ("flink-image-sql --script clasify", "invalid choice: 'clasify'"),
        ("python -m udfs.cluster start --taskmangers 2", "unrecognized arguments: --taskmangers 2"),
        ("python -m udfs.cluster submit -d -- -i sql/10_images.sql --vars X=1 -f sql/30_classify.sql",
         "unrecognized arguments: --vars"),
        ("python -m udfs.jars openvion", "invalid choice: 'openvion'"),
        ("python -m bench.run --imagess 20", "unrecognized arguments: --imagess 20"),
        ("./demo.sh --streamin", "unrecognized arguments: --streamin"),
        ("./test.sh -m 'not flink' --bogus", "pytest does not know ['--bogus']"),
        ("./test.sh tests/test_no_such_file.py", "no test file tests/test_no_such_file.py"),
        ("envsubst < sql/11_images.sql > /tmp/x.sql", "no file sql/11_images.sql"),
    ],
)
def test_a_misspelled_flag_or_missing_script_is_caught(doc_command, why, pytestconfig):
    (words,) = block_commands(doc_command)
    assert why in (refusal(Command("test", 1, tuple(words)), pytestconfig._parser) or "")


def test_block_commands_joins_lines_expands_arrays_and_substitutions():
    block = """export A=1 B=2
job=(--mode streaming
     -f sql/30_classify.sql)
X=1 .venv/bin/python -m udfs.cluster submit -d -- "${job[@]}"   # comment
sql-client.sh -j "$(.venv/bin/python -m udfs.jars)" \\
    -i /tmp/10_images.sql && echo <job id>
"""
    assert block_commands(block) == [
        ["export", "A=1", "B=2"],
        ["X=1", ".venv/bin/python", "-m", "udfs.cluster", "submit", "-d", "--", "--mode", "streaming", "-f",
         "sql/30_classify.sql"],
        [".venv/bin/python", "-m", "udfs.jars"],
        ["sql-client.sh", "-j", "SUBSTITUTED", "-i", "/tmp/10_images.sql"],
        ["echo", "PLACEHOLDER"],
    ]
