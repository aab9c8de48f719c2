#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite (not the system service).
#
# Usage: scripts/test-postgres.sh start|stop|halt|url
#   start  initdb (first time) and start the server; print its SQLAlchemy URL on stdout.
#          Idempotent: when it is already running, only print the URL.
#   stop   stop the server and delete the cluster (it holds only test databases).
#   halt   stop the server at once and keep the cluster: `start` resumes it with its data
#          (tests that take the database away in the middle of a run).
#   url    print the URL of the running server (exit 1 when it is not running).
#
# The cluster lives in $BLANKETT_PG_DIR (default: ${TMPDIR:-/tmp}/blankett-test-pg-<uid>). It
# listens on a Unix socket in that directory and on 127.0.0.1 at the first free port from
# $BLANKETT_PG_PORT (default 54329), with trust authentication and fsync off (test data only),
# and has a database blankett_test. A second, separate cluster (one a test may stop without
# disturbing the shared one): set both, e.g. BLANKETT_PG_DIR=/tmp/my-pg BLANKETT_PG_PORT=55439. initdb refuses to run as root, so when run as root the
# cluster belongs to the `postgres` user (Debian's package creates it); otherwise the cluster
# belongs to the calling user. The superuser role is `postgres` either way.
# Messages go to stderr; stdout carries only the URL.
set -euo pipefail

DB_NAME=blankett_test
DB_USER=postgres
FIRST_PORT=${BLANKETT_PG_PORT:-54329}
PORT_TRIES=20          # ports FIRST_PORT .. FIRST_PORT+19 are tried when one is taken
START_TIMEOUT_S=30     # pg_ctl -w waits this long for the server to accept connections

say() { echo "test-postgres: $*" >&2; }
die() { say "$*"; exit 1; }

# --- where things are -------------------------------------------------------------------------
PGBIN=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then PGBIN=$d; break; fi
done
if [ -z "$PGBIN" ] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
  PGBIN=$(dirname "$(command -v initdb)")
fi
[ -n "$PGBIN" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install Debian's postgresql: bash scripts/setup-system.sh)"

if [ "$(id -u)" = 0 ]; then
  OWNER=postgres
  id -u "$OWNER" >/dev/null 2>&1 || die "running as root but there is no '$OWNER' user to own the cluster"
  if command -v runuser >/dev/null; then
    as_owner() { runuser -u "$OWNER" -- "$@"; }
  else
    as_owner() { su -s /bin/sh "$OWNER" -c "$(printf '%q ' "$@")"; }
  fi
else
  OWNER=$(id -un)
  as_owner() { "$@"; }
fi

TMP_PARENT=${TMPDIR:-/tmp}
# As root the cluster belongs to postgres, which may not be able to enter root's own $TMPDIR.
if [ "$TMP_PARENT" != /tmp ] && ! as_owner test -w "$TMP_PARENT" -a -x "$TMP_PARENT" 2>/dev/null; then
  TMP_PARENT=/tmp
fi
BASE=${BLANKETT_PG_DIR:-$TMP_PARENT/blankett-test-pg-$(id -u)}
DATA=$BASE/data
LOG=$BASE/server.log
PORT_FILE=$BASE/port

url_for() { echo "postgresql+psycopg://$DB_USER@127.0.0.1:$1/$DB_NAME"; }

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

port_busy() {  # something accepts TCP connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

psql_local() {  # psql over the cluster's Unix socket
  as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$BASE" -p "$(cat "$PORT_FILE")" -U "$DB_USER" -d postgres "$@"
}

# --- commands ---------------------------------------------------------------------------------
cmd_start() {
  if running && [ -f "$PORT_FILE" ]; then
    url_for "$(cat "$PORT_FILE")"
    return 0
  fi
  mkdir -p "$BASE"
  if [ "$OWNER" != "$(id -un)" ]; then chown "$OWNER" "$BASE"; fi
  chmod 700 "$BASE"
  as_owner test -w "$BASE" || die "$BASE is not writable by $OWNER (is its parent directory traversable? set BLANKETT_PG_DIR)"

  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"
    # --no-sync: nothing here needs to survive a crash; C locale with UTF-8 encoding so that
    # å ä ö are stored as they are and sorting does not depend on the machine's locales.
    as_owner "$PGBIN/initdb" -D "$DATA" -U "$DB_USER" --auth=trust --encoding=UTF8 --no-locale \
      --no-sync >"$BASE/initdb.log" 2>&1 || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
    # Test settings: speed over durability (the data is thrown away after the run).
    as_owner sh -c "cat >> '$DATA/postgresql.conf'" <<EOF

# blankett test cluster (scripts/test-postgres.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$BASE'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
EOF
  fi

  local port=$FIRST_PORT tries=0
  while port_busy "$port"; do
    tries=$((tries + 1))
    [ "$tries" -lt "$PORT_TRIES" ] || die "no free port in $FIRST_PORT..$((FIRST_PORT + PORT_TRIES - 1))"
    port=$((port + 1))
  done
  # A server killed without cleanup leaves its pid file; pg_ctl status said it is not running.
  rm -f "$DATA/postmaster.pid"
  as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$START_TIMEOUT_S" -o "-p $port" start >/dev/null \
    || { tail -n 20 "$LOG" >&2 || true; die "the server did not start (log: $LOG)"; }
  echo "$port" | as_owner sh -c "cat > '$PORT_FILE'"

  if [ -z "$(psql_local -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
    psql_local -c "CREATE DATABASE $DB_NAME" >/dev/null
  fi
  say "running on 127.0.0.1:$port and $BASE (data $DATA)"
  url_for "$port"
}

cmd_stop() {
  if running; then
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  fi
  rm -rf "$BASE"
}

cmd_halt() {
  if running; then
    # immediate: connections are cut as by a crash or a lost network, no waiting for clients
    as_owner "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null
  fi
}

cmd_url() {
  running && [ -f "$PORT_FILE" ] || die "not running (start it with: bash scripts/test-postgres.sh start)"
  url_for "$(cat "$PORT_FILE")"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  halt) cmd_halt ;;
  url) cmd_url ;;
  *) echo "usage: $0 start|stop|halt|url" >&2; exit 2 ;;
esac
