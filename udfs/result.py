"""The classifier's result row, declared once.

``RESULT_FIELDS`` is the one declaration: the pandas UDF's return type (``udfs.functions``) and
the model's OUTPUT columns (``udfs.model_provider``) are built from it; the SQL scripts' model and
sink declarations and the provider's ``ModelSchema`` are tested against it
(tests/test_result_declaration.py). No PyFlink import: scripts and fast tests read it as plain data.
"""

from __future__ import annotations

# Top-k is three parallel arrays: PyFlink's pandas UDFs cannot return ARRAY<ROW<...>>.
# embedding is NULL unless classify.embedding is set (the provider: unless OUTPUT lists it);
# error stays the last field.
RESULT_FIELDS: tuple[tuple[str, str], ...] = (
    ("label", "STRING"),
    ("class_id", "INT"),
    ("probability", "FLOAT"),
    ("top_labels", "ARRAY<STRING>"),
    ("top_class_ids", "ARRAY<INT>"),
    ("top_probabilities", "ARRAY<FLOAT>"),
    ("embedding", "ARRAY<FLOAT>"),
    ("error", "STRING"),
)
RESULT_COLUMNS = [name for name, _ in RESULT_FIELDS]

# The fields a classifier model's OUTPUT lists by default: all but the embedding, which the
# provider computes only when OUTPUT asks for it (sql/21_model.sql declares a second model for it).
CLASSIFIER_OUTPUT = tuple((name, sql_type) for name, sql_type in RESULT_FIELDS if name != "embedding")


def columns_sql(fields: tuple[tuple[str, str], ...], indent: str = "  ") -> str:
    """``fields`` as a SQL column list, one per line: ``  label STRING,``..."""
    return ",\n".join(f"{indent}{name} {sql_type}" for name, sql_type in fields)
