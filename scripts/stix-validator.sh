#!/usr/bin/env bash
# Checks irtx's STIX output with the OASIS stix2-validator (PyPI), the way a peer would.
#
# Installs stix2-validator into a venv in the build directory (once), converts every valid example
# report in tests/data/valid to a STIX 2.1 bundle with the irtx binary (as it is, and as
# three kinds of peer would get it: redacted and anonymized), and runs the validator on each
# bundle in strict mode except for the warnings listed in DISABLED below
# (each one justified in README.md, "Interoperability checks"). Exits non-zero on any error or
# unjustified warning. Needs no network beyond PyPI for the first install.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
TARGET="$(target_dir)"
VENV="${IRTX_STIX_VENV:-$TARGET/venv-stix2-validator}"
VERSION="3.3.2"
IRTX="${IRTX_BIN:-$TARGET/debug/irtx}"

if [ ! -x "$VENV/bin/stix2_validator" ]; then
    echo "stix-validator: installing stix2-validator $VERSION into $VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        # Debian's python3 needs python3-venv for `-m venv`.
        echo "stix-validator: python3 -m venv failed; installing python3-venv"
        apt-get update -qq && apt-get install -y -qq python3-venv
        rm -rf "$VENV" && python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "stix2-validator==$VERSION"
fi
if [ ! -x "$IRTX" ]; then
    (cd "$ROOT" && cargo build --quiet --bin irtx)
fi

OUT="$TARGET/stix-validator-out"
rm -rf "$OUT" && mkdir -p "$OUT"
# A throwaway anonymization key for the anonymized variants.
(umask 077 && python3 -c 'import os; print(os.urandom(32).hex())' > "$OUT/anon.key")
for report in "$ROOT"/tests/data/valid/*.json; do
    name="$(basename "$report" .json)"
    # Run where no irtx.toml is, so the team comes from IRTX_TEAM__* alone.
    (cd "$OUT" && IRTX_TEAM__ID=cert-test IRTX_TEAM__NAME="CERT Test" \
        IRTX_TEAM__DOMAIN=cert-test.example "$IRTX" convert --to stix "$report") \
        > "$OUT/$name.stix.json"
    # The same report as peers would get it: redacted to their cap and anonymized. A report
    # the policy withholds (exit 4) gives no document.
    for peer in "AMBER community pseudonymize" "AMBER+STRICT own-organization strict" "GREEN client pseudonymize"; do
        set -- $peer
        out="$OUT/$name.$1-$2-$3.stix.json"
        rc=0
        (cd "$OUT" && IRTX_TEAM__ID=cert-test "$IRTX" convert --to stix --max-tlp "$1" \
            --audience "$2" --profile "$3" --key-file "$OUT/anon.key" "$report") > "$out" 2>/dev/null || rc=$?
        if [ $rc -eq 4 ]; then rm -f "$out"; elif [ $rc -ne 0 ]; then echo "convert failed ($rc): $out"; exit 1; fi
    done
done

# Warnings we accept, each justified in README.md ("Interoperability checks"):
#   103  "not a valid UUIDv4 ID": irtx derives SDO/SRO ids as UUIDv5 so that the same report
#        always gives the same ids and a new version keeps them (STIX 2.1 section 2.9 allows
#        any RFC 4122 UUID; v4 is a recommendation).
DISABLED="103"
args=(--strict)
if [ -n "$DISABLED" ]; then args+=(--disable "$DISABLED"); fi

status=0
for bundle in "$OUT"/*.stix.json; do
    if ! "$VENV/bin/stix2_validator" "${args[@]}" "$bundle" > "$bundle.log" 2>&1; then
        status=1
        echo "stix-validator: FAILED $(basename "$bundle")"
        cat "$bundle.log"
    fi
done
n=$(ls "$OUT"/*.stix.json | wc -l)
if [ $status -eq 0 ]; then
    echo "stix-validator: $n passed, 0 failed (stix2-validator $VERSION --strict)"
else
    failed=$(grep -L "STIX JSON: Valid" "$OUT"/*.log | wc -l)
    echo "stix-validator: $((n - failed)) passed, $failed failed (stix2-validator $VERSION --strict)"
fi
exit $status
