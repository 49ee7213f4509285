#!/usr/bin/env bash
# Property-based API testing: schemathesis (pinned, in .venv-api-fuzz) generates requests from the
# OpenAPI description tillgate serves at /openapi.json and sends them to a real `tillgate serve`
# (throw-away SQLite database, free loopback port). It fails on any 5xx and on any response that
# does not match the document's schema for it (or its declared content type).
#
#   scripts/api-fuzz.sh [schemathesis run args...]     e.g. scripts/api-fuzz.sh --include-path-regex readers
#
# Bounded: a fixed seed, API_FUZZ_MAX_EXAMPLES (default 15) cases per operation and phase, and
# API_FUZZ_TIMEOUT seconds for each of the two passes (default 130); about a minute on 2 cores.
# Env: TILLGATE_SKIP_BUILD=1 to reuse an existing build; TILLGATE_BIN=/path/to/tillgate;
#      API_FUZZ_SEED to try other inputs; CARGO_TARGET_DIR is honoured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv-api-fuzz"
REQS=("schemathesis==4.32.5")
STAMP="$VENV/.api-fuzz-reqs"
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "api-fuzz: creating virtualenv at $VENV" >&2
    python3 -m venv "$VENV"
fi
if [[ ! -f "$STAMP" ]] || [[ "$(cat "$STAMP")" != "${REQS[*]}" ]]; then
    echo "api-fuzz: installing ${REQS[*]}" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQS[@]}"
    echo "${REQS[*]}" > "$STAMP"
fi

if [[ -z "${TILLGATE_BIN:-}" ]]; then
    if [[ "${TILLGATE_SKIP_BUILD:-0}" != "1" ]]; then
        echo "api-fuzz: cargo build -p tillgate --bin tillgate" >&2
        cargo build -p tillgate --bin tillgate
    fi
    TILLGATE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tillgate"
fi
if [[ ! -x "$TILLGATE_BIN" ]]; then
    echo "api-fuzz: server binary $TILLGATE_BIN not found" >&2
    exit 2
fi

WORK="$(mktemp -d -t tillgate-api-fuzz.XXXXXX)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
KEY="sk_test_$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(12))')"
BASE="http://127.0.0.1:$PORT"
(cd "$WORK" && exec env TILLGATE_API_KEY="$KEY" RUST_LOG=warn "$TILLGATE_BIN" serve \
    --listen "127.0.0.1:$PORT" --database-url "sqlite://$WORK/tillgate.db" \
    >"$WORK/server.log" 2>&1 </dev/null) &
SERVER_PID=$!
for _ in $(seq 1 300); do
    if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "api-fuzz: tillgate serve exited before answering /healthz:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null

# Two passes over every operation (the event stream, which never ends, excepted):
#  1. as generated: ids are whatever schemathesis makes up (404s), links lead from creates to the
#     created objects (stateful phase);
#  2. seeded: scripts/api-fuzz-seed.py makes real objects (a paid PaymentIntent, its charge and
#     refund, a reader with history, ...) and points each operation's {id} at one, so generated
#     parameters reach real objects. DELETE is left out here so the objects stay for the whole pass.
fuzz() {
    local name="$1"; shift
    echo "api-fuzz: pass '$name': schemathesis against $BASE/openapi.json" >&2
    local status=0
    # From the scratch directory: schemathesis keeps a cache in its working directory. One worker:
    # with two, hypothesis' lambda descriptions (ast.parse in threads) can fail inside CPython 3.11
    # ("AST constructor recursion depth mismatch"), an error of the tool rather than of tillgate.
    (cd "$WORK" && SCHEMATHESIS_HOOKS="$ROOT/scripts/api_fuzz_hooks.py" \
        timeout --signal=INT --kill-after=20 "${API_FUZZ_TIMEOUT:-130}" \
        "$VENV/bin/schemathesis" --no-color "$@" run "$BASE/openapi.json" \
        --header "Authorization: Bearer $KEY" \
        --checks not_a_server_error,response_schema_conformance,content_type_conformance \
        --max-examples "${API_FUZZ_MAX_EXAMPLES:-15}" \
        --seed "${API_FUZZ_SEED:-14}" \
        --workers 1 \
        --request-timeout 20 \
        --exclude-path /v1/events/stream \
        "${EXTRA[@]}") || status=$?
    if (( status != 0 )); then
        if (( status == 124 )); then echo "api-fuzz: pass '$name' hit its time limit" >&2; fi
        echo "api-fuzz: pass '$name' failed (exit $status); server log tail:" >&2
        tail -n 40 "$WORK/server.log" >&2
    fi
    return "$status"
}

EXTRA=(--phases examples,coverage,fuzzing,stateful "$@")
fuzz generated
"$VENV/bin/python" "$ROOT/scripts/api-fuzz-seed.py" "$BASE" "$KEY" "$WORK/seeded.toml"
EXTRA=(--phases examples,coverage,fuzzing --exclude-method DELETE "$@")
fuzz seeded --config-file "$WORK/seeded.toml"
