"""Table API helpers to expose a folder of images as a Flink SQL table."""

from __future__ import annotations

import os

from pyflink.common.configuration import Configuration
from pyflink.table import TableEnvironment

from udfs.jars import jar_url

_PIPELINE_JARS = "pipeline.jars"


# The images table's columns; sql/10_images.sql declares the same (a test keeps them equal).
IMAGES_COLUMNS = """\
  image BYTES,
  path STRING NOT NULL METADATA FROM 'file.path',
  name STRING NOT NULL METADATA FROM 'file.name',
  size BIGINT NOT NULL METADATA FROM 'file.size',
  mtime TIMESTAMP_LTZ(3) NOT NULL METADATA FROM 'file.modification-time'"""


def use_format_jar(t_env: TableEnvironment) -> None:
    """Add the jar of the ``whole-file`` connector and format to ``pipeline.jars`` (once)."""
    use_jar(t_env, jar_url())


def use_jar(t_env: TableEnvironment, url: str) -> None:
    """Add the jar at ``url`` (``file://...``) to ``pipeline.jars`` unless it is there."""
    config = t_env.get_config()
    # `flink run` pre-sets the value in Flink's list syntax; parse it rather than split at ';'
    jars = [j for j in Configuration.parse_list_value(config.get(_PIPELINE_JARS, "") or "") if j]
    if url not in jars:
        config.set(_PIPELINE_JARS, ";".join([*jars, url]))


def sql_string(value: str) -> str:
    """Quote ``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def create_images_table(
    t_env: TableEnvironment,
    path: str | os.PathLike[str],
    name: str = "images",
    *,
    monitor_interval: str | None = None,
    max_file_size: str | None = None,
    oversize_handling: str | None = None,
    reader: str = "connector",
    temporary: bool = True,
) -> str:
    """Create a table with one row per file under ``path``; returns its name.

    ``name`` is used as written, so it may be qualified (``cat.db.images``).

    ``monitor_interval`` (e.g. ``'10 s'``) makes a streaming source keep discovering new files.
    ``max_file_size`` / ``oversize_handling`` govern files too big to load. ``reader`` is
    ``connector`` (the ``whole-file`` connector: many files per split, the fast one) or
    ``format`` (the ``filesystem`` connector with the ``whole-file`` format: a split per file);
    both give the same rows.
    """
    use_format_jar(t_env)
    if reader == "connector":
        options, prefix = {"connector": "whole-file", "path": os.fspath(path)}, ""
    elif reader == "format":
        options, prefix = {"connector": "filesystem", "path": os.fspath(path), "format": "whole-file"}, "whole-file."
    else:
        raise ValueError(f"reader: expected 'connector' or 'format', got {reader!r}")
    if monitor_interval is not None:
        options["source.monitor-interval"] = monitor_interval
    if max_file_size is not None:
        options[f"{prefix}max-file-size"] = max_file_size
    if oversize_handling is not None:
        options[f"{prefix}oversize-handling"] = oversize_handling
    with_clause = ",\n  ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in options.items())
    t_env.execute_sql(
        f"""CREATE {"TEMPORARY " if temporary else ""}TABLE {name} (
{IMAGES_COLUMNS}
) WITH (
  {with_clause}
)"""
    )
    return name
