#!/usr/bin/env bash
# The load generator (src/bin/irtx-bench) on a release build: real `irtx serve` processes
# on loopback, bounded by the counts given. README "Performance" shows what it prints.
#
#   bash scripts/load-bench.sh                      # inbound: 3,000 messages, 16 at a time
#   bash scripts/load-bench.sh inbound -n 3000 -c 16 --fill 1000000 --fill-objects 1
#   bash scripts/load-bench.sh outbound -n 1000 --receivers 3
#   bash scripts/load-bench.sh taxii --inbox 1000 -n 1000   # a TAXII client's inbox and reads
#   bash scripts/load-bench.sh import -n 1000               # files imported, stopped and serving
#   bash scripts/load-bench.sh --help
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
cd "$ROOT"
cargo build --release --quiet --bin irtx --bin irtx-bench
TARGET="$(target_dir)"
[ $# -eq 0 ] && set -- inbound
exec "$TARGET/release/irtx-bench" --irtx "$TARGET/release/irtx" "$@"
