"""Altered copies of photos, made as scripts/altered_copies.py and the near-duplicate benchmark make
them (``bench.near_duplicates.ALTERATIONS``), for the tests of sql/41_near_duplicates.sql
(tests/test_near_duplicates_sql.py on the MiniCluster, tests/test_cluster.py on the cluster)."""

from __future__ import annotations

import random
from pathlib import Path

import cv2

from bench.near_duplicates import ALTERATIONS, ENCODE_QUALITY, JPEG_QUALITY


def altered_copy(source: Path, kind: str, folder: Path) -> Path:
    """``folder/<stem>__<kind>.jpg``: ``source`` altered by ``kind`` (seeded by its name)."""
    target = folder / f"{source.stem}__{kind}.jpg"
    image = ALTERATIONS[kind](cv2.imread(str(source), cv2.IMREAD_COLOR), random.Random(source.name))
    cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, ENCODE_QUALITY.get(kind, JPEG_QUALITY)])
    return target
