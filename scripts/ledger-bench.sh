#!/usr/bin/env bash
# Measures `irtx ledger verify` and `irtx ledger list` on a ledger of N entries (default
# 1,000,000): wall time and peak memory (GNU time's maximum resident set size).
#
#   bash scripts/ledger-bench.sh [N]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-1000000}"
cd "$ROOT"
. scripts/lib.sh
REL="$(target_dir)/release"
cargo build --release --quiet --bin irtx --example ledger_fill
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$REL/examples/ledger_fill" "$WORK/gw" "$N"
du -sh "$WORK/gw/data/store" | awk '{print "store size: " $1}'
measure() {
    local label="$1"; shift
    /usr/bin/time -f "$label: %e s wall, %M KiB max RSS" "$@" > /dev/null
}
cd "$WORK/gw"
measure "ledger verify" "$REL/irtx" ledger verify
measure "ledger list (all, table)" "$REL/irtx" ledger list
measure "ledger list --peer cert-sec --format csv" "$REL/irtx" ledger list --peer cert-sec --format csv
measure "ledger list --indicator 198.51.7.1" "$REL/irtx" ledger list --indicator 198.51.7.1
measure "ledger export" "$REL/irtx" ledger export --out "$WORK/export.jsonl"
ls -l "$WORK/export.jsonl" | awk '{print "export size: " $5 " bytes"}'
