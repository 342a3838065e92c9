"""The classifier as a Flink catalog model, served by the ``openvino`` model provider (Java).

``create_classifier_model(t_env, options)`` is ``sql/21_model.sql`` for Table API programs: it
adds the provider's jar to ``pipeline.jars`` and runs ``CREATE MODEL``. The model's OUTPUT are the
fields of the pandas UDF's result; its WITH options are the ``classify.*`` options without the
prefix (``provider_options``). Then::

    SELECT path, label FROM ML_PREDICT(TABLE images, MODEL image_classifier, DESCRIPTOR(image))
"""

from __future__ import annotations

from typing import Mapping

from pyflink.table import TableEnvironment

from udfs.catalog import sql_string, use_jar
from udfs.config import PREFIX
from udfs.jars import provider_jar_path

PROVIDER = "openvino"

# The model's OUTPUT: the fields of udfs.functions.RESULT_TYPE; sql/21_model.sql declares the
# same (a test keeps the three equal).
MODEL_OUTPUT_COLUMNS = """\
  label STRING,
  class_id INT,
  probability FLOAT,
  top_labels ARRAY<STRING>,
  top_class_ids ARRAY<INT>,
  top_probabilities ARRAY<FLOAT>,
  error STRING"""


# The provider decodes in the task threads (sync) or before batching (async): no decode pool;
# a stuck call is bounded by ML_PREDICT's own async timeout, not by a Python worker's guard.
_PYTHON_ONLY = {"classify.decode-threads", "classify.call-timeout"}


def provider_options(options: Mapping[str, str]) -> dict[str, str]:
    """The provider's WITH options for the ``classify.*`` entries of ``options``: the same keys
    without the prefix, ``classify.model`` as ``preset``. Other keys (Flink options),
    ``classify.decode-threads`` and ``classify.call-timeout`` are left out."""
    result = {}
    for key, value in options.items():
        if key.startswith(PREFIX) and key not in _PYTHON_ONLY:
            key = key[len(PREFIX):]
            result["preset" if key == "model" else key] = value
    return result


def use_provider_jar(t_env: TableEnvironment) -> None:
    """Add the ``openvino`` provider's jar to ``pipeline.jars`` (once; built if needed)."""
    use_jar(t_env, provider_jar_path().as_uri())


def create_classifier_model(
    t_env: TableEnvironment,
    options: Mapping[str, str] | None = None,
    name: str = "image_classifier",
    *,
    temporary: bool = True,
) -> str:
    """``CREATE MODEL name INPUT (image BYTES) OUTPUT (...) WITH ('provider' = 'openvino', ...)``;
    ``options`` are provider options (see ``provider_options``). Returns ``name``."""
    use_provider_jar(t_env)
    with_clause = ",\n  ".join(
        f"{sql_string(k)} = {sql_string(v)}" for k, v in {"provider": PROVIDER, **(options or {})}.items()
    )
    t_env.execute_sql(
        f"""CREATE {"TEMPORARY " if temporary else ""}MODEL {name}
INPUT (image BYTES)
OUTPUT (
{MODEL_OUTPUT_COLUMNS}
) WITH (
  {with_clause}
)"""
    )
    return name
