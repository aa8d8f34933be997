#!/usr/bin/env bash
# Installs the OASIS TAXII 2.1 client (taxii2-client, PyPI) with the OASIS stix2-validator
# into venv-taxii in the build directory, for tests/it/taxii_client.rs: taxii2-client
# discovers a running gateway, lists its collections and pages through objects and
# manifest as two peers (scripts/taxii_client_check.py), and every object it reads must
# validate.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
VENV="$(target_dir)/venv-taxii"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import taxii2client, stix2validator" 2>/dev/null; then
    exit 0
fi
rm -rf "$VENV"
python_venv "$VENV" "taxii2-client==2.3.0" "stix2-validator==3.3.2"
