#!/usr/bin/env bash
# Fuzzing (cargo-fuzz, libFuzzer) of every parser that takes outside input: the inbound
# message (strict JSON, JWS, message, checks), STIX and IODEF documents, receipts, key
# documents, reports, the config, imported files (STIX bundles, MISP events), what TAXII
# clients send, and the strict JSON reader against serde_json.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Default 600 s per target (the long run); .ci/run calls it with a few seconds (a smoke
# run, on a development build: see FLAGS below). Seeds come from tests/data
# (fuzz/examples/seeds.rs). Inputs that once crashed a target are kept in
# tests/data/fuzz/<target>/ and replayed first, every run: a crash found here is copied there
# when it is fixed. Prints, per target, executions, speed and corpus size. cargo-fuzz is
# installed from crates.io when missing; it runs on the stable toolchain with
# RUSTC_BOOTSTRAP (its flags are unstable ones) and no sanitizer (irtx has no unsafe code; a
# panic is what is looked for).
set -euo pipefail
cd "$(dirname "$0")/.."
EACH=${1:-600}
shift || true
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The long run fuzzes an optimized build (one codegen unit, as cargo-fuzz sets: its compile
# takes 20-30 minutes of one core here). A short smoke run fuzzes a development build: it
# compiles in about 4 minutes, keeps debug assertions and overflow checks, and 5 s of it at
# lower speed still replays the corpus and the kept inputs.
if [ "$EACH" -ge 60 ]; then
  FLAGS=(--sanitizer none -O)
else
  FLAGS=(--sanitizer none --dev)
fi
cargo fuzz build "${FLAGS[@]}" >/dev/null
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cargo fuzz list)
fi
missing=0
for t in "${TARGETS[@]}"; do [ -d "fuzz/corpus/$t" ] || missing=1; done
if [ "$missing" = 1 ]; then
  cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus
fi
mkdir -p fuzz/logs
printf '%-16s %12s %10s %8s\n' target executions exec/s corpus
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  if [ -d "tests/data/fuzz/$t" ]; then
    cargo fuzz run "${FLAGS[@]}" "$t" "tests/data/fuzz/$t" -- -runs=0 >"fuzz/logs/$t.regressions.log" 2>&1 \
      || { echo "fuzz: $t fails on a kept regression input; see fuzz/logs/$t.regressions.log"; exit 1; }
  fi
  if ! cargo fuzz run "${FLAGS[@]}" "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$EACH" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      >"fuzz/logs/$t.log" 2>&1; then
    echo "fuzz: $t crashed; the input is in fuzz/artifacts/$t/ and the log in fuzz/logs/$t.log"
    # The panic, not the input (libFuzzer prints the input's bytes, which can be long).
    grep -a -m3 -A2 -E "panicked|ERROR: libFuzzer|SUMMARY" "fuzz/logs/$t.log" | cut -c1-300 || true
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "fuzz/logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  printf '%-16s %12s %10s %8s\n' "$t" "$runs" "$speed" "$corpus"
done
