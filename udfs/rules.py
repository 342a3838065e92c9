"""What the pandas UDF and the Java model provider must do alike, besides presets and options.

``python -m udfs.preset_data`` puts these into ``presets.json`` (its ``rules`` entry), which the
provider's jar carries, so the two paths read one copy: the text of every error a bad image gets
on both paths, how a labels file is split into class names, and how "auto" recognises a model
that already ends in a softmax by inferring a grey image. The golden table of test cases
(``tests/golden.py``) holds both paths to them.
"""

from __future__ import annotations

import re
from typing import Mapping

# The images table reads a file over its max-file-size, or one that vanished or changed after it
# was listed, as a row with a NULL image.
NULL_IMAGE_ERROR = (
    "image is NULL (no bytes: the images table reads a file over its max-file-size, or one that "
    "vanished or changed after it was listed, as NULL; its file.read-error column says which)"
)

# Error texts for images refused before decoding, as str.format templates (Java fills them the
# same way: each {name} replaced by its value). A row's error starts with the text before ':'.
ERRORS: Mapping[str, str] = {
    "empty": "empty input: 0 bytes",
    "too_many_bytes": "too many bytes: {size} > max {max}",
    "too_many_pixels": "too many pixels: declared {width}x{height} > max {max}",
    "too_many_decoded_bytes": (
        "too many bytes to decode: declared {width}x{height}, {channels} channels of {sample_bytes} bytes "
        "= {bytes} > max {max} (3 x max-pixels)"
    ),
    "too_many_scans": "too many scans: JPEG with more than {max} scans > max {max}",
    "past_end_of_file": (
        "truncated or corrupt TIFF: {part} {index} declares {count} bytes at offset {offset}, "
        "past the end of the file ({size} bytes)"
    ),
}

# A labels file: one class name per line, line i = class i. Lines end with \n, \r\n or \r; a final
# line break ends the last line (it does not add an empty class name).
LABEL_LINE_BREAK = r"\r\n|\n|\r"

# output_activation "auto" on the Java side (whose C API cannot look at the graph): infer an image
# of this grey value; scores all >= MIN_SCORE and summing to 1 within SUM_TOLERANCE mean the
# graph already ends in a softmax. (The Python side looks at the graph's last operation.)
SOFTMAX_PROBE = {"grey": 128, "min_score": -1e-6, "sum_tolerance": 0.02}


def error(kind: str, **values: object) -> str:
    """The error text ``kind`` of ``ERRORS`` with ``values`` filled in."""
    return ERRORS[kind].format(**values)


def split_labels(text: str) -> list[str]:
    """Class names of a labels file's text (see ``LABEL_LINE_BREAK``)."""
    labels = re.split(LABEL_LINE_BREAK, text)
    if labels and labels[-1] == "":
        labels.pop()
    return labels


def rules_document() -> dict[str, object]:
    """The rules as JSON-ready data, for ``udfs.preset_data``."""
    return {"null_image_error": NULL_IMAGE_ERROR, "errors": dict(ERRORS), "label_line_break": LABEL_LINE_BREAK,
            "softmax_probe": SOFTMAX_PROBE}
