#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's postgresql package.
#
#   scripts/pg_test_server.sh start DIR   -> prints a SQLAlchemy URL on stdout; the server lives in DIR
#   scripts/pg_test_server.sh stop DIR
#
# Installs postgresql with apt-get if it is missing (needs root, as in CI). initdb refuses to run as root, so the
# cluster is created and run as the `postgres` user (or the current user when not root). Trust auth on loopback
# only: the server is for tests and is deleted afterwards.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
  done
  return 1
}

as_owner() {
  if [[ "$(id -u)" == "0" ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [[ "$cmd" == "stop" ]]; then
  bin="$(find_bin)" || exit 0
  cluster="$(cat "$dir/cluster" 2>/dev/null || true)"
  if [[ -n "$cluster" && -f "$cluster/data/postmaster.pid" ]]; then
    as_owner "$bin/pg_ctl" -D "$cluster/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [[ -n "$cluster" ]] && rm -rf "$cluster"
  rm -rf "$dir"
  exit 0
fi

if ! bin="$(find_bin)"; then
  if [[ "$(id -u)" != "0" ]]; then
    echo "pg_test_server.sh: postgresql is not installed and installing it needs root" >&2
    exit 3
  fi
  echo "pg_test_server.sh: installing Debian's postgresql..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bin="$(find_bin)"
fi

mkdir -p "$dir"
# The cluster lives in its own folder under /tmp that the server's user can reach (DIR may sit inside a private
# temporary folder); DIR/cluster records where, for `stop`.
cluster="$(mktemp -d /tmp/mindrail-pg.XXXXXX)"
echo "$cluster" >"$dir/cluster"
if [[ "$(id -u)" == "0" ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  chown postgres "$cluster"
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_owner "$bin/initdb" -D "$cluster/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 4; }
as_owner "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $cluster -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$cluster/server.log" >&2; exit 5; }
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres mindrail_test
echo "postgresql+psycopg://postgres@127.0.0.1:$port/mindrail_test"
