#!/usr/bin/env bash
# Checks that the publishable crates would publish, in order (PUBLISH_ORDER in
# scripts/check_crates.py: amikeeper, amikeeper-aws, amikeeper-cli; the examples, the benches
# and the wheel's crate say `publish = false`).
#
#   scripts/check-crates.sh [--verify-all | --no-verify]
#
# 1. scripts/check_crates.py manifest: crates.io metadata, versions on the path dependencies,
#    the publishing order, and one MSRV (`rust-version`) no lower than any dependency declares.
# 2. `cargo package`: packages the publishable crates into $CARGO_TARGET_DIR/package/ and builds
#    each from its package alone, the later ones against a local registry of the earlier ones
#    (cargo 1.90+), as crates.io would. The builds reuse $CARGO_TARGET_DIR. By default only the
#    crates without the AWS SDK (`amikeeper`) are built from their package: packaged alone, the
#    SDK crates resolve other features and build the SDK again (10+ minutes each on 2 cores),
#    which `cargo publish` in the release workflow does anyway. --verify-all builds every
#    crate from its package; --no-verify builds none.
# 3. `cargo publish --workspace --dry-run --no-verify`: what publishing checks beyond that (the
#    order, each version not on crates.io yet); nothing is uploaded.
# 4. scripts/check_crates.py package: no packaged file reads a file outside its package.
#
# Needs network access to crates.io's index (as any build does). Run by scripts/test.sh and
# scripts/release.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amikeeper/target}"
mode=sdk-free
case "${1:-}" in
    "") ;;
    --verify-all) mode=all ;;
    --no-verify) mode=none ;;
    *) echo "usage: scripts/check-crates.sh [--verify-all | --no-verify]" >&2; exit 2 ;;
esac
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

"$python" scripts/check_crates.py manifest

crates=()
files=()
while read -r name version; do
    crates+=("$name")
    files+=("$CARGO_TARGET_DIR/package/$name-$version.crate")
done < <("$python" scripts/check_crates.py order)
# A tree with uncommitted changes is packaged as it is (CI's checkout is clean; the release
# workflow publishes without --allow-dirty). The tests stay in the repository (each crate's
# `include`), so cargo says, for each, that it leaves it out: those lines are dropped.
quiet() { grep --line-buffered -v '^warning: ignoring \(test\|benchmark\) `' >&2 || true; }
case "$mode" in
    all) cargo package "${crates[@]/#/--package=}" --locked --allow-dirty 2> >(quiet) ;;
    sdk-free)
        cargo package --package=amikeeper --locked --allow-dirty 2> >(quiet)
        cargo package "${crates[@]/#/--package=}" --locked --allow-dirty --no-verify 2> >(quiet)
        ;;
    none) cargo package "${crates[@]/#/--package=}" --locked --allow-dirty --no-verify 2> >(quiet) ;;
esac
cargo publish --workspace --dry-run --locked --allow-dirty --no-verify 2> >(quiet)

"$python" scripts/check_crates.py package "${files[@]}"
# The packages, for scripts/release.sh.
printf '%s\n' "${files[@]}"
