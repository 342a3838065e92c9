#!/usr/bin/env bash
# The main job: runs sql/10_images.sql, sql/20_functions.sql and sql/30_classify.sql on the embedded
# MiniCluster over samples/images, printing every prediction and the job runtime; JSON lines go to
# out/predictions (or $OUTPUT_DIR). Extra arguments go to `python -m udfs.sql` (e.g. --set
# classify.top-k=3).
#
#   ./demo.sh               batch: classify samples/images (or $IMAGES_DIR) once
#   ./demo.sh --streaming   watch out/incoming (or $IMAGES_DIR) and classify each file that lands
#                           there; Ctrl-C stops. JSON lines are committed at each checkpoint (10 s).
#
# Model: ResNet-50 once fetched (`.venv/bin/python -m udfs.models fetch resnet50`, needs internet);
# otherwise the MobileNetV2 model from ../shared/models when present.
source "$(dirname "$0")/scripts/bootstrap.sh"
cd "$root"

streaming=false
if [ "${1:-}" = "--streaming" ]; then
    streaming=true
    shift
fi

model_args=()
if ! "$PY" -c "from udfs.config import load_config; from udfs.models import resolve_model_path; resolve_model_path(load_config({}))" 2>/dev/null; then
    shared_model="$(dirname "$root")/shared/models/mobilenet_v2_1.0_224_quant.tflite"
    if [ -f "$shared_model" ]; then
        echo "demo: ResNet-50 not fetched; using $shared_model (run '$PY -m udfs.models fetch resnet50' for ResNet-50)"
        model_args=(--set classify.model=mobilenet_v2_quant --set "classify.model-path=$shared_model")
    fi
fi

if [ -z "${OUTPUT_DIR:-}" ]; then
    export OUTPUT_DIR="$root/out/predictions"
    rm -rf "$OUTPUT_DIR"
fi
if $streaming; then
    export IMAGES_DIR="${IMAGES_DIR:-$root/out/incoming}" MONITOR_INTERVAL="${MONITOR_INTERVAL:-1 s}"
    mkdir -p "$IMAGES_DIR"
    echo "demo: watching $IMAGES_DIR: copy images into it, e.g. cp samples/images/* '$IMAGES_DIR'/" \
         "(each file is read once, when found: write big files elsewhere and mv them in). Ctrl-C stops." >&2
    run_args=(--mode streaming --set execution.checkpointing.interval=10s
              -i sql/10_images.sql -i sql/15_watch_images.sql -i sql/20_functions.sql -f sql/30_classify.sql)
else
    export IMAGES_DIR="${IMAGES_DIR:-$root/samples/images}"
    run_args=(-i sql/10_images.sql -i sql/20_functions.sql -f sql/30_classify.sql)
fi
exec "$PY" -m udfs.sql "${model_args[@]}" "$@" "${run_args[@]}"
