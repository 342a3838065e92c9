#!/usr/bin/env bash
# What a fresh machine (Python 3.11, Java 17, gcc) lacks, from Debian's packages; run by
# scripts/bootstrap.sh before anything else. Installs the missing ones with apt-get when root or
# with passwordless sudo; otherwise stops at once with the one `apt-get install` line to run.
#
#   scripts/system_packages.sh demo   what ./demo.sh needs: a JDK (javac, jar), npm (ResNet-50)
#   scripts/system_packages.sh test   what ./test.sh needs: the above, plus what the openvino model
#                                     provider's jar packs at build time (JNA's classes and native
#                                     dispatch, libturbojpeg), a Prometheus server for the metrics
#                                     test and ZooKeeper for the cluster's high availability
#
# Each need is checked by what uses it (a command on PATH, the file a build script or the cluster
# reads: JNA_JAR, JNIDISPATCH, TURBOJPEG and ZOOKEEPER_JAR point elsewhere), not by package name,
# so a machine that has them another way is left alone. Reads nothing relative to its own path:
# `bash -s test < scripts/system_packages.sh` works too.
set -euo pipefail

purpose="${1:-test}"
case "$purpose" in
    demo|test) ;;
    *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

missing=()
need_command() {  # need_command <command> <Debian package>
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need_file() {  # need_file <path> <Debian package>
    [ -f "$1" ] || missing+=("$2")
}

check() {
    missing=()
    need_command javac openjdk-17-jdk-headless
    need_command npm npm
    if [ "$purpose" = test ]; then
        need_file "${JNA_JAR:-/usr/share/java/jna.jar}" libjna-java
        need_file "${JNIDISPATCH:-/usr/lib/x86_64-linux-gnu/jni/libjnidispatch.system.so}" libjna-jni
        need_file "${TURBOJPEG:-/usr/lib/x86_64-linux-gnu/libturbojpeg.so.0}" libturbojpeg0
        need_command prometheus prometheus
        need_file "${ZOOKEEPER_JAR:-/usr/share/java/zookeeper.jar}" zookeeper
    fi
}

check
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo)
else
    echo "bootstrap: missing system packages; install them, then run this again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: missing ${missing[*]} (Debian package names) and no apt-get to install them with;" \
         "install their equivalents, then run this again" >&2
    exit 1
fi
echo "bootstrap: installing ${missing[*]} (apt-get)" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
check
if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: still missing after apt-get install: ${missing[*]}" >&2
    exit 1
fi
