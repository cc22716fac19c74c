#!/usr/bin/env bash
# The strict OpenMetrics parser (the reference implementation: the Python `prometheus_client`
# package) in a virtual environment of its own, target/om-venv, for tests/exposition.rs.
# Prints the interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/om-venv
if ! "$venv/bin/python" -c "import prometheus_client" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet "prometheus_client==0.26.0" >&2
fi
echo "$PWD/$venv/bin/python"
