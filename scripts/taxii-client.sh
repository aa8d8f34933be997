#!/usr/bin/env bash
# Installs the OASIS TAXII 2.1 client (taxii2-client), the OASIS stix2-validator and the
# OASIS TAXII server medallion from PyPI into venv-taxii in the build directory, for
# tests/it/taxii_client.rs (taxii2-client discovers a running gateway, lists its
# collections and pages through objects and manifest as two peers, and every object it
# reads must validate: scripts/taxii_client_check.py) and tests/it/medallion.rs (irtx pushes
# into and pulls from a medallion on loopback, which the test starts and stops).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
VENV="$(target_dir)/venv-taxii"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import taxii2client, stix2validator, medallion" 2>/dev/null; then
    exit 0
fi
rm -rf "$VENV"
python_venv "$VENV" "taxii2-client==2.3.0" "stix2-validator==3.3.2" "medallion==3.0.0"
