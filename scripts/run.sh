#!/usr/bin/env bash
# Runs an irtx gateway (README "Set up", the main job).
#
# Builds irtx, makes a gateway directory on first use (`irtx init`: config, Ed25519 team key,
# analyst token and anonymization keys, all mode 0600), and runs `irtx serve` there on the
# embedded sled store. Nothing else to install.
#
#   IRTX_DIR      gateway directory (default ./gateway)
#   IRTX_TEAM_ID  team id for a new gateway (default cert-local)
#   IRTX_BIN      an irtx binary to use instead of building one
# Extra arguments go to `irtx serve` (e.g. --listen 127.0.0.1:9443).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${IRTX_DIR:-$ROOT/gateway}"
TEAM="${IRTX_TEAM_ID:-cert-local}"
IRTX="${IRTX_BIN:-}"
if [ -z "$IRTX" ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin irtx)
    . "$ROOT/scripts/lib.sh"
    IRTX="$(target_dir)/release/irtx"
fi
if [ ! -f "$DIR/irtx.toml" ]; then
    echo "run: new gateway for team \`$TEAM\` in $DIR (the analyst token is also in $DIR/analyst.token)" >&2
    "$IRTX" init --team-id "$TEAM" --dir "$DIR"
fi
cd "$DIR"
exec "$IRTX" serve "$@"
