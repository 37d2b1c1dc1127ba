#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests (docs/dependencies.md §22).
#
#   scripts/pg.sh start   <dir>   initdb (first time) + start on 127.0.0.1:<free port>, create database
#                                 plyr_test; prints PLYR_TEST_PG=postgresql://postgres@127.0.0.1:<port>/plyr_test
#   scripts/pg.sh restart <dir>   fast restart on the same port (reconnect tests: PLYR_TEST_PG_RESTART)
#   scripts/pg.sh stop    <dir>   stop the server and delete <dir>
#   scripts/pg.sh url     <dir>   print the PLYR_TEST_PG line of a running cluster
#
# Usage: export "$(scripts/pg.sh start /tmp/plyr-pg)"; ...; scripts/pg.sh stop /tmp/plyr-pg
# Only the PLYR_TEST_PG line goes to stdout; progress and errors go to stderr. Every command is idempotent.
# The server listens on 127.0.0.1 only, trusts local connections (no password), keeps its Unix socket in
# <dir> and runs with fsync off: never use it for data you want to keep. Run as root, the server binaries run
# as the `postgres` user (initdb refuses root); otherwise as the current user.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB_NAME=plyr_test
MARKER=.plyr-pg

die() {
    echo "pg.sh: $*" >&2
    exit 1
}
note() { echo "pg.sh: $*" >&2; }

usage() {
    echo "usage: scripts/pg.sh start|stop|restart|url <dir>" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
cmd=$1
dir=$(realpath -m -- "$2")
[[ -n "$dir" && "$dir" != "/" ]] || die "refusing to use '$2' as the cluster directory"

data="$dir/data"
log="$dir/server.log"
port_file="$dir/port"

# Run a server binary as the right user.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

require_tools() {
    [[ -x "$PGBIN/initdb" && -x "$PGBIN/pg_ctl" ]] || die "PostgreSQL 15 server binaries not found in $PGBIN (apt-get install postgresql-15)"
    command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client-15)"
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server as"
    fi
}

is_ours() { [[ -f "$dir/$MARKER" ]]; }

is_running() { [[ -f "$data/PG_VERSION" ]] && as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

port_in_use() {
    local port=$1
    # Bash's /dev/tcp connects: success means something listens there.
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

pick_port() {
    local port
    if command -v python3 >/dev/null 2>&1; then
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || true)
        if [[ -n "$port" ]] && ! port_in_use "$port"; then
            echo "$port"
            return
        fi
    fi
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! port_in_use "$port"; then
            echo "$port"
            return
        fi
    done
    die "could not find a free TCP port on 127.0.0.1"
}

server_opts() {
    local port=$1
    echo "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
}

print_url() {
    echo "PLYR_TEST_PG=postgresql://postgres@127.0.0.1:$(cat "$port_file")/$DB_NAME"
}

psql_admin() {
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$port_file")" -U postgres -d postgres "$@"
}

ensure_database() {
    local exists
    exists=$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") || die "cannot query the server (see $log)"
    if [[ "$exists" != "1" ]]; then
        psql_admin -c "CREATE DATABASE $DB_NAME" >/dev/null || die "CREATE DATABASE $DB_NAME failed"
    fi
}

start_server() {
    local port=$1
    as_pg "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 30 -o "$(server_opts "$port")" start >/dev/null
}

cmd_start() {
    require_tools
    if [[ -e "$dir" ]] && ! is_ours; then
        [[ -d "$dir" && -z "$(ls -A "$dir")" ]] || die "$dir exists and is not a pg.sh cluster directory"
    fi
    # The Unix socket path (dir + /.s.PGSQL.NNNNN) must fit in sun_path (107 bytes).
    ((${#dir} <= 80)) || die "directory path too long for a Unix socket: $dir"
    mkdir -p "$dir"
    touch "$dir/$MARKER"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres:postgres "$dir"
        runuser -u postgres -- test -w "$dir" || die "user postgres cannot write $dir (is a parent directory private?)"
    fi

    if is_running; then
        note "already running on port $(cat "$port_file")"
        ensure_database
        print_url
        return
    fi

    if [[ ! -f "$data/PG_VERSION" ]]; then
        note "initdb $data"
        as_pg "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
            die "initdb failed (see $dir/initdb.log)"
    fi

    # Another process may take the port between the check and the bind: try a few.
    local attempt port
    for attempt in 1 2 3 4 5; do
        if [[ -f "$port_file" && $attempt -eq 1 ]]; then
            port=$(cat "$port_file")
            port_in_use "$port" && port=$(pick_port)
        else
            port=$(pick_port)
        fi
        echo "$port" >"$port_file"
        if start_server "$port"; then
            note "started on 127.0.0.1:$port (log: $log)"
            ensure_database
            print_url
            return
        fi
        note "start on port $port failed (attempt $attempt)"
    done
    die "could not start the server (see $log)"
}

cmd_stop() {
    if [[ ! -e "$dir" ]]; then
        note "$dir does not exist: nothing to stop"
        return
    fi
    is_ours || die "$dir is not a pg.sh cluster directory: not touching it"
    if is_running; then
        as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null || die "pg_ctl stop failed (see $log)"
        note "stopped"
    fi
    rm -rf -- "$dir"
}

cmd_restart() {
    require_tools
    if ! is_ours || [[ ! -f "$data/PG_VERSION" || ! -f "$port_file" ]]; then
        die "no cluster in $dir: run 'scripts/pg.sh start $dir' first"
    fi
    local port
    port=$(cat "$port_file")
    if is_running; then
        as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null || die "pg_ctl stop failed (see $log)"
    fi
    start_server "$port" || die "restart on port $port failed (see $log)"
    note "restarted on 127.0.0.1:$port"
}

cmd_url() {
    if ! is_ours || [[ ! -f "$port_file" ]] || ! is_running; then
        die "no running cluster in $dir"
    fi
    print_url
}

case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_restart ;;
    url) cmd_url ;;
    *) usage ;;
esac
