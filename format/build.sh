#!/usr/bin/env bash
# Builds the 'whole-file' format jar with plain javac against the jars of the installed PyFlink,
# so no Maven (and no network) is needed. Prints the jar path on success.
#   PYTHON=/path/to/python [JAR_DIR=udfs/lib] format/build.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../scripts/java_build.sh"  # sets $root and $classpath

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/classes"
compile_java "$here/src/main/java" "$classpath" "$tmp/classes"
cp -R "$here/src/main/resources/." "$tmp/classes/"
package_jar "$tmp/classes" "${JAR_DIR:-$root/udfs/lib}/flink-whole-file-format.jar"
