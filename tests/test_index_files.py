"""``udfs.index_files`` (no JVM): the segment layout round-trips, and an incomplete file is refused.
The connector reading these files is tested through Flink in ``tests/test_image_index.py``."""

from __future__ import annotations

import numpy as np
import pytest

from udfs.index_files import committed_segments, parse_columns, read_index, read_segment, write_segment


def test_written_segment_reads_back_normalised(tmp_path):
    vectors = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    path = write_segment(tmp_path, vectors, {"path": [f"p{i}" for i in range(5)], "label": list("abcde")})
    assert committed_segments(tmp_path) == [path] and not list(tmp_path.glob(".*"))
    segment = read_segment(path)
    np.testing.assert_allclose(segment.vectors, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), rtol=1e-6)
    assert segment.rows == [{"path": f"p{i}", "label": "abcde"[i]} for i in range(5)]
    stacked, rows = read_index(tmp_path)
    assert stacked.shape == (5, 6) and len(rows) == 5


def test_truncated_segment_is_refused(tmp_path):
    path = write_segment(tmp_path, np.ones((2, 3)), {"path": ["a", "b"]})
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="not a complete segment file"):
        read_segment(path)


def test_columns_text_with_parametrised_types():
    layout = "`path` VARCHAR(2147483647), `t` TIMESTAMP(3) WITH LOCAL TIME ZONE, `tags` ARRAY<VARCHAR(2147483647)>, `e` VECTOR"
    assert parse_columns(layout) == [("path", "VARCHAR(2147483647)"), ("t", "TIMESTAMP(3) WITH LOCAL TIME ZONE"),
                                     ("tags", "ARRAY<VARCHAR(2147483647)>"), ("e", "VECTOR")]
