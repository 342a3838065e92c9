# Sourced by demo.sh and test.sh (`source scripts/bootstrap.sh demo|test`): installs the system
# packages they need (scripts/system_packages.sh: apt-get when root or with passwordless sudo,
# otherwise it stops with the `apt-get install` line to run), then makes .venv with the project
# installed and the format jar built. Idempotent: reinstalls only when pyproject.toml changed.
# Needs Python 3.10-3.12.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
venv="$root/.venv"

"$root/scripts/system_packages.sh" "${1:-test}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e "$root[test,int8]"
    rm -f "$venv"/.installed-* && touch "$stamp"
fi
"$venv/bin/python" -m udfs.jars >/dev/null
PY="$venv/bin/python"
