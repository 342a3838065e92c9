"""The SQL runner's script handling, in-process: statement splitting, line numbers, statement
sets and ``${NAME}`` placeholders (running statements is tested with Flink in test_classify_flink)."""

from __future__ import annotations

import pytest

from udfs.sql import ScriptError, Statement, split_statements, substitute

from conftest import REPO


def texts(script: str) -> list[str]:
    return [s.text for s in split_statements(script)]


def test_splits_at_semicolons_and_records_each_first_line():
    script = "SET 'a' = '1';\n\nCREATE TABLE t (x INT)\n  WITH ('connector' = 'datagen');\nSELECT 1"
    assert split_statements(script, "s.sql") == [
        Statement("SET 'a' = '1'", "s.sql", 1),
        Statement("CREATE TABLE t (x INT)\n  WITH ('connector' = 'datagen')", "s.sql", 3),
        Statement("SELECT 1", "s.sql", 5),
    ]


def test_semicolons_inside_strings_and_quoted_identifiers_do_not_split():
    script = "SELECT 'a;b', 'it''s;', `col;umn`, \"x;y\" FROM t;SELECT 2;"
    assert texts(script) == ["SELECT 'a;b', 'it''s;', `col;umn`, \"x;y\" FROM t", "SELECT 2"]


def test_comments_are_dropped_but_keep_line_numbers():
    script = "-- head; not a statement\n/* block;\n comment; */ SELECT 1; -- tail\n\n-- last\nSELECT 2;"
    statements = split_statements(script)
    assert [s.text for s in statements] == ["SELECT 1", "SELECT 2"]
    assert [s.line for s in statements] == [3, 6]


def test_comment_markers_inside_strings_are_text():
    assert texts("SELECT '-- not a comment', '/* nor this */';") == ["SELECT '-- not a comment', '/* nor this */'"]


def test_statement_set_is_one_statement():
    script = ("EXECUTE STATEMENT SET\nBEGIN\n  INSERT INTO a SELECT 1;\n  INSERT INTO b SELECT 2;\nEND;\n"
              "SELECT 3;")
    statements = split_statements(script)
    assert [s.text for s in statements] == [
        "EXECUTE STATEMENT SET\nBEGIN\n  INSERT INTO a SELECT 1;\nINSERT INTO b SELECT 2;\nEND",
        "SELECT 3",
    ]
    assert [s.line for s in statements] == [1, 6]


def test_project_script_splits_into_its_statements():
    path = REPO / "sql" / "30_classify.sql"
    statements = split_statements(path.read_text(), str(path))
    assert [s.text.split()[0:2] for s in statements] == [
        ["CREATE", "TEMPORARY"], ["CREATE", "TEMPORARY"], ["CREATE", "TEMPORARY"], ["EXECUTE", "STATEMENT"],
    ]
    assert statements[-1].text.count("INSERT INTO") == 2


def test_placeholders_come_from_the_variables():
    statement = Statement("CREATE TABLE t WITH ('path' = '${IMAGES_DIR}/x', 'y' = '${A.B}')", "s.sql", 7)
    assert substitute(statement, {"IMAGES_DIR": "/data/photos", "A.B": "1"}) == Statement(
        "CREATE TABLE t WITH ('path' = '/data/photos/x', 'y' = '1')", "s.sql", 7)


def test_undefined_placeholder_names_the_variable_and_the_line():
    with pytest.raises(ScriptError, match=r"^s.sql:7: undefined variable \$\{OUTPUT_DIR\}"):
        substitute(Statement("SELECT '${OUTPUT_DIR}'", "s.sql", 7), {})
