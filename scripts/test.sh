#!/usr/bin/env bash
# The project's test command (README "Set up"; .ci/run calls exactly this).
#
# 1. formatting and lints must be clean;
# 2. the OASIS stix2-validator and MISP's misp-stix (PyPI, installed into venvs in the build
#    directory on first use) check the STIX that irtx makes from every valid example report;
# 3. the Rust tests: unit, integration (CLI driven as a user would, real gateways on
#    loopback, the analyst pages in headless Chromium, gateways sharing a PostgreSQL server
#    each test starts on a loopback port), property tests;
# 4. a short fuzzing run of every fuzz target (cargo-fuzz, installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs a test step for at most $1 (timeout(1) units): a test that waits forever fails the run
# in time to say so (cargo names each test running over 60 s) instead of running into CI's
# limit.
bounded() {
    local limit="$1" rc=0
    shift
    timeout --kill-after=30s "$limit" "$@" || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "*** '$*' did not finish within $limit and was stopped" >&2
    fi
    return "$rc"
}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "== OASIS stix2-validator on irtx's STIX output"
cargo build --quiet --bin irtx
bash scripts/stix-validator.sh
echo "== MISP's misp-stix importing irtx's STIX output"
bash scripts/misp-stix.sh
echo "== a standard JOSE library for the wire-format interop test (PyPI joserfc, rfc8785)"
bash scripts/jose-interop.sh
echo "== the OASIS TAXII client for the TAXII server test (PyPI taxii2-client, stix2-validator)"
bash scripts/taxii-client.sh
echo "== browser for the UI test (Debian chromium + chromium-driver)"
bash scripts/install-browser.sh
echo "== PostgreSQL server binaries for the PostgreSQL store tests (Debian postgresql; each test starts its own server)"
bash scripts/install-postgres.sh
echo "== cargo test"
bounded 25m cargo test --lib --bins --tests 2>&1
echo "== the federation and fault tests again, each team three gateways on one PostgreSQL behind a balancer"
IRTX_TEST_INSTANCES=3 bounded 10m cargo test --test it -- federation:: faults:: --skip store_faults 2>&1
echo "== fuzzing, a smoke run (kept crash inputs replayed, then ${IRTX_FUZZ_SECONDS:-5} s per target; the long run is scripts/fuzz.sh 600)"
bash scripts/fuzz.sh "${IRTX_FUZZ_SECONDS:-5}"
