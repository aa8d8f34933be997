#!/usr/bin/env bash
# irtx next to medallion (the OASIS TAXII 2.1 server, memory backend, from PyPI) on the
# same messages in one run: objects per second into each at 0, 10,000 and 20,000 stored
# objects, and the ratio. Both on loopback; medallion in a temporary directory, stopped
# after. irtx gets each bundle as a signed message (verified, checked, stored durably,
# answered with a signed receipt); medallion gets the same bundle's objects as a TAXII
# envelope.
#
#   bash scripts/medallion-compare.sh [MESSAGES] [STORED]
#
# MESSAGES: messages timed per step on medallion (default 40; irtx gets 50 times as many,
# as it is that much faster); STORED: the steps (default 0,10000,20000).
set -euo pipefail
case "${1:-}" in
    -h | --help)
        sed -n '2,12s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
esac
if ! [[ "${1:-40}" =~ ^[1-9][0-9]*$ && "${2:-0}" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
    echo "usage: $0 [MESSAGES] [STORED]: MESSAGES a count (default 40), STORED counts separated by commas (default 0,10000,20000)" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
cd "$ROOT"
bash scripts/taxii-client.sh >/dev/null # the venv with medallion
TARGET="$(target_dir)"
cargo build --release --quiet --bin irtx --bin irtx-bench
N="${1:-40}"
STORED="${2:-0,10000,20000}"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
COLLECTION=91a7b528-80eb-42ed-a74d-c6fbd5a26116
cleanup() { [ -n "${MPID:-}" ] && kill "$MPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
python3 - "$WORK" "$PORT" "$COLLECTION" <<'PY'
import json, sys
work, port, collection = sys.argv[1], sys.argv[2], sys.argv[3]
base = f"http://127.0.0.1:{port}"
data = {
    "/discovery": {"title": "medallion", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
    "api1": {
        "information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"],
                        "max_content_length": 104857600},
        "status": [],
        "collections": [{"id": collection, "title": "bench", "can_read": True, "can_write": True,
                         "media_types": ["application/stix+json;version=2.1"],
                         "objects": [], "manifest": []}],
    },
}
json.dump(data, open(f"{work}/data.json", "w"))
json.dump({"backend": {"module": "medallion.backends.memory_backend",
                       "module_class": "MemoryBackend", "filename": f"{work}/data.json"},
           "users": {"bench": "bench"}, "taxii": {"max_page_size": 100}},
          open(f"{work}/config.json", "w"))
PY
"$TARGET/venv-taxii/bin/medallion" --host 127.0.0.1 --port "$PORT" "$WORK/config.json" \
    > "$WORK/medallion.log" 2>&1 &
MPID=$!
for _ in $(seq 100); do
    curl -fsS -u bench:bench -H 'Accept: application/taxii+json;version=2.1' \
        "http://127.0.0.1:$PORT/taxii2/" >/dev/null 2>&1 && break
    sleep 0.2
done
echo "medallion $("$TARGET/venv-taxii/bin/pip" show medallion | sed -n 's/^Version: //p') (memory backend) on 127.0.0.1:$PORT"
"$TARGET/release/irtx-bench" --irtx "$TARGET/release/irtx" compare \
    --taxii "http://127.0.0.1:$PORT/api1/collections/$COLLECTION/" --auth bench:bench \
    --messages "$N" --irtx-messages "$((N * 50))" --stored "$STORED"
