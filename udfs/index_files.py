"""Read and write the segment files of the ``image-index`` connector from Python (numpy).

The connector (``provider/src/main/java/dev/flinkimageudfs/index``) stores each committed batch of
vectors as one file, little-endian (``SegmentFormat.java``)::

    header   b"FIIXSEG1" | int32 dimension | int32 n | n bytes UTF-8: the columns
    records  float32[dimension] unit-length vector | int32 m | m bytes: the other columns
    footer   int64 record count | b"FIIXEND1"

The columns text lists the table's physical columns in order, e.g. ```path` VARCHAR(2147483647),
`embedding` VECTOR``; a record's other columns are a null bitmap (one bit per column, in table
order) followed by each non-null stored column (``RowCodec.java``). Committed files are named
``segment-*.fiix``; hidden ``.segment-*.inprogress`` files are not part of the index yet.

``read_index(folder)`` gives every committed vector and row (tests check exactly-once delivery
with it); ``write_segment`` writes a committed file directly (the benchmark's synthetic indexes).
"""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

MAGIC = b"FIIXSEG1"
FOOTER_MAGIC = b"FIIXEND1"

# Flink's serializable type strings -> (struct format, size) for fixed-size columns
_FIXED = {
    "BOOLEAN": ("<?", 1), "TINYINT": ("<b", 1), "SMALLINT": ("<h", 2), "INT": ("<i", 4), "DATE": ("<i", 4),
    "BIGINT": ("<q", 8), "FLOAT": ("<f", 4), "DOUBLE": ("<d", 8),
}
_COLUMN = re.compile(r"`((?:[^`]|``)+)` (.+)")


@dataclass
class Segment:
    path: Path
    vectors: np.ndarray  # (rows, dimension) float32, unit length
    rows: list[dict[str, Any]]  # the other columns by name


def committed_segments(folder: Path) -> list[Path]:
    """The committed segment files of ``folder`` in creation order (none for a missing folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith("segment-") and p.name.endswith(".fiix"))


def parse_columns(layout: str) -> list[tuple[str, str]]:
    """``[(name, type)]`` of a segment's columns text; the vector column's type is ``VECTOR``."""
    columns = []
    for part in re.split(r", (?=`)", layout):  # no stored type contains ", `"
        name, kind = _COLUMN.fullmatch(part).groups()
        columns.append((name.replace("``", "`"), kind))
    return columns


def _read_value(kind: str, data: bytes, offset: int) -> tuple[Any, int]:
    kind = kind.removesuffix(" NOT NULL")
    if kind.startswith("ARRAY<"):
        element, (size,) = kind[len("ARRAY<"):-1], struct.unpack_from("<i", data, offset)
        nulls, offset = data[offset + 4:offset + 4 + (size + 7) // 8], offset + 4 + (size + 7) // 8
        values = []
        for i in range(size):
            if nulls[i // 8] & (1 << (i % 8)):
                values.append(None)
            else:
                value, offset = _read_value(element, data, offset)
                values.append(value)
        return values, offset
    base = kind.split("(")[0].split(" ")[0]
    if base in ("VARCHAR", "CHAR", "BINARY", "VARBINARY", "BYTES", "STRING"):
        (length,) = struct.unpack_from("<i", data, offset)
        raw = data[offset + 4:offset + 4 + length]
        return (raw.decode() if base in ("VARCHAR", "CHAR", "STRING") else raw), offset + 4 + length
    if base == "TIME":
        return struct.unpack_from("<i", data, offset)[0], offset + 4
    if base.startswith("TIMESTAMP"):
        millis, nanos = struct.unpack_from("<qi", data, offset)
        return (millis, nanos), offset + 12
    fmt, size = _FIXED[base]
    return struct.unpack_from(fmt, data, offset)[0], offset + size


def read_segment(path: Path) -> Segment:
    """One segment file, checked like the connector checks it (header, record lengths, footer)."""
    data = Path(path).read_bytes()
    if data[:8] != MAGIC or data[-8:] != FOOTER_MAGIC:
        raise ValueError(f"{path}: not a complete segment file")
    dimension, layout_length = struct.unpack_from("<ii", data, 8)
    columns = parse_columns(data[16:16 + layout_length].decode())
    offset, end = 16 + layout_length, len(data) - 16
    vectors, rows = [], []
    bitmap_bytes = (len(columns) + 7) // 8
    while offset < end:
        vectors.append(np.frombuffer(data, "<f4", dimension, offset))
        offset += 4 * dimension
        (length,) = struct.unpack_from("<i", data, offset)
        offset += 4
        record, position = {}, offset + bitmap_bytes
        for index, (name, kind) in enumerate(columns):
            if kind == "VECTOR":
                continue
            if data[offset + index // 8] & (1 << (index % 8)):
                record[name] = None
            else:
                record[name], position = _read_value(kind, data, position)
        rows.append(record)
        offset += length
    (count,) = struct.unpack_from("<q", data, end)
    if offset != end or count != len(rows):
        raise ValueError(f"{path}: {len(rows)} records but the footer says {count}")
    matrix = np.array(vectors, dtype=np.float32).reshape(len(vectors), dimension)
    return Segment(Path(path), matrix, rows)


def read_index(folder: Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Every committed vector (stacked) and row of the index in ``folder``."""
    segments = [read_segment(p) for p in committed_segments(folder)]
    if not segments:
        return np.zeros((0, 0), np.float32), []
    return np.concatenate([s.vectors for s in segments]), [row for s in segments for row in s.rows]


def write_segment(folder: Path, vectors: np.ndarray, strings: Mapping[str, Sequence[str]],
                  vector_column: str = "embedding") -> Path:
    """A committed segment of ``vectors`` (normalised here) and STRING columns ``strings`` (column
    name -> one value per vector, in table order before the vector column), for a table declared
    ``(<strings> STRING..., <vector_column> ARRAY<FLOAT>)``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.asarray(vectors, dtype=np.float32)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    names = list(strings)
    layout = ", ".join([f"`{n}` VARCHAR(2147483647)" for n in names] + [f"`{vector_column}` VECTOR"]).encode()
    bitmap = bytes((len(names) + 1 + 7) // 8)
    name = f"segment-{int(np.datetime64('now', 'ms').astype(np.int64)):013d}-0-{uuid.uuid4()}.fiix"
    part = folder / f".{name}.inprogress"
    with open(part, "wb") as out:
        out.write(MAGIC + struct.pack("<ii", vectors.shape[1], len(layout)) + layout)
        for i, vector in enumerate(vectors):
            payload = bitmap + b"".join(struct.pack("<i", len(v)) + v for v in
                                        (strings[n][i].encode() for n in names))
            out.write(vector.astype("<f4").tobytes() + struct.pack("<i", len(payload)) + payload)
        out.write(struct.pack("<q", len(vectors)) + FOOTER_MAGIC)
    target = folder / name
    part.rename(target)
    return target
