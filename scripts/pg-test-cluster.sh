#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory, trust
# authentication, listening on loopback at a free port and on a unix socket in that directory,
# with a database `tillgate_test` created.
#
#   scripts/pg-test-cluster.sh start   # prints the database URL
#   scripts/pg-test-cluster.sh url     # prints the URL of the running cluster
#   scripts/pg-test-cluster.sh stop    # stops it and removes the directory
#
# The cluster's directory is remembered in $TILLGATE_PG_STATE (default: a file under
# ${TMPDIR:-/tmp} named for this user and this checkout), so `url` and `stop` find it.
# initdb refuses to run as root: as root, the cluster is owned by and run as the `postgres` user
# (Debian's package creates it) or else `nobody`, through runuser.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="${TMPDIR:-/tmp}"
STATE="${TILLGATE_PG_STATE:-$TMP/tillgate-pg-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).state}"
DB=tillgate_test

bin_dir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return 0
        fi
    done
    echo "pg-test-cluster: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2
    return 1
}

# Runs a command as the cluster's owner (the current user unless root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

pick_owner() {
    OWNER="$(id -un)"
    if [[ $(id -u) -eq 0 ]]; then
        if id postgres >/dev/null 2>&1; then OWNER=postgres; else OWNER=nobody; fi
    fi
}

free_port() {
    local port
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "pg-test-cluster: no free port found" >&2
    return 1
}

url_of() {
    local dir="$1"
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/$DB"
}

running_dir() {
    [[ -f "$STATE" ]] || return 1
    local dir
    dir="$(cat "$STATE")"
    [[ -f "$dir/data/postmaster.pid" ]] || return 1
    echo "$dir"
}

start() {
    local dir
    if dir="$(running_dir)"; then
        url_of "$dir"
        return 0
    fi
    local bin
    bin="$(bin_dir)"
    pick_owner
    dir="$(mktemp -d "$TMP/tillgate-pg.XXXXXX")"
    chmod 755 "$dir"
    mkdir "$dir/data" "$dir/socket"
    if [[ $(id -u) -eq 0 ]]; then chown "$OWNER" "$dir/data" "$dir/socket"; fi
    chmod 700 "$dir/data"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        return 1
    }
    local port tries=0
    while :; do
        port="$(free_port)"
        echo "$port" >"$dir/port"
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 30 \
            -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=32MB" \
            start >"$dir/pg_ctl.log" 2>&1; then
            break
        fi
        tries=$((tries + 1))
        if [[ $tries -ge 5 ]]; then
            cat "$dir/pg_ctl.log" "$dir/data/server.log" >&2 || true
            return 1
        fi
    done
    echo "$dir" >"$STATE"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DB"
    url_of "$dir"
}

stop() {
    [[ -f "$STATE" ]] || return 0
    local dir bin
    dir="$(cat "$STATE")"
    bin="$(bin_dir)"
    pick_owner
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    case "$dir" in
        "$TMP"/tillgate-pg.*) rm -rf "$dir" ;;
    esac
    rm -f "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url)
        dir="$(running_dir)" || {
            echo "pg-test-cluster: not running (scripts/pg-test-cluster.sh start)" >&2
            exit 1
        }
        url_of "$dir"
        ;;
    *)
        echo "usage: $0 start|stop|url" >&2
        exit 2
        ;;
esac
