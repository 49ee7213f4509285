#!/usr/bin/env bash
# The whole test suite, from a fresh machine (Rust toolchain, Python and Node only):
# formatting, lints, every crate's tests, then the official Stripe client libraries (Python, Node)
# against a real server, then schemathesis against the OpenAPI description.
#
#   scripts/test.sh
#
# Installs what the tests need itself: Python packages into .venv (scripts/client-tests.sh) and
# .venv-api-fuzz (scripts/api-fuzz.sh), npm packages into tests/node/node_modules (npm ci);
# Debian packages with apt-get when a suite needs them (see scripts/deps.sh); a throwaway
# PostgreSQL cluster for the PostgreSQL store's tests, stopped at exit (scripts/pg-test-cluster.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

if [[ -x scripts/deps.sh ]]; then
    step "system packages"
    scripts/deps.sh
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "throwaway PostgreSQL cluster (scripts/pg-test-cluster.sh)"
trap 'scripts/pg-test-cluster.sh stop' EXIT
TILLGATE_TEST_POSTGRES_URL="$(scripts/pg-test-cluster.sh start)"
export TILLGATE_TEST_POSTGRES_URL
# The PostgreSQL tests must run here, not skip.
export TILLGATE_REQUIRE_POSTGRES=1

step "cargo test --workspace"
cargo test --workspace

step "client-library suite (stripe-python against tillgate serve)"
scripts/client-tests.sh

step "Node suite (the official stripe npm library against tillgate serve)"
TILLGATE_SKIP_BUILD=1 scripts/node-tests.sh

step "API fuzzing (schemathesis against the OpenAPI description)"
TILLGATE_SKIP_BUILD=1 scripts/api-fuzz.sh
