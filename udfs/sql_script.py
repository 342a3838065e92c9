"""Flink SQL script text: split a file into statements and fill in ``${NAME}`` placeholders.

Plain text work, no PyFlink: the SQL runner (``udfs.sql``) executes what this module produces.
One scanner serves both jobs, so a ``;`` or ``${NAME}`` inside a string literal, a quoted
identifier or a comment is seen as what it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Mapping

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_BEGIN_SET = re.compile(r"^(EXECUTE\s+)?STATEMENT\s+SET\s+BEGIN\b|^BEGIN\s+STATEMENT\s+SET\b", re.I)
_QUOTES = "'`\""
_TOKEN = re.compile(
    r"""--[^\n]*
      | /\*.*?(?:\*/|\Z)
      | '(?:[^']|'')*(?:'|\Z)
      | `(?:[^`]|``)*(?:`|\Z)
      | "(?:[^"]|"")*(?:"|\Z)
      | ;
      | (?:[^;'`"/-]|/(?!\*)|-(?!-))+""",
    re.DOTALL | re.VERBOSE,
)


class ScriptError(Exception):
    """A statement cannot run; ``str()`` reads ``<file>:<line>: <message>``."""


@dataclass(frozen=True)
class Statement:
    text: str
    file: str
    line: int  # 1-based line of the statement's first character

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def tokens(script: str) -> list[str]:
    """The script cut into tokens that join back to the whole text: comments, quoted strings and
    identifiers (a doubled quote escapes itself; an unterminated one runs to the end), ``;``, and
    runs of other text."""
    return _TOKEN.findall(script)


def _is_comment(token: str) -> bool:
    return token.startswith(("--", "/*"))


def split_statements(script: str, file: str = "<script>") -> list[Statement]:
    """Split at ``;`` outside strings, quoted identifiers and comments; drop comments.
    ``EXECUTE STATEMENT SET BEGIN ... END;`` stays one statement."""
    statements: list[Statement] = []
    buffer: list[str] = []
    start_line, line = None, 1
    for token in tokens(script):
        if token == ";":
            _flush(buffer, file, start_line, statements)
            buffer, start_line = [], None
        elif _is_comment(token):
            buffer.append(" ")  # `a/*c*/b` reads as two words, as Flink would read it
        else:
            if start_line is None and not token.isspace():
                start_line = line + token[: len(token) - len(token.lstrip())].count("\n")
            buffer.append(token)
        line += token.count("\n")
    _flush(buffer, file, start_line, statements)
    return list(_join_statement_sets(statements))


def _flush(buffer: list[str], file: str, line: int | None, statements: list[Statement]) -> None:
    text = "".join(buffer).strip()
    if text:
        statements.append(Statement(text, file, line))


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


def substitute(statement: Statement, variables: Mapping[str, str]) -> Statement:
    """Replace ``${NAME}`` with its value. Inside a quoted string or identifier the value's quote
    character is doubled, so ``'${DIR}'`` with ``DIR=/data/John's photos`` becomes the literal
    ``'/data/John''s photos'``; elsewhere the value is pasted as SQL text."""

    def fill(token: str) -> str:
        quote = token[0] if token[:1] in _QUOTES else None

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise ScriptError(f"{statement.where()}: undefined variable ${{{name}}}; pass --var {name}=...")
            return variables[name].replace(quote, quote * 2) if quote else variables[name]

        return _PLACEHOLDER.sub(value, token)

    return Statement("".join(map(fill, tokens(statement.text))), statement.file, statement.line)
