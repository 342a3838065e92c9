"""The classifier as a Flink catalog model, served by the ``openvino`` model provider (Java).

``create_classifier_model(t_env, options)`` is ``sql/21_model.sql`` for Table API programs: it
adds the provider's jar to ``pipeline.jars`` and runs ``CREATE MODEL``. The model's OUTPUT are the
fields of the pandas UDF's result (``embedding`` only when asked: the provider reads it only when
OUTPUT lists it); its WITH options are the ``classify.*`` options without the prefix
(``provider_options``). Then::

    SELECT path, label FROM ML_PREDICT(TABLE images, MODEL image_classifier, DESCRIPTOR(image))
"""

from __future__ import annotations

from typing import Mapping

from pyflink.table import TableEnvironment

from udfs.catalog import sql_string, use_jar
from udfs.config import PREFIX
from udfs.jars import provider_jar_path
from udfs.result import CLASSIFIER_OUTPUT, RESULT_FIELDS, columns_sql

PROVIDER = "openvino"

# The model's OUTPUT: the result's fields but the embedding (udfs.result); sql/21_model.sql
# declares the same (tests/test_result_declaration.py).
MODEL_OUTPUT_COLUMNS = columns_sql(CLASSIFIER_OUTPUT)
EMBEDDING_COLUMN = columns_sql(tuple((n, t) for n, t in RESULT_FIELDS if n == "embedding"), indent="")


# The provider decodes in the task threads (sync) or before batching (async): no decode pool;
# a stuck call is bounded by ML_PREDICT's own async timeout, not by a Python worker's guard; it
# gives the embedding when OUTPUT lists it, not through an option.
_PYTHON_ONLY = {"classify.decode-threads", "classify.call-timeout", "classify.embedding"}


def provider_options(options: Mapping[str, str]) -> dict[str, str]:
    """The provider's WITH options for the ``classify.*`` entries of ``options``: the same keys
    without the prefix. Other keys (Flink options), ``classify.decode-threads``,
    ``classify.call-timeout`` and ``classify.embedding`` are left out."""
    return {key[len(PREFIX):]: value for key, value in options.items()
            if key.startswith(PREFIX) and key not in _PYTHON_ONLY}


def use_provider_jar(t_env: TableEnvironment) -> None:
    """Add the ``openvino`` provider's jar to ``pipeline.jars`` (once; built if needed)."""
    use_jar(t_env, provider_jar_path().as_uri())


def create_classifier_model(
    t_env: TableEnvironment,
    options: Mapping[str, str] | None = None,
    name: str = "image_classifier",
    *,
    temporary: bool = True,
    embedding: bool = False,
) -> str:
    """``CREATE MODEL name INPUT (image BYTES) OUTPUT (...) WITH ('provider' = 'openvino', ...)``;
    ``options`` are provider options (see ``provider_options``); ``embedding`` adds the
    ``embedding`` column to OUTPUT. Returns ``name``."""
    columns = MODEL_OUTPUT_COLUMNS + (f",\n  {EMBEDDING_COLUMN}" if embedding else "")
    use_provider_jar(t_env)
    with_clause = ",\n  ".join(
        f"{sql_string(k)} = {sql_string(v)}" for k, v in {"provider": PROVIDER, **(options or {})}.items()
    )
    t_env.execute_sql(
        f"""CREATE {"TEMPORARY " if temporary else ""}MODEL {name}
INPUT (image BYTES)
OUTPUT (
{columns}
) WITH (
  {with_clause}
)"""
    )
    return name
