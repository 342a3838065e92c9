#!/usr/bin/env bash
# Runs the test suite (real Flink jobs and real OpenVINO inference). Extra arguments go to pytest.
# Two worker processes (pytest-xdist) share the test files, each file whole in one worker, so a
# module's cluster or MiniCluster fixture lives in one process; much of a Flink test is waiting
# (JVM start, checkpoints, file monitoring). TEST_WORKERS=1 runs everything in this process,
# TEST_WORKERS=4 in four workers.
source "$(dirname "$0")/scripts/bootstrap.sh" test
cd "$root"
workers="${TEST_WORKERS:-2}"
parallel=()
if [ "$workers" != 1 ]; then
    parallel=(-n "$workers" --dist loadfile)
fi
exec "$PY" -m pytest -q -rs "${parallel[@]}" "$@"
