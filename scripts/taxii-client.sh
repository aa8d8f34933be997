#!/usr/bin/env bash
# Installs, from PyPI into venvs in the build directory:
# - venv-taxii: the OASIS TAXII 2.1 client (taxii2-client), the OASIS stix2-validator and the
#   OASIS TAXII server medallion, for tests/it/taxii_client.rs (taxii2-client discovers a
#   running gateway, lists its collections and pages through objects and manifest as two
#   peers, and every object it reads must validate: scripts/taxii_client_check.py) and
#   tests/it/taxii_servers.rs (irtx pushes into and pulls from a medallion on loopback,
#   which the test starts and stops);
# - venv-opentaxii: EclecticIQ's OpenTAXII, for tests/it/taxii_servers.rs (the same against
#   an OpenTAXII on loopback, SQLite in a temp dir, started by scripts/opentaxii_serve.py).
#   0.10.0b1, the pre-release: 0.9.3 answers 500 to every TAXII 2 collection, status and
#   job read (UUIDs it cannot serialize, OpenTAXII#243) and serves every object with
#   `spec_version` set to its type (#237); both are fixed in 0.10.0b1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
TARGET="$(target_dir)"
VENV="$TARGET/venv-taxii"
if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import taxii2client, stix2validator, medallion" 2>/dev/null; }; then
    rm -rf "$VENV"
    python_venv "$VENV" "taxii2-client==2.3.0" "stix2-validator==3.3.2" "medallion==3.0.0"
fi
OT="$TARGET/venv-opentaxii"
if ! { [ -x "$OT/bin/python" ] && "$OT/bin/python" -c "import opentaxii" 2>/dev/null; }; then
    rm -rf "$OT"
    python_venv "$OT" "opentaxii==0.10.0b1"
fi
