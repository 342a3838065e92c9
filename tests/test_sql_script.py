"""SQL script text and the entry points' arguments (in-process, no JVM): statement splitting,
``${NAME}`` substitution, ``-D``/``--set`` parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from udfs import job, sql
from udfs.catalog import sql_string
from udfs.sql_script import ScriptError, Statement, split_statements, substitute, tokens

from conftest import REPO


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab ;'`\"-/*\n${}", max_size=60))
def test_tokens_give_back_the_whole_script(script):
    assert "".join(tokens(script)) == script


def test_split_at_semicolons_outside_strings_identifiers_and_comments():
    script = (
        "-- heading; not a statement\n"
        "CREATE TABLE t (`a;b` INT) WITH ('k' = 'v;w', 'q' = 'it''s; fine');\n"
        "/* block; comment */ SELECT 1/*inline*/FROM t;\n"
        "\n"
        "SELECT '--not a comment' FROM t -- trailing; comment\n"
    )
    assert split_statements(script, "s.sql") == [
        Statement("CREATE TABLE t (`a;b` INT) WITH ('k' = 'v;w', 'q' = 'it''s; fine')", "s.sql", 2),
        Statement("SELECT 1 FROM t", "s.sql", 3),
        Statement("SELECT '--not a comment' FROM t", "s.sql", 5),
    ]


def test_statement_set_stays_one_statement():
    script = "SET 'a' = 'b';\nEXECUTE STATEMENT SET\nBEGIN\n  INSERT INTO x SELECT 1;\n  INSERT INTO y SELECT 2;\nEND;\nSELECT 3;"
    statements = split_statements(script)
    assert [s.line for s in statements] == [1, 2, 7]
    assert statements[1].text == "EXECUTE STATEMENT SET\nBEGIN\n  INSERT INTO x SELECT 1;\nINSERT INTO y SELECT 2;\nEND"


def test_project_scripts_split_into_their_statements():
    kinds = [[s.text.split()[0] for s in split_statements((REPO / "sql" / name).read_text())]
             for name in ("10_images.sql", "15_watch_images.sql", "20_functions.sql", "30_classify.sql")]
    assert kinds == [["CREATE"], ["ALTER"], ["CREATE"], ["CREATE", "CREATE", "CREATE", "EXECUTE"]]


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
    assert [token for token in tokens(filled) if token.startswith("'")] == ["'path'", sql_string(folder), "'format'", "'whole-file'"]


def test_substitution_in_identifiers_and_plain_text():
    [statement] = split_statements("SELECT `${COLUMN}` FROM ${TABLE} WHERE n > ${LIMIT}")
    filled = substitute(statement, {"COLUMN": "odd`name", "TABLE": "cat.db.images", "LIMIT": "3"})
    assert filled.text == "SELECT `odd``name` FROM cat.db.images WHERE n > 3"


def test_undefined_variable_names_it_and_the_statement():
    script = "-- ${IN_A_COMMENT} is not needed\n\nSELECT '${MISSING}'"
    [statement] = split_statements(script, "s.sql")
    with pytest.raises(ScriptError, match=r"^s\.sql:3: undefined variable \$\{MISSING\}; pass -D MISSING=\.\.\.$"):
        substitute(statement, {})


@pytest.mark.parametrize("parse_args, flag, entry", [
    (lambda extra: sql.parse_args(["-f", "x.sql", *extra]), "-D", "IMAGES_DIR"),
    (lambda extra: sql.parse_args(["-f", "x.sql", *extra]), "--set", "classify.top-k"),
    (lambda extra: job.parse_args(["--images", "i", "--output", "o", *extra]), "-D", "=3"),
])
def test_malformed_key_value_is_a_usage_error_naming_it(parse_args, flag, entry, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args([flag, entry])
    assert exit_.value.code == 2
    assert f"{flag} '{entry}': expected KEY=VALUE" in capsys.readouterr().err


def test_key_values_reach_the_runners():
    args = sql.parse_args(["-f", "x.sql", "-D", "A=1=2", "--set", "classify.top-k=3", "--set", "classify.top-k=4"])
    assert (args.defines, args.options) == ({"A": "1=2"}, {"classify.top-k": "4"})
    assert job.parse_args(["--images", "i", "--output", "o", "-Dk=v"]).options == {"k": "v"}
