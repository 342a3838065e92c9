# Sourced by demo.sh and test.sh: makes .venv with the project installed and the format jar built.
# Idempotent: reinstalls only when pyproject.toml changed. Needs Python 3.10-3.12 and a JDK 11+.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
venv="$root/.venv"

if ! command -v javac >/dev/null 2>&1; then
    echo "bootstrap: javac not found. Install a JDK 11+ (Debian/Ubuntu: apt-get install -y openjdk-17-jdk-headless)." >&2
    exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e "$root[test,int8]"
    rm -f "$venv"/.installed-* && touch "$stamp"
fi
"$venv/bin/python" -m udfs.format_jar >/dev/null
PY="$venv/bin/python"
