# Sourced by format/build.sh and provider/build.sh: plain javac against the jars of the installed
# PyFlink (no Maven, no network). Expects $PYTHON (default python3) to import pyflink. Sourcing it
# checks the JDK and sets $root (the checkout) and $classpath (the wheel's Flink jars).

require_jdk() {
    for tool in javac jar; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "build: '$tool' not found; install a JDK 11+ (e.g. apt-get install openjdk-17-jdk-headless)" >&2
            exit 1
        fi
    done
}

# The wheel's Flink jars, ':'-separated.
pyflink_classpath() {
    local pyflink
    # __path__, not __file__: apache-flink-libraries alone (the wheel build's requirement) has no
    # pyflink/__init__.py, so there pyflink is a namespace package.
    pyflink="$("${PYTHON:-python3}" -c 'import pyflink; print(list(pyflink.__path__)[0])')" || {
        echo "build: cannot import pyflink with ${PYTHON:-python3}; set PYTHON to the project's venv python" >&2
        exit 1
    }
    printf '%s:' "$pyflink"/lib/*.jar "$pyflink"/opt/*.jar
}

# compile_java <source root> <classpath> <classes dir>: every .java under the root, Java 11 bytecode.
compile_java() {
    local sources
    sources="$(mktemp)"
    find "$1" -name '*.java' > "$sources"
    javac --release 11 -nowarn -Xlint:none -encoding UTF-8 -cp "$2" -d "$3" @"$sources"
    rm -f "$sources"
}

# package_jar <classes dir> <jar path>: the jar is written beside its target, then moved into place.
package_jar() {
    mkdir -p "$(dirname "$2")"
    jar --create --file "$2.part" -C "$1" .
    mv "$2.part" "$2"
    echo "$2"
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
require_jdk
classpath="$(pyflink_classpath)"
