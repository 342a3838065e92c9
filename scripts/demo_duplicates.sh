#!/usr/bin/env bash
# ./demo.sh --duplicates (run through demo.sh, which prepares .venv and ResNet-50): near-duplicate
# detection in a stream over samples/images, in three steps, everything under out/duplicates/.
#   1. sql/40_index.sql (batch) stores the embeddings of 7 of the 8 sample images in out/duplicates/index;
#   2. scripts/altered_copies.py makes altered copies of all 8 (JPEG quality 20, crop, resize,
#      brightness/contrast, grayscale);
#   3. sql/41_near_duplicates.sql (streaming) watches out/duplicates/incoming, where the 8th
#      original lands first, then, once it is stored, the copies, one every half second: each row
#      printed is an arrival, its nearest stored image, the cosine and the near-duplicate flag.
#      The copies of the 8th image find it: the stream stored it. The job is stopped (Ctrl-C) when
#      every arrival has its row, and a summary follows.
# Extra arguments go to `python -m udfs.sql`.
source "$(dirname "$0")/bootstrap.sh"
cd "$root"

work="$root/out/duplicates"
rm -rf "$work"
mkdir -p "$work/originals" "$work/incoming"
export INDEX_DIR="$work/index" OUTPUT_DIR="$work/matches" MONITOR_INTERVAL="500 ms"
held_out="skimage_rocket.jpg"
for image in samples/images/*; do
    [ "$(basename "$image")" = "$held_out" ] || cp "$image" "$work/originals/"
done

echo "demo: 1/3 storing the embeddings of $(ls "$work/originals" | wc -l) sample images in $INDEX_DIR"
IMAGES_DIR="$work/originals" "$PY" -m udfs.sql --no-progress "$@" \
    -i sql/10_images.sql -i sql/20_functions.sql -i sql/35_index_table.sql -f sql/40_index.sql
stored=$(ls "$INDEX_DIR"/segment-*.fiix | wc -l)

echo "demo: 2/3 altered copies"
"$PY" scripts/altered_copies.py samples/images "$work/altered"
expected=$(( $(ls "$work/altered" | wc -l) + 1 ))

echo "demo: 3/3 streaming: $held_out (not stored yet), then the copies, land in $work/incoming"
set -m  # the job in its own process group, with the default SIGINT handling (it cancels the job)
IMAGES_DIR="$work/incoming" "$PY" -m udfs.sql --mode streaming --set execution.checkpointing.interval=2s "$@" \
    -i sql/10_images.sql -i sql/15_watch_images.sql -i sql/20_functions.sql -i sql/35_index_table.sql \
    -f sql/41_near_duplicates.sql &
job=$!
trap 'kill -INT $job 2>/dev/null; wait $job' INT TERM

land() {  # copy under a hidden name, then rename: the watcher never reads half a file
    cp "$1" "$work/incoming/.$(basename "$1")" && mv "$work/incoming/.$(basename "$1")" "$work/incoming/$(basename "$1")"
}
rows() {
    find "$OUTPUT_DIR" -type f ! -name '.*' -exec cat {} + 2>/dev/null | grep -c . || true
}
land "samples/images/$held_out"
# the held-out original is stored (a new committed segment) before its copies arrive
while [ "$(ls "$INDEX_DIR"/segment-*.fiix | wc -l)" -le "$stored" ] && kill -0 $job 2>/dev/null; do sleep 1; done
for copy in "$work/altered"/*; do
    land "$copy"
    sleep 0.5
done
while [ "$(rows)" -lt "$expected" ] && kill -0 $job 2>/dev/null; do sleep 1; done
kill -INT $job 2>/dev/null
wait $job 2>/dev/null

"$PY" - "$OUTPUT_DIR" <<'PY'
import json, sys
from pathlib import Path
rows = [json.loads(line) for f in sorted(Path(sys.argv[1]).rglob("*")) if f.is_file() and not f.name.startswith(".")
        for line in f.read_text().splitlines() if line.strip()]
print(f"\n{'arrival':40} {'nearest stored image':28} {'cosine':>7}  near-duplicate")
for row in sorted(rows, key=lambda r: r["arrival"]):
    nearest = Path(row["nearest"]).name if row["nearest"] else "-"
    score = f"{row['score']:.3f}" if row["score"] is not None else "-"
    print(f"{Path(row['arrival']).name:40} {nearest:28} {score:>7}  {row['near_duplicate']}")
flagged = sum(r["near_duplicate"] for r in rows)
print(f"\n{flagged} of {len(rows)} arrivals flagged as near-duplicates")
PY
