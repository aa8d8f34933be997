#!/usr/bin/env bash
# Inbound load on one gateway over loopback (examples/inbound_load.rs): accepted messages per
# second and latency percentiles, durable path. Bounded: N messages, C at a time.
#
#   bash scripts/load-bench.sh [N] [C]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet --example inbound_load -- "${1:-3000}" "${2:-16}"
