# Shared by the scripts: where cargo puts build output (CARGO_TARGET_DIR, else what
# `cargo metadata` says), never a hard-coded `target/`.
target_dir() {
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        echo "$CARGO_TARGET_DIR"
    else
        cargo metadata --format-version 1 --no-deps --manifest-path "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml" \
            | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
    fi
}

# make_bundles IRTX OUT: converts every valid example report (tests/data/valid) to STIX 2.1
# bundles in OUT with the irtx binary IRTX: as it is (`NAME.stix.json`), and as peers would
# get it under every built-in profile and three kinds of peer (redacted to their cap and
# anonymized: `NAME.CAP-AUDIENCE-PROFILE.stix.json`). A report the policy withholds from a
# peer (exit 4) gives no document. Uses a throwaway anonymization key in OUT.
make_bundles() {
    local irtx="$1" out="$2" root report name cap audience profile rc
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    rm -rf "$out" && mkdir -p "$out"
    (umask 077 && python3 -c 'import os; print(os.urandom(32).hex())' > "$out/anon.key")
    for report in "$root"/tests/data/valid/*.json; do
        name="$(basename "$report" .json)"
        # Run where no irtx.toml is, so the team comes from IRTX_TEAM__* alone.
        (cd "$out" && IRTX_TEAM__ID=cert-test IRTX_TEAM__NAME="CERT Test" \
            IRTX_TEAM__DOMAIN=cert-test.example "$irtx" convert --to stix "$report") \
            > "$out/$name.stix.json"
        for peer in "AMBER+STRICT own-organization" "AMBER community" "GREEN client"; do
            for profile in none pseudonymize strict; do
                set -- $peer
                cap="$1" audience="$2"
                local file="$out/$name.$cap-$audience-$profile.stix.json"
                rc=0
                (cd "$out" && IRTX_TEAM__ID=cert-test IRTX_TEAM__NAME="CERT Test" \
                    IRTX_TEAM__DOMAIN=cert-test.example "$irtx" convert --to stix \
                    --max-tlp "$cap" --audience "$audience" --profile "$profile" \
                    --key-file "$out/anon.key" "$report") > "$file" 2>/dev/null || rc=$?
                if [ $rc -eq 4 ]; then
                    rm -f "$file"
                elif [ $rc -ne 0 ]; then
                    echo "convert failed ($rc): $file" >&2
                    return 1
                fi
            done
        done
    done
}

# python_venv VENV SPEC...: a venv at VENV with the PyPI packages SPEC installed (once).
python_venv() {
    local venv="$1"
    shift
    local want="${1#*==}" have
    have="$("$venv/bin/pip" show "${1%%==*}" 2>/dev/null | sed -n 's/^Version: //p' || true)"
    if [ -n "$have" ] && [ "$have" = "$want" ]; then
        return 0
    fi
    echo "installing $* into $venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian's python3 needs python3-venv for `-m venv`.
        echo "python3 -m venv failed; installing python3-venv"
        apt-get update -qq && apt-get install -y -qq python3-venv
        rm -rf "$venv" && python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}
