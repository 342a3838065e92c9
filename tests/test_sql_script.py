"""SQL script text and the entry points' arguments, in-process (no JVM): statement splitting,
line numbers, statement sets, ``${NAME}`` substitution and ``-D``/``--set`` parsing (running
statements is tested with Flink in test_sql_runner.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from udfs import job, sql
from udfs.catalog import sql_string
from udfs.sql_script import ScriptError, Statement, split_statements, substitute, tokens

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


def test_placeholders_come_from_the_variables():
    statement = Statement("CREATE TABLE t WITH ('path' = '${IMAGES_DIR}/x', 'y' = '${A.B}')", "s.sql", 7)
    assert substitute(statement, {"IMAGES_DIR": "/data/photos", "A.B": "1"}) == Statement(
        "CREATE TABLE t WITH ('path' = '/data/photos/x', 'y' = '1')", "s.sql", 7)


def test_a_comment_between_words_separates_them():
    assert texts("SELECT 1/*inline*/FROM t") == ["SELECT 1 FROM t"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab ;'`\"-/*\n${}", max_size=60))
def test_tokens_give_back_the_whole_script(script):
    assert "".join(tokens(script)) == script


def test_every_project_script_splits_into_its_statements():
    kinds = {path.name: [s.text.split()[0] for s in split_statements(path.read_text())]
             for path in sorted((REPO / "sql").glob("*.sql"))}
    assert kinds == {
        "10_images.sql": ["CREATE"],
        "15_watch_images.sql": ["ALTER"],
        "20_functions.sql": ["CREATE", "CREATE", "CREATE"],
        "21_model.sql": ["ADD", "CREATE", "CREATE"],
        "25_tutorial_knobs.sql": ["SET"] * (REPO / "sql" / "25_tutorial_knobs.sql").read_text().count("\nSET "),
        "29_sinks.sql": ["CREATE", "CREATE"],
        "30_classify.sql": ["CREATE", "EXECUTE"],
        "31_ml_predict.sql": ["CREATE", "EXECUTE"],
        "35_index_table.sql": ["ADD", "CREATE"],
        "36_embeddings.sql": ["CREATE"],
        "36_embeddings_ml_predict.sql": ["CREATE"],
        "40_index.sql": ["INSERT"],
        "41_near_duplicates.sql": ["CREATE", "CREATE", "CREATE", "EXECUTE"],
    }


@pytest.mark.parametrize("folder", [
    "/data/John's photos",       # a quote: doubled inside the literal
    "/data/my photos",           # spaces
    "/data/Zoë's 写真 ''x''",     # non-ASCII and quotes already doubled
    "/data/a;b -- c /* d */",    # statement and comment syntax is text inside a literal
])
def test_substitution_inside_a_literal_keeps_one_literal(folder):
    [statement] = split_statements("CREATE TABLE t WITH ('path' = '${IMAGES_DIR}', 'format' = 'whole-file');")
    filled = substitute(statement, {"IMAGES_DIR": folder}).text
    assert filled == f"CREATE TABLE t WITH ('path' = {sql_string(folder)}, 'format' = 'whole-file')"
    literals = [token for token in tokens(filled) if token.startswith("'")]
    assert literals == ["'path'", sql_string(folder), "'format'", "'whole-file'"]


def test_substitution_in_identifiers_and_plain_text():
    [statement] = split_statements("SELECT `${COLUMN}` FROM ${TABLE} WHERE n > ${LIMIT}")
    filled = substitute(statement, {"COLUMN": "odd`name", "TABLE": "cat.db.images", "LIMIT": "3"})
    assert filled.text == "SELECT `odd``name` FROM cat.db.images WHERE n > 3"


def test_undefined_variable_names_it_and_the_statement():
    script = "-- ${IN_A_COMMENT} is not needed\n\nSELECT '${MISSING}'"
    [statement] = split_statements(script, "s.sql")
    with pytest.raises(ScriptError, match=r"^s\.sql:3: undefined variable \$\{MISSING\}; pass --var MISSING=\.\.\.$"):
        substitute(statement, {})


@pytest.mark.parametrize("parse_args, flag, entry, named", [
    (lambda extra: sql.parse_args(["-f", "x.sql", *extra]), "--var", "IMAGES_DIR", "--var"),
    (lambda extra: sql.parse_args(["-f", "x.sql", *extra]), "--set", "classify.top-k", "-D/--set"),
    (lambda extra: sql.parse_args(["-f", "x.sql", *extra]), "-D", "classify.top-k", "-D/--set"),
    (lambda extra: job.parse_args(["--images", "i", "--output", "o", *extra]), "-D", "=3", "-D"),
])
def test_malformed_key_value_is_a_usage_error_naming_it(parse_args, flag, entry, named, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args([flag, entry])
    assert exit_.value.code == 2
    assert f"{named} '{entry}': expected KEY=VALUE" in capsys.readouterr().err


def test_key_values_reach_the_runners():
    args = sql.parse_args(["-f", "x.sql", "--var", "A=1=2", "-D", "classify.top-k=3", "--set", "classify.top-k=4"])
    assert (args.variables, args.options) == ({"A": "1=2"}, {"classify.top-k": "4"})
    assert job.parse_args(["--images", "i", "--output", "o", "-Dk=v"]).options == {"k": "v"}


def test_d_for_a_placeholder_still_works_for_now_with_a_warning(capsys):
    args = sql.parse_args(["-f", "x.sql", "-D", "IMAGES_DIR=/data", "-D", "parallelism.default=2"])
    assert (args.variables, args.options) == ({"IMAGES_DIR": "/data"}, {"parallelism.default": "2"})
    assert "use --var IMAGES_DIR=... for the ${IMAGES_DIR} placeholder" in capsys.readouterr().err
