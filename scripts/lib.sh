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
