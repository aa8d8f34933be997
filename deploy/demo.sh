#!/usr/bin/env bash
# A three-team demo federation on loopback: a national CERT, a sector CERT and an
# organization, each its own gateway, key and store, peered with each other. The
# organization submits an AMBER incident and shares it with both CERTs: the sector CERT (its
# outsourced IRT) gets it, the national CERT (GREEN only) does not, and the ledger says so.
#
#   bash deploy/demo.sh            # builds irtx, runs the demo, stops the gateways
#   KEEP=1 bash deploy/demo.sh     # leaves them running (their directories are printed)
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
cleanup() { if [ -z "${KEEP:-}" ]; then kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; fi; }
trap cleanup EXIT

declare -A PORT=([cert-nat]=18551 [cert-sec]=18552 [org-x]=18553)
for team in cert-nat cert-sec org-x; do
    "$IRTX" init --team-id "$team" --name "Demo $team" --dir "$WORK/$team" > "$WORK/$team.init.json"
    sed -i "s/^listen = .*/listen = \"127.0.0.1:${PORT[$team]}\"/" "$WORK/$team/irtx.toml"
    (cd "$WORK/$team" && NO_COLOR=1 "$IRTX" serve > "$WORK/$team.log" 2>&1) &
    PIDS+=($!)
done
for team in cert-nat cert-sec org-x; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:${PORT[$team]}/healthz" > /dev/null && break; sleep 0.1; done
    python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['public_jwk']))" "$WORK/$team.init.json" > "$WORK/$team.jwk"
done
peer() { # peer FROM TO MAX AUDIENCE PROFILE FORMAT
    (cd "$WORK/$1" && "$IRTX" peer add --id "$2" --url "http://127.0.0.1:${PORT[$2]}" --key "@$WORK/$2.jwk" \
        --max-tlp "$3" --audience "$4" --profile "$5" --format "$6" > /dev/null)
}
peer org-x cert-sec AMBER+STRICT service-provider none stix
peer org-x cert-nat GREEN community pseudonymize iodef
peer cert-sec org-x AMBER client none stix
peer cert-nat org-x AMBER client none iodef

echo "== org-x submits an AMBER ransomware incident and shares it with both CERTs"
(cd "$WORK/org-x" && "$IRTX" report submit "$ROOT/tests/data/valid/incident-ransomware-full.json" --share cert-sec,cert-nat)
for _ in $(seq 100); do
    n=$(curl -sf -H "Authorization: Bearer $(cat "$WORK/cert-sec/analyst.token")" "http://127.0.0.1:${PORT[cert-sec]}/api/v1/alerts" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$n" = "1" ] && break
    sleep 0.1
done
echo "== cert-sec imported $n alert(s)"
echo "== org-x's ledger: what was disclosed to whom"
(cd "$WORK/org-x" && "$IRTX" ledger list)
(cd "$WORK/org-x" && "$IRTX" ledger verify)
if [ -n "${KEEP:-}" ]; then
    echo "gateways keep running: $WORK (pids ${PIDS[*]}); the analyst pages are at http://127.0.0.1:${PORT[org-x]}/ui"
fi
[ "$n" = "1" ]
