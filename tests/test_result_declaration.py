"""One declaration of the result row (udfs/result.py), every other place held to it: the SQL
scripts' model OUTPUT lists and sinks (fast) and the openvino provider's ModelSchema (a plan)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from udfs.result import CLASSIFIER_OUTPUT, RESULT_FIELDS

from conftest import REPO, needs_shared

SQL = REPO / "sql"


def statements(path: Path, kind: str) -> dict[str, str]:
    """``CREATE [TEMPORARY] <kind> name ... ;`` statements of a script, comments removed, by name."""
    text = re.sub(r"--[^\n]*", "", path.read_text())
    return {match.group(1): match.group(0)
            for match in re.finditer(rf"CREATE\s+(?:TEMPORARY\s+)?{kind}\s+(\w+)[^;]*;", text, flags=re.I)}


def columns(declaration: str, after: str = "") -> list[tuple[str, str]]:
    """The ``name TYPE`` pairs of the first parenthesised column list after ``after``."""
    start = declaration.index("(", declaration.index(after) if after else 0)
    depth, end = 0, start
    for end, char in enumerate(declaration[start:], start):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            break
    pairs = [item.strip().split(None, 1) for item in re.split(r",(?![^<]*>)", declaration[start + 1:end])]
    return [(name, " ".join(sql_type.split())) for name, sql_type in pairs]


def test_model_scripts_output_only_result_fields_and_the_classifier_outputs_them_all():
    models = statements(SQL / "21_model.sql", "MODEL")
    assert set(models) >= {"image_classifier", "image_embedder"}
    result = dict(RESULT_FIELDS)
    order = [name for name, _ in RESULT_FIELDS]
    for name, declaration in models.items():
        output = columns(declaration, "OUTPUT")
        assert all(result.get(column) == sql_type for column, sql_type in output), (name, output)
        assert [column for column, _ in output] == sorted((c for c, _ in output), key=order.index), name
    assert columns(models["image_classifier"], "OUTPUT") == list(CLASSIFIER_OUTPUT)


def test_sinks_declare_result_fields_with_their_types():
    """The classify scripts' sink (sql/29_sinks.sql): the file path plus fields of the result, each
    with the result's type (a renamed or retyped column fails here, not at the INSERT)."""
    tables = statements(SQL / "29_sinks.sql", "TABLE")
    sink = columns(tables["predictions"])
    assert sink[0] == ("path", "STRING")
    result = dict(RESULT_FIELDS)
    assert [(name, result.get(name)) for name, _ in sink[1:]] == sink[1:]


def test_a_field_the_result_lacks_fails_this_check():
    """The check above can fail: a sink column the result does not have."""
    result = dict(RESULT_FIELDS)
    sink = columns("CREATE TABLE t (path STRING, labels ARRAY<STRING>, error STRING) WITH ()")
    assert [(name, result.get(name)) for name, _ in sink[1:]] != sink[1:]


@needs_shared
@pytest.mark.flink
def test_provider_model_schema_takes_exactly_the_result_fields():
    """The provider's OUTPUT columns (ModelSchema.Field) are the result's, names and types in
    order: its planning error lists what OUTPUT takes."""
    from test_model_provider import plan_error

    message = plan_error({}, output="no_such_column STRING")
    listed = message.split("OUTPUT takes any of: ", 1)[1].splitlines()[0]
    assert listed.rstrip(".") == ", ".join(f"{name} {sql_type}" for name, sql_type in RESULT_FIELDS)
