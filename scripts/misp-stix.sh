#!/usr/bin/env bash
# Checks that irtx's STIX bundles read right in MISP: imports each with MISP's own converter,
# misp-stix (PyPI), and checks the event's title and TLP tag, that attacker-side indicators
# are IDS attributes and that no victim value or pseudonym is (scripts/misp_stix_check.py).
# The bundles: every valid example report, as it is and as peers would get it under every
# profile (make_bundles in scripts/lib.sh). Installs misp-stix into a venv in the build
# directory once; needs no network beyond PyPI for that install.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
TARGET="$(target_dir)"
VENV="${IRTX_MISP_STIX_VENV:-$TARGET/venv-misp-stix}"
IRTX="${IRTX_BIN:-$TARGET/debug/irtx}"

python_venv "$VENV" "misp-stix==2026.10.12"
if [ ! -x "$IRTX" ]; then
    (cd "$ROOT" && cargo build --quiet --bin irtx)
fi
OUT="$TARGET/misp-stix-out"
make_bundles "$IRTX" "$OUT"
"$VENV/bin/python" "$ROOT/scripts/misp_stix_check.py" "$OUT" "$ROOT/tests/data/valid"
