#!/usr/bin/env bash
# A three-team demo federation on loopback: a national CERT, a sector CERT and an
# organization, each its own gateway, key and store, peered with each other. The
# organization submits an AMBER incident and shares it with both CERTs: the sector CERT (its
# outsourced IRT) gets it, the national CERT (GREEN only) does not, and the ledger says so.
#
#   bash deploy/demo.sh            # builds irtx (release), runs the demo, stops the gateways
#   KEEP=1 bash deploy/demo.sh     # leaves them running (their directories are printed)
#   IRTX_BIN=path/to/irtx bash deploy/demo.sh   # uses that binary instead of building
#
# Each gateway gets a free loopback port (`irtx init --listen auto`), so runs never clash,
# and every gateway the demo started is stopped when it ends (unless KEEP is set).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IRTX="${IRTX_BIN:-}"
if [ -z "$IRTX" ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin irtx)
    . "$ROOT/scripts/lib.sh"
    IRTX="$(target_dir)/release/irtx"
fi
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    if [ -z "${KEEP:-}" ]; then
        kill "${PIDS[@]}" 2>/dev/null || true
        wait "${PIDS[@]}" 2>/dev/null || true
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

json() { python3 -c "import json,sys; v=json.load(open(sys.argv[1])); print(json.dumps(v[sys.argv[2]]) if not isinstance(v[sys.argv[2]], str) else v[sys.argv[2]])" "$@"; }
up() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)' "$1" > /dev/null 2>&1; }

declare -A URL
for team in cert-nat cert-sec org-x; do
    "$IRTX" init --team-id "$team" --name "Demo $team" --dir "$WORK/$team" --listen auto > "$WORK/$team.init.json"
    URL[$team]="http://$(json "$WORK/$team.init.json" listen)"
    json "$WORK/$team.init.json" public_jwk > "$WORK/$team.jwk"
    # exec: the pid is the gateway's own, so the cleanup stops the gateway itself.
    (cd "$WORK/$team" && NO_COLOR=1 exec "$IRTX" serve > "$WORK/$team.log" 2>&1) &
    PIDS+=($!)
done
for team in cert-nat cert-sec org-x; do
    for _ in $(seq 100); do up "${URL[$team]}" && break; sleep 0.1; done
    up "${URL[$team]}" || { echo "$team did not start; its log:" >&2; cat "$WORK/$team.log" >&2; exit 1; }
done
peer() { # peer FROM TO MAX AUDIENCE PROFILE FORMAT
    (cd "$WORK/$1" && "$IRTX" peer add --id "$2" --url "${URL[$2]}" --key "@$WORK/$2.jwk" \
        --max-tlp "$3" --audience "$4" --profile "$5" --format "$6" > /dev/null)
}
peer org-x cert-sec AMBER+STRICT service-provider none stix
peer org-x cert-nat GREEN community pseudonymize iodef
peer cert-sec org-x AMBER client none stix
peer cert-nat org-x AMBER client none iodef

echo "== org-x submits an AMBER ransomware incident and shares it with both CERTs"
(cd "$WORK/org-x" && "$IRTX" report submit "$ROOT/tests/data/valid/incident-ransomware-full.json" --share cert-sec,cert-nat)
n=0
for _ in $(seq 100); do
    n=$(cd "$WORK/cert-sec" && "$IRTX" alert list | grep -c "from cert-org\|org-x" || true)
    [ "$n" -ge 1 ] && break
    sleep 0.1
done
echo "== cert-sec received $n alert(s)"
echo "== org-x's ledger: what was disclosed to whom"
(cd "$WORK/org-x" && "$IRTX" ledger list)
(cd "$WORK/org-x" && "$IRTX" ledger verify)
if [ -n "${KEEP:-}" ]; then
    echo "gateways keep running: $WORK (pids ${PIDS[*]}); the analyst pages are at ${URL[org-x]}/ui"
fi
[ "$n" -ge 1 ]
