"""Settings as text: YAML config files and ``KEY=VALUE`` command-line entries, flattened to the
``{dotted.key: string}`` form Flink reads. No PyFlink imports, so the cluster driver and the
benchmarks' Spark/Ray/Daft processes use it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml

from udfs.package_data import data_path

JOB_CONF = data_path("conf/job.yaml")


def read_config_file(path: Path) -> dict[str, str]:
    """Flat ``key: value`` settings of a YAML file, as Flink reads its ``config.yaml``: nested maps
    are joined with dots, lists become Flink's list syntax (``a;b``), booleans ``true``/``false``."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read settings file '{path}': {error}") from None
    if not isinstance(document, Mapping):
        raise ValueError(f"settings file '{path}': expected a mapping of keys to values")
    return {key: flink_value(value) for key, value in flatten(document)}


def flatten(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) pairs of a nested YAML mapping."""
    for key, value in node.items():
        if isinstance(value, Mapping):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def flink_value(value: Any) -> str:
    """A YAML value as the string Flink's configuration parses."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ";".join(flink_value(item) for item in value)  # Flink's list separator
    return str(value)


def parse_key_values(entries: Iterable[str], flag: str = "-D") -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; an entry without ``=`` or with an empty
    key is an error naming it (``flag`` says which command-line option it came from)."""
    values: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} {entry!r}: expected KEY=VALUE")
        values[key.strip()] = value
    return values
