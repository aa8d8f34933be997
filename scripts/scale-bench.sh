#!/usr/bin/env bash
# Inbound throughput of 1, 2 and 3 gateways of one team sharing one PostgreSQL database
# (irtx-bench scale, release build), against a PostgreSQL server this script starts on a
# free loopback port with a temporary data directory (Debian's binaries, installed by
# scripts/install-postgres.sh when missing) and stops after. Bounded by the counts given.
#
#   bash scripts/scale-bench.sh                         # 2,000 messages at 1, 2 and 3 gateways
#   bash scripts/scale-bench.sh -n 4000 --instances 1,2,3 -c 32
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
cd "$ROOT"
bash scripts/install-postgres.sh
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
cargo build --release --quiet --bin irtx --bin irtx-bench
TARGET="$(target_dir)"
TMP="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
AS=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$TMP"
    AS=(runuser -u postgres --)
fi
stop() {
    (cd / && "${AS[@]}" "$BIN/pg_ctl" -D "$TMP/data" -m fast -w stop > /dev/null 2>&1) || true
    rm -rf "$TMP"
}
trap stop EXIT
(cd / && "${AS[@]}" "$BIN/initdb" -D "$TMP/data" -U irtx --auth=trust -E UTF8 > /dev/null)
(cd / && "${AS[@]}" "$BIN/pg_ctl" -D "$TMP/data" -l "$TMP/log" -w \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -k $TMP -c max_connections=200" start > /dev/null)
echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (temporary, durable commits)"
"$TARGET/release/irtx-bench" --irtx "$TARGET/release/irtx" scale \
    --postgres "postgres://irtx@127.0.0.1:$PORT/postgres" \
    --server-pid "$(head -1 "$TMP/data/postmaster.pid")" "$@"
