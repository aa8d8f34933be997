#!/usr/bin/env bash
# Checks irtx's STIX output with the OASIS stix2-validator (PyPI), the way a peer would.
#
# Installs stix2-validator into a venv in the build directory (once), converts every valid
# example report in tests/data/valid to STIX 2.1 bundles with the irtx binary (as it is, and
# as peers would get it under every profile: see make_bundles in scripts/lib.sh), and
# validates each bundle in strict mode (scripts/stix_validate.py) except for the findings it
# lists, each justified in README.md ("Interoperability checks"). Exits non-zero on any error
# or unjustified warning. Needs no network beyond PyPI for the first install.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
TARGET="$(target_dir)"
VENV="${IRTX_STIX_VENV:-$TARGET/venv-stix2-validator}"
IRTX="${IRTX_BIN:-$TARGET/debug/irtx}"

python_venv "$VENV" "stix2-validator==3.3.2"
if [ ! -x "$IRTX" ]; then
    (cd "$ROOT" && cargo build --quiet --bin irtx)
fi
OUT="$TARGET/stix-validator-out"
make_bundles "$IRTX" "$OUT"
"$VENV/bin/python" "$ROOT/scripts/stix_validate.py" "$OUT"
