#!/usr/bin/env bash
# Builds the 'whole-file' format jar with plain javac against the jars of the installed PyFlink,
# so no Maven (and no network) is needed. Prints the jar path on success.
#   PYTHON=/path/to/python format/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$root/udfs/lib/flink-whole-file-format.jar"

for tool in javac jar; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build.sh: '$tool' not found; install a JDK 11+ (e.g. apt-get install openjdk-17-jdk-headless)" >&2
        exit 1
    fi
done

pyflink="$("${PYTHON:-python3}" -c 'import pyflink, os; print(os.path.dirname(pyflink.__file__))')" || {
    echo "build.sh: cannot import pyflink with ${PYTHON:-python3}; set PYTHON to the project's venv python" >&2
    exit 1
}
classpath="$(printf '%s:' "$pyflink"/lib/*.jar "$pyflink"/opt/*.jar)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/classes"
find "$here/src/main/java" -name '*.java' > "$tmp/sources"
javac --release 11 -nowarn -Xlint:none -encoding UTF-8 -cp "$classpath" -d "$tmp/classes" @"$tmp/sources"
cp -R "$here/src/main/resources/." "$tmp/classes/"

mkdir -p "$(dirname "$out")"
jar --create --file "$tmp/flink-whole-file-format.jar" -C "$tmp/classes" .
mv "$tmp/flink-whole-file-format.jar" "$out"
echo "$out"
