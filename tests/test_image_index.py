"""The ``image-index`` connector through real Flink jobs on the embedded MiniCluster, with synthetic
vectors (no model): VECTOR_SEARCH equals a numpy brute-force answer in every precision, bad vectors
are skipped (or fail the job when asked), bad options fail at planning naming the option, and a
running streaming job finds what an earlier part of the same stream stored. Exactly-once across a
TaskManager crash is in ``tests/test_cluster.py``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs.catalog import use_jar
from udfs.jars import provider_jar_path
from udfs.index_files import committed_segments, read_index

pytestmark = pytest.mark.flink

DIMENSION = 32


def table_env(streaming: bool = False, **config: str) -> TableEnvironment:
    settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
    t_env = TableEnvironment.create(settings)
    use_jar(t_env, provider_jar_path().as_uri())
    for key, value in {"parallelism.default": "2", **config}.items():
        t_env.get_config().set(key, value)
    return t_env


def write_json(path: Path, rows: list[dict]) -> None:
    """JSON lines written under a hidden name, then renamed: a watching source never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hidden = path.with_name("." + path.name)
    hidden.write_text("".join(json.dumps(row) + "\n" for row in rows))
    hidden.rename(path)


def create_index(t_env: TableEnvironment, name: str, folder: Path, **options: str) -> None:
    with_options = {"connector": "image-index", "path": str(folder), "dimension": str(DIMENSION), **options}
    t_env.execute_sql(
        f"CREATE TABLE {name} (path STRING, n INT, embedding ARRAY<FLOAT>) WITH ("
        + ", ".join(f"'{k}' = '{v}'" for k, v in with_options.items()) + ")")


def create_json_table(t_env: TableEnvironment, name: str, folder: Path, columns: str, **options: str) -> None:
    with_options = {"connector": "filesystem", "path": str(folder), "format": "json", **options}
    t_env.execute_sql(f"CREATE TABLE {name} ({columns}) WITH ("
                      + ", ".join(f"'{k}' = '{v}'" for k, v in with_options.items()) + ")")


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def store(tmp_path: Path, vectors: list, **index_options: str) -> Path:
    """Batch INSERT of rows {path: v<i>, n: i, embedding} into a new index; returns its folder."""
    folder = tmp_path / "index"
    write_json(tmp_path / "stored" / "rows.json",
               [{"path": f"v{i}", "n": i, "embedding": None if v is None else [None if x is None else float(x) for x in v]}
                for i, v in enumerate(vectors)])
    t_env = table_env()
    create_index(t_env, "seen", folder, **index_options)
    create_json_table(t_env, "stored", tmp_path / "stored", "path STRING, n INT, embedding ARRAY<FLOAT>")
    t_env.execute_sql("INSERT INTO seen SELECT * FROM stored").wait()
    return folder


def search(tmp_path: Path, folder: Path, queries: list, k: int,
           variants: dict[str, tuple[dict[str, str], str]] | None = None) -> dict[str, dict[str, list]]:
    """VECTOR_SEARCH of each query (name q<i>) in one batch job, once per variant (name -> (index
    options, VECTOR_SEARCH config argument)): variant -> name -> [(path, score)] best first ([] when
    the search found nothing: LEFT JOIN LATERAL gives one NULL row)."""
    variants = variants or {"default": ({}, "")}
    write_json(tmp_path / "queries" / "q.json",
               [{"name": f"q{i}", "vec": None if q is None else [float(x) for x in q]} for i, q in enumerate(queries)])
    t_env = table_env()
    create_json_table(t_env, "queries", tmp_path / "queries", "name STRING, vec ARRAY<FLOAT>")
    selects = []
    for variant, (options, config) in variants.items():
        create_index(t_env, f"seen_{variant}", folder, **options)
        selects.append(f"SELECT '{variant}' AS setting, name, path, score FROM queries LEFT JOIN LATERAL TABLE("
                       f"VECTOR_SEARCH(TABLE seen_{variant}, DESCRIPTOR(embedding), queries.vec, {k}{config})) ON TRUE")
    found: dict[str, dict[str, list]] = {variant: {} for variant in variants}
    with t_env.execute_sql(" UNION ALL ".join(selects)).collect() as rows:
        for variant, name, path, score in rows:
            hits = found[variant].setdefault(name, [])
            if path is not None:
                hits.append((path, score))
    return {variant: {name: sorted(hits, key=lambda hit: -hit[1]) for name, hits in by_name.items()}
            for variant, by_name in found.items()}


def test_batch_search_equals_numpy_brute_force(tmp_path):
    rng = np.random.default_rng(7)
    stored = rng.standard_normal((600, DIMENSION)).astype(np.float32)
    near = stored[rng.choice(len(stored), 20, replace=False)] + 0.05 * rng.standard_normal((20, DIMENSION))
    queries = np.concatenate([near, rng.standard_normal((20, DIMENSION))]).astype(np.float32)
    # small segments and blocks: many blocks, some merged, so results cross block boundaries
    folder = store(tmp_path, list(stored), **{"sink.segment.max-vectors": "70"})
    vectors, rows = read_index(folder)
    assert sorted(row["n"] for row in rows) == list(range(len(stored)))
    assert len(committed_segments(folder)) >= 8

    order = [row["n"] for row in rows]
    cosines = unit(queries.astype(np.float64)) @ unit(stored[order].astype(np.float64)).T
    k = 5
    expected = {f"q{i}": [(f"v{order[j]}", cosines[i, j]) for j in np.argsort(-cosines[i])[:k]]
                for i in range(len(queries))}
    variants = {precision: ({"search.precision": precision, "search.block-size": "128"}, config)
                for precision, config in (("f32", ", MAP['async', 'false']"), ("bf16", ""), ("int8", ""))}
    for precision, found in search(tmp_path, folder, list(queries), k, variants).items():
        assert set(found) == set(expected), precision
        for name, hits in expected.items():
            assert [path for path, _ in found[name]] == [path for path, _ in hits], (precision, name)
            # every precision rescores its candidates in f32: the exact cosines
            np.testing.assert_allclose([s for _, s in found[name]], [s for _, s in hits], atol=2e-6)


def test_invalid_vectors_skipped_in_the_sink_and_find_nothing_as_queries(tmp_path):
    good = np.eye(DIMENSION, dtype=np.float32)[:3]
    with_null_element = [1.0] * DIMENSION
    with_null_element[4] = None
    vectors = [good[0], None, [1.0, 2.0], good[1], [0.0] * DIMENSION, with_null_element, good[2]]
    folder = store(tmp_path, vectors)
    _, rows = read_index(folder)
    assert sorted(row["path"] for row in rows) == ["v0", "v3", "v6"]

    queries = [good[1] + 0.01, None, [1.0] * (DIMENSION + 1), [0.0] * DIMENSION]
    found = search(tmp_path, folder, queries, 2)["default"]
    assert found["q0"][0][0] == "v3" and found["q0"][0][1] > 0.99
    assert found["q1"] == found["q2"] == found["q3"] == []  # one NULL-padded row each, job alive


def test_invalid_vector_fails_the_job_when_asked(tmp_path):
    with pytest.raises(Exception) as failure:
        store(tmp_path, [np.ones(DIMENSION), [1.0, 2.0]], **{"sink.invalid-vector": "fail"})
    message = str(failure.value)
    assert "column 'embedding' has 2 elements, expected 32 (option 'sink.invalid-vector' = 'fail')" in message
    assert not committed_segments(tmp_path / "index")


@pytest.mark.parametrize("columns, options, expected", [
    ("path STRING, embedding ARRAY<FLOAT>", {"dimension": None}, "Missing required options are:\n\ndimension"),
    ("path STRING, embedding ARRAY<FLOAT>", {"dimension": "0"},
     "Invalid value for option 'dimension' of connector 'image-index': expected an integer >= 1, got '0'"),
    ("path STRING, embedding ARRAY<FLOAT>", {"search.precision": "fp8"}, "search.precision"),
    ("path STRING, embedding ARRAY<FLOAT>", {"dimensions": "3"}, "Unsupported options:\n\ndimensions"),
    ("path STRING, embedding ARRAY<DOUBLE>", {},
     "needs an ARRAY<FLOAT> column for the vectors; name the vector column with option 'vector-column'"),
    ("a ARRAY<FLOAT>, embedding ARRAY<FLOAT>", {}, "has several ARRAY<FLOAT> columns [a, embedding]"),
    ("path STRING, embedding ARRAY<FLOAT>", {"vector-column": "path"}, "the vector column 'path' must be ARRAY<FLOAT>"),
    ("tags MAP<STRING, STRING>, embedding ARRAY<FLOAT>", {},
     "column 'tags' has type MAP<STRING, STRING>, which the index cannot store"),
])
def test_bad_table_fails_at_planning_naming_what_to_fix(tmp_path, columns, options, expected):
    t_env = table_env()
    with_options = {"connector": "image-index", "path": str(tmp_path / "index"), "dimension": "4", **options}
    clause = ", ".join(f"'{k}' = '{v}'" for k, v in with_options.items() if v is not None)
    t_env.execute_sql(f"CREATE TABLE seen ({columns}) WITH ({clause})")
    create_json_table(t_env, "queries", tmp_path, "name STRING, vec ARRAY<FLOAT>")
    vector = columns.split(",")[-1].split()[0]
    with pytest.raises(Exception) as failure:
        t_env.explain_sql(f"SELECT * FROM queries LEFT JOIN LATERAL TABLE(VECTOR_SEARCH(TABLE seen, "
                          f"DESCRIPTOR({vector}), queries.vec, 3)) ON TRUE")
    assert expected in str(failure.value)


def test_search_on_another_column_fails_at_planning(tmp_path):
    """Other ARRAY<FLOAT> columns are stored beside the vectors (e.g. class probabilities), not searched."""
    t_env = table_env()
    t_env.execute_sql(f"CREATE TABLE seen (other ARRAY<FLOAT>, embedding ARRAY<FLOAT>) WITH ('connector' = "
                      f"'image-index', 'path' = '{tmp_path}', 'dimension' = '4', 'vector-column' = 'embedding')")
    create_json_table(t_env, "queries", tmp_path, "name STRING, vec ARRAY<FLOAT>")
    with pytest.raises(Exception) as failure:
        t_env.explain_sql("SELECT * FROM queries LEFT JOIN LATERAL TABLE(VECTOR_SEARCH(TABLE seen, "
                          "DESCRIPTOR(other), queries.vec, 3)) ON TRUE")
    assert "searches its vector column only: DESCRIPTOR(embedding), got DESCRIPTOR(other)" in str(failure.value)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_streaming_search_finds_what_the_same_stream_stored(tmp_path):
    """One streaming job searches each incoming vector, then stores it: a near-duplicate that
    arrives after the original's segment was committed (checkpoint) and loaded (refresh) finds it."""
    incoming, results, folder = tmp_path / "incoming", tmp_path / "results", tmp_path / "index"
    incoming.mkdir()
    t_env = table_env(streaming=True, **{"execution.checkpointing.interval": "1 s"})
    create_index(t_env, "seen", folder, **{"search.refresh-interval": "500 ms"})
    create_json_table(t_env, "arrivals", incoming, "path STRING, n INT, embedding ARRAY<FLOAT>",
                      **{"source.monitor-interval": "500 ms"})
    create_json_table(t_env, "found_matches", results, "path STRING, nearest STRING, score DOUBLE",
                      **{"sink.rolling-policy.rollover-interval": "1 s", "sink.rolling-policy.check-interval": "1 s"})
    statements = t_env.create_statement_set()
    statements.add_insert_sql(
        # the query side's columns renamed: no alias on VECTOR_SEARCH (Flink 2.3 cannot plan one)
        "INSERT INTO found_matches SELECT arrival, path, score FROM (SELECT path AS arrival, embedding AS query "
        "FROM arrivals) LEFT JOIN LATERAL TABLE(VECTOR_SEARCH(TABLE seen, DESCRIPTOR(embedding), query, 1)) ON TRUE")
    statements.add_insert_sql("INSERT INTO seen SELECT * FROM arrivals")
    job = statements.execute().get_job_client()
    try:
        rng = np.random.default_rng(3)
        originals = rng.standard_normal((5, DIMENSION))
        write_json(incoming / "1.json", [{"path": f"orig{i}", "n": i, "embedding": list(map(float, v))}
                                         for i, v in enumerate(originals)])
        wait_for(lambda: len(read_index(folder)[1]) == 5, 120, "the originals to be committed")
        time.sleep(1.5)  # > refresh interval: the search task has loaded them
        copies = originals + 0.02 * rng.standard_normal(originals.shape)
        write_json(incoming / "2.json", [{"path": f"copy{i}", "n": 10 + i, "embedding": list(map(float, v))}
                                         for i, v in enumerate(copies)])

        def matches() -> dict[str, dict]:
            rows = [json.loads(line) for f in results.rglob("*") if f.is_file() and not f.name.startswith(".")
                    for line in f.read_text().splitlines() if line.strip()]
            return {row["path"]: row for row in rows}

        found = wait_for(lambda: (m := matches()) and len(m) == 10 and m, 120, "10 committed matches")
        for i in range(5):
            assert found[f"orig{i}"]["nearest"] is None  # nothing stored before the originals
            assert found[f"copy{i}"]["nearest"] == f"orig{i}" and found[f"copy{i}"]["score"] > 0.99
        wait_for(lambda: len(read_index(folder)[1]) == 10, 60, "the copies to be stored too")
    finally:
        job.cancel().result()


def test_stored_columns_come_back_with_the_results(tmp_path):
    """Every storable column type, NULLs included, round-trips through a segment file: in the
    VECTOR_SEARCH results and in the Python reader."""
    columns = ("s STRING, b BOOLEAN, t TINYINT, sm SMALLINT, i INT, bi BIGINT, f FLOAT, d DOUBLE, dt DATE, "
               "tm TIME(0), ts TIMESTAMP(3), ltz TIMESTAMP_LTZ(3), bs BYTES, tags ARRAY<STRING>, probs ARRAY<FLOAT>, "
               "embedding ARRAY<FLOAT>")
    full = ("'a', TRUE, CAST(-3 AS TINYINT), CAST(300 AS SMALLINT), 70000, 9000000000, CAST(1.5 AS FLOAT), 2.25, "
            "DATE '2024-02-29', TIME '12:34:56', TIMESTAMP '2024-02-29 12:34:56.789', "
            "TO_TIMESTAMP_LTZ(1709210096789, 3), X'00ff', ARRAY['x', CAST(NULL AS STRING)], "
            "ARRAY[CAST(0.5 AS FLOAT)], ARRAY[CAST(1 AS FLOAT), 0, 0, 0]")
    nulls = ", ".join(["'b'"] + [f"CAST(NULL AS {kind.split(' ', 1)[1]})" for kind in columns.split(", ")[1:-1]]
                      + ["ARRAY[CAST(0 AS FLOAT), 1, 0, 0]"])
    folder = tmp_path / "index"
    t_env = table_env(**{"table.local-time-zone": "UTC"})
    t_env.execute_sql(f"CREATE TABLE seen ({columns}) WITH ('connector' = 'image-index', 'path' = '{folder}', "
                      "'dimension' = '4', 'vector-column' = 'embedding')")
    t_env.execute_sql(f"INSERT INTO seen VALUES ({full}), ({nulls})").wait()
    _, rows = read_index(folder)
    by_name = {row["s"]: row for row in rows}
    assert by_name["a"] == {"s": "a", "b": True, "t": -3, "sm": 300, "i": 70000, "bi": 9000000000, "f": 1.5,
                            "d": 2.25, "dt": 19782, "tm": 45296000, "ts": (1709210096789, 0),
                            "ltz": (1709210096789, 0), "bs": b"\x00\xff", "tags": ["x", None], "probs": [0.5]}
    assert by_name["b"] == {"s": "b", **{name: None for name in list(by_name["a"])[1:]}}

    write_json(tmp_path / "queries" / "q.json", [{"name": "q", "vec": [1.0, 1.0, 0.0, 0.0]}])
    create_json_table(t_env, "queries", tmp_path / "queries", "name STRING, vec ARRAY<FLOAT>")
    stored = [kind.split(" ")[0] for kind in columns.split(", ")]
    as_text = ", ".join(f"TO_BASE64({name})" if name == "bs" else f"CAST({name} AS STRING)" for name in stored)
    with t_env.execute_sql(f"SELECT {as_text}, score FROM queries LEFT JOIN LATERAL TABLE(VECTOR_SEARCH(TABLE seen, "
                           "DESCRIPTOR(embedding), queries.vec, 5)) ON TRUE").collect() as results:
        found = {row[0]: list(row) for row in results}
    assert found["a"][1:-1] == [
        "TRUE", "-3", "300", "70000", "9000000000", "1.5", "2.25", "2024-02-29", "12:34:56",
        "2024-02-29 12:34:56.789", "2024-02-29 12:34:56.789", "AP8=", "[x, NULL]", "[0.5]", "[1.0, 0.0, 0.0, 0.0]"]
    assert found["b"][1:-1] == [None] * 14 + ["[0.0, 1.0, 0.0, 0.0]"]
    assert abs(found["a"][-1] - 2 ** -0.5) < 1e-6 and abs(found["b"][-1] - 2 ** -0.5) < 1e-6
