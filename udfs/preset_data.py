"""The model presets and the ``classify.*`` option schema as JSON, for the Java model provider.

``python -m udfs.preset_data`` prints the document; ``provider/build.sh`` packs it into the
``openvino`` provider's jar, so Java reads the same presets (preprocessing, labels, expected
accuracy) and the same option defaults, ranges and descriptions as ``udfs.presets`` and
``udfs.config``, and the shared rules of ``udfs.rules`` (error texts, labels parsing, softmax
detection): one source of truth, no copy to keep in step.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from udfs import config, presets, rules


def _preset(entry: presets.ModelEntry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    data["meta"] = dict(entry.meta)
    data["offers_int8"] = entry.offers_int8
    return data


def _option(option: config.Option) -> dict[str, Any]:
    default = option.default
    if isinstance(default, Path):
        default = None  # a path on this machine means nothing on a TaskManager: Java computes it
    return {
        "key": option.key,
        "type": option.type_name,
        "default": default,
        "description": option.description,
        "choices": list(option.choices) if option.choices is not None else None,
        "minimum": option.minimum,
        "maximum": option.maximum,
    }


def preset_document() -> dict[str, Any]:
    """Presets, the default preset and the option schema, JSON-ready."""
    return {
        "default_preset": presets.DEFAULT,
        "presets": {name: _preset(entry) for name, entry in presets.PRESETS.items()},
        "options": [_option(option) for option in config.OPTIONS],
        "rules": rules.rules_document(),
    }


if __name__ == "__main__":
    print(json.dumps(preset_document(), indent=1, sort_keys=True))
