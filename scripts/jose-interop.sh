#!/usr/bin/env bash
# Installs a standard JOSE library (joserfc) and an RFC 8785 library (rfc8785) from PyPI
# into venv-jose in the build directory, for tests/it/interop.rs: they must verify irtx's messages and
# receipts, and irtx must accept messages they sign.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
VENV="$(target_dir)/venv-jose"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import joserfc, rfc8785" 2>/dev/null; then
    exit 0
fi
echo "jose-interop: installing joserfc and rfc8785 into $VENV"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "joserfc==1.8.0" "rfc8785==0.1.4"
