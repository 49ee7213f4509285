#!/usr/bin/env bash
# Client-library suite: the official `stripe` Python library against a real tillgate server.
#
#   scripts/client-tests.sh [pytest args...]      e.g. scripts/client-tests.sh -k refunds -x
#
# Creates .venv (if missing), installs the pinned client libraries, builds the server once
# (cargo build -p tillgate) and runs pytest on tests/client. Exits non-zero on any failure.
# Env: TILLGATE_SKIP_BUILD=1 to reuse an existing target/debug/tillgate;
#      TILLGATE_BIN=/path/to/tillgate to test another binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
REQS=("stripe>=16,<17" "pytest>=8,<10" "pytest-timeout>=2,<3" "requests>=2.31,<3")
STAMP="$VENV/.client-tests-reqs"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "client-tests: creating virtualenv at $VENV" >&2
    python3 -m venv "$VENV"
fi
if [[ ! -f "$STAMP" ]] || [[ "$(cat "$STAMP")" != "${REQS[*]}" ]]; then
    echo "client-tests: installing ${REQS[*]}" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQS[@]}"
    echo "${REQS[*]}" > "$STAMP"
fi

if [[ -z "${TILLGATE_BIN:-}" ]]; then
    if [[ "${TILLGATE_SKIP_BUILD:-0}" != "1" ]]; then
        echo "client-tests: cargo build -p tillgate" >&2
        cargo build -p tillgate
    fi
    export TILLGATE_BIN="$ROOT/target/debug/tillgate"
fi
if [[ ! -x "$TILLGATE_BIN" ]]; then
    echo "client-tests: server binary $TILLGATE_BIN not found" >&2
    exit 2
fi

exec "$VENV/bin/python" -m pytest tests/client -q "$@"
