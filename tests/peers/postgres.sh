#!/usr/bin/env bash
# The log on PostgreSQL beside the file log, measured: starts a throw-away PostgreSQL
# cluster (Debian's binaries; as the `postgres` user when run as root) on a free
# loopback port, runs `lineage bench --postgres` against it — appends with 1, 16 and 64
# writers on files and PostgreSQL alternately, tail lag between two nodes, `trace` on a
# reading node, failover — and removes the cluster. Extra arguments go to the bench
# (e.g. `--events 30000 --repeat 3`). Not part of CI: the figures go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }
work=$(mktemp -d)
run=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$work"
  run=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  "${run[@]}" "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"${run[@]}" "$bin/initdb" -D "$work/data" -U lineage --auth=trust -E UTF8 >/dev/null
"${run[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
  -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work" start >/dev/null
echo "PostgreSQL $("$bin/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$port (fsync on, synchronous_commit on, default settings)"

cargo build --release --locked --quiet --bin lineage
target/release/lineage bench --postgres "postgres://lineage@127.0.0.1:$port/postgres" "$@"
