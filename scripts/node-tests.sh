#!/usr/bin/env bash
# Node suite: the official `stripe` npm library (pinned in tests/node/package-lock.json) against real
# `tillgate serve` processes (each test file starts its own on a free loopback port with a
# throw-away SQLite database, see tests/node/harness.js).
#
#   scripts/node-tests.sh [node --test args...]     e.g. scripts/node-tests.sh --test-name-pattern=refund
#
# Installs tests/node/node_modules with `npm ci` (exactly the lock file), builds the server once
# (cargo build -p tillgate --bin tillgate) and runs `node --test`. Exits non-zero on any failure.
# Env: TILLGATE_SKIP_BUILD=1 to reuse an existing build; TILLGATE_BIN=/path/to/tillgate to test
#      another binary; CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node-tests: node and npm are needed (Node >= 20)" >&2
    exit 2
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if (( major < 20 )); then
    echo "node-tests: Node $(node --version) is too old; the stripe library needs >= 20" >&2
    exit 2
fi

NODE_DIR="$ROOT/tests/node"
STAMP="$NODE_DIR/node_modules/.lock-sha256"
want="$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" ]] || [[ "$(cat "$STAMP")" != "$want" ]]; then
    echo "node-tests: npm ci in tests/node" >&2
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$STAMP"
fi

if [[ -z "${TILLGATE_BIN:-}" ]]; then
    TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
    if [[ "${TILLGATE_SKIP_BUILD:-0}" != "1" ]]; then
        echo "node-tests: cargo build -p tillgate --bin tillgate" >&2
        cargo build -p tillgate --bin tillgate
    fi
    export TILLGATE_BIN="$TARGET/debug/tillgate"
fi
if [[ ! -x "$TILLGATE_BIN" ]]; then
    echo "node-tests: server binary $TILLGATE_BIN not found" >&2
    exit 2
fi

cd "$NODE_DIR"
# One file at a time: each starts its own server, and the machine has few cores.
exec node --test --test-concurrency=1 --test-timeout=120000 "$@" ./*.test.js
