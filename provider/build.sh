#!/usr/bin/env bash
# Builds the 'openvino' model provider jar with plain javac, self-contained for a plain Flink:
#   - the provider's classes and META-INF/services entry;
#   - presets.json from `python -m udfs.preset_data` and the packaged labels (one source of truth);
#   - JNA's classes and its native dispatch library (Debian: libjna-java, libjna-jni);
#   - the CPU set of OpenVINO's native libraries from the installed openvino wheel, plus
#     libturbojpeg (Debian: libturbojpeg0), with a MANIFEST of their SHA-256 sums and a fingerprint.
# Nothing native is committed: everything is copied from this machine at build time.
# Prints the jar path on success.   PYTHON=/path/to/venv/python [JAR_DIR=udfs/lib] provider/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../scripts/java_build.sh"  # sets $root and $classpath
python="${PYTHON:-python3}"

jna_jar="${JNA_JAR:-/usr/share/java/jna.jar}"
jnidispatch="${JNIDISPATCH:-/usr/lib/x86_64-linux-gnu/jni/libjnidispatch.system.so}"
turbojpeg="${TURBOJPEG:-/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0}"
for file in "$jna_jar" "$jnidispatch" "$turbojpeg"; do
    if [ ! -f "$file" ]; then
        echo "build: $file not found; install apt packages libjna-java libjna-jni libturbojpeg0" \
             "(or point JNA_JAR, JNIDISPATCH, TURBOJPEG at your copies)" >&2
        exit 1
    fi
done
openvino_libs="$("$python" -c 'import openvino, os; print(os.path.join(os.path.dirname(openvino.__file__), "libs"))')" || {
    echo "build: cannot import openvino with $python; set PYTHON to the project's venv python" >&2
    exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
classes="$tmp/classes"
mkdir -p "$classes"
compile_java "$here/src/main/java" "$classpath:$jna_jar" "$classes"
cp -R "$here/src/main/resources/." "$classes/"

# Presets, option schema and labels, as the Python package has them.
resources="$classes/dev/flinkimageudfs/model"
mkdir -p "$resources/labels"
(cd "$root" && "$python" -m udfs.preset_data) > "$resources/presets.json"
cp "$root"/udfs/labels/*.txt "$resources/labels/"

# JNA: its classes, and its dispatch library where JNA looks inside its own jar.
(cd "$classes" && jar --extract --file "$jna_jar" && rm -f META-INF/MANIFEST.MF)
mkdir -p "$classes/com/sun/jna/linux-x86-64"
cp "$jnidispatch" "$classes/com/sun/jna/linux-x86-64/libjnidispatch.so"

# OpenVINO's runtime for CPU: core, C API, TBB, the CPU plugin, the AUTO/hetero/batch meta-plugins
# and the frontends of the model files udfs.config accepts (IR, ONNX, TFLite, TensorFlow, Paddle).
native="$resources/native/linux-x86-64"
mkdir -p "$native"
(
    cd "$openvino_libs"
    cp libopenvino.so.* libopenvino_c.so.* libtbb.so.* libtbbmalloc.so.* libtbbbind_2_5.so.* libhwloc.so.* \
       libopenvino_intel_cpu_plugin.so libopenvino_auto_plugin.so libopenvino_auto_batch_plugin.so \
       libopenvino_hetero_plugin.so libopenvino_ir_frontend.so.* libopenvino_onnx_frontend.so.* \
       libopenvino_tensorflow_lite_frontend.so.* libopenvino_tensorflow_frontend.so.* \
       libopenvino_paddle_frontend.so.* "$native/"
)
cp "$turbojpeg" "$native/libturbojpeg.so.0"
(
    cd "$native"
    # line 1: a fingerprint of the whole set (the folder they are extracted to); then each file's
    # SHA-256, which NativeLibraries checks before anything is loaded
    sums="$(sha256sum -- *)"
    fingerprint="$(echo "$sums" | sha256sum | cut -c1-16)"
    { echo "$fingerprint"; echo "$sums"; } > "$tmp/MANIFEST"
    mv "$tmp/MANIFEST" MANIFEST
)

# Licences of what the jar carries.
licenses="$classes/META-INF/licenses"
mkdir -p "$licenses"
for package in libjna-java libturbojpeg0; do
    [ -f "/usr/share/doc/$package/copyright" ] && cp "/usr/share/doc/$package/copyright" "$licenses/$package.copyright"
done
"$python" - "$licenses" <<'PY'
import shutil, sys
from importlib import metadata
for file in metadata.distribution("openvino").files or []:
    if "licen" in file.name.lower() or "third-party" in file.name.lower():
        shutil.copy(file.locate(), f"{sys.argv[1]}/openvino-{file.name}")
PY

package_jar "$classes" "${JAR_DIR:-$root/udfs/lib}/flink-openvino-model.jar"
