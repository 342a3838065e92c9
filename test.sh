#!/usr/bin/env bash
# Runs the test suite (real Flink jobs and real OpenVINO inference). Extra arguments go to pytest.
source "$(dirname "$0")/scripts/bootstrap.sh" test
cd "$root"
exec "$PY" -m pytest -q -rs "$@"
