"""Near-duplicates end to end, as README and ``./demo.sh --duplicates`` run them: the SQL runner
stores photos with sql/40_index.sql (batch), then sql/41_near_duplicates.sql (streaming) watches a
folder: altered copies of the stored photos are flagged with their original, new photos are not,
and a new photo is stored, so a later copy of it is flagged too. Six photos, real ResNet-50.
Both embedding paths in one test: 40 embeds with ML_PREDICT (sql/36_embeddings_ml_predict.sql),
41 with the pandas UDF (sql/36_embeddings.sql), so the copies are found only if both give the
same vectors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from udfs.index_files import read_index

from altered_copies import altered_copy
from conftest import REPO, SHARED, needs_shared, subprocess_env

pytestmark = [pytest.mark.flink, needs_shared]

PHOTOS = SHARED / "images" / "photos"
# Measured cosines of these copies with their originals: 0.91-0.98; between any two of the six
# photos: at most 0.62 (the threshold is 0.8). Copies below 0.8 exist (parrot grayscale: 0.77).
STORED_COPIES = {"dog.jpg": "grayscale", "parrot.jpg": "brightness", "kite_and_cold.jpg": "jpeg",
                 "skimage_astronaut.png": "resize"}  # stored by 40, then one altered copy each arrives
NEW = ("sunflower.bmp", "skimage_motorcycle_left.png")  # never stored before they arrive
LATER_COPY = ("sunflower.bmp", "crop")  # arrives once the stream has stored its original
THRESHOLD = 0.8  # sql/41_near_duplicates.sql
LEAN = ["--no-progress", "--set", "parallelism.default=1"]  # one Python worker: the test's images are few
ML_PREDICT = ["-i", "sql/21_model.sql", "-i", "sql/36_embeddings_ml_predict.sql"]
UDF = ["-i", "sql/20_functions.sql", "-i", "sql/36_embeddings.sql"]


def land(source: Path, folder: Path) -> None:
    """Written under a hidden name, then renamed: the watching source never reads half a file."""
    hidden = folder / f".{source.name}"
    hidden.write_bytes(source.read_bytes())
    hidden.rename(folder / source.name)


def rows(folder: Path) -> dict[str, dict]:
    """The committed JSON lines (in-progress part files start with '.'), by arrival file name."""
    found = {}
    for part in folder.glob("**/[!.]*"):
        if part.is_file():
            for line in part.read_text().splitlines():
                row = json.loads(line)
                found[Path(row["arrival"]).name] = row
    return found


def segments(index: Path) -> list[Path]:
    return sorted(index.glob("segment-*.fiix"))


def test_altered_copies_are_flagged_new_photos_are_stored_then_found(resnet50_model, tmp_path):
    originals, incoming, copies = tmp_path / "originals", tmp_path / "incoming", tmp_path / "copies"
    for folder in (originals, incoming, copies):
        folder.mkdir()
    for name in STORED_COPIES:
        (originals / name).write_bytes((PHOTOS / name).read_bytes())
    index, output = tmp_path / "index", tmp_path / "matches"
    env = subprocess_env(INDEX_DIR=str(index), OUTPUT_DIR=str(output), MONITOR_INTERVAL="500 ms")

    stored = subprocess.run(
        [sys.executable, "-m", "udfs.sql", *LEAN, "-i", "sql/10_images.sql", *ML_PREDICT,
         "-i", "sql/35_index_table.sql", "-f", "sql/40_index.sql"],
        cwd=REPO, env={**env, "IMAGES_DIR": str(originals)}, capture_output=True, text=True, timeout=600)
    assert stored.returncode == 0, stored.stderr[-3000:]
    assert [p.name for p in index.iterdir() if p.name.startswith(".")] == [], "a batch job leaves no in-progress file"
    stored_segments = len(segments(index))
    assert stored_segments >= 1

    runner = subprocess.Popen(
        [sys.executable, "-m", "udfs.sql", *LEAN, "--mode", "streaming",
         "--set", "execution.checkpointing.interval=2s", "-i", "sql/10_images.sql", "-i", "sql/15_watch_images.sql",
         *UDF, "-i", "sql/35_index_table.sql", "-f", "sql/41_near_duplicates.sql"],
        cwd=REPO, env={**env, "IMAGES_DIR": str(incoming)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_for(condition, what: str, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert runner.poll() is None, f"the streaming job ended ({runner.returncode}) waiting for {what}: {runner.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, f"no {what} after {seconds} s"
            time.sleep(0.5)

    first = [altered_copy(PHOTOS / name, kind, copies) for name, kind in STORED_COPIES.items()]
    first += [PHOTOS / name for name in NEW]
    broken = copies / "broken.jpg"  # no embedding: a row all the same (nothing found), not stored
    broken.write_bytes(b"\xff\xd8 not a JPEG after all")
    later = altered_copy(PHOTOS / LATER_COPY[0], LATER_COPY[1], copies)
    try:
        for source in [*first, broken]:
            land(source, incoming)
        wait_for(lambda: len(rows(output)) == len(first) + 1, f"a row for each of the {len(first) + 1} first arrivals")
        # the stream stores its arrivals: the new photos' segments are committed before the later copy lands
        wait_for(lambda: len(segments(index)) > stored_segments, "the arrivals stored in the index")
        time.sleep(2)  # the search's refresh interval (1 s in sql/35_index_table.sql), with margin
        land(later, incoming)
        wait_for(lambda: len(rows(output)) == len(first) + 2, f"a row for {later.name}")
        arrivals = {str(incoming / p.name) for p in [*first, later]}
        wait_for(lambda: arrivals <= {row["path"] for row in read_index(index)[1]}, "every arrival stored")
    finally:
        runner.send_signal(signal.SIGINT)
        stderr = runner.communicate(timeout=120)[1]
    assert "Traceback" not in stderr, stderr[-3000:]
    stray = [p.name for p in index.iterdir() if p.name.startswith(".")]
    assert stray == [], "every stored row was committed: no in-progress segment may be left"
    assert len(read_index(index)[1]) == len(STORED_COPIES) + len(first) + 1, "each image stored once"

    found = rows(output)
    assert sorted(found) == sorted(p.name for p in [*first, broken, later]), "every arrival has one row"
    assert found["broken.jpg"] | {"arrival": None} == {"arrival": None, "nearest": None, "score": None,
                                                      "near_duplicate": False}
    for name, kind in [*STORED_COPIES.items(), LATER_COPY]:
        row = found[f"{Path(name).stem}__{kind}.jpg"]
        assert Path(row["nearest"]).name == name, row
        assert row["score"] >= THRESHOLD and row["near_duplicate"] is True, row
    for name in NEW:
        row = found[name]
        assert row["near_duplicate"] is False, row
        assert row["score"] is None or row["score"] < THRESHOLD, row
