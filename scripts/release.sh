#!/usr/bin/env bash
# Builds every release artifact with the release profile, into one directory, and records them:
#
#   - the crates amikeeper, amikeeper-aws and amikeeper-cli, packaged and verified
#     (scripts/check-crates.sh);
#   - the Python wheels for x86_64 and aarch64 (manylinux2014, abi3) and the sdist
#     (scripts/build-wheels.sh --release);
#   - the Lambda layers for x86_64 and arm64 (scripts/build-layers.sh --release);
#   - the static `amikeeper` binaries for x86_64 and aarch64 Linux (musl), named
#     amikeeper-<target> (scripts/build-static.sh --release);
#   - SHA256SUMS, and docs/RELEASE-ARTIFACTS.md: each artifact's kind, tags, size and sha256
#     (scripts/release_record.py), also copied into the directory as the release's notes.
#
#   scripts/release.sh [--dry-run] [--out DIR] [--tag vX.Y.Z]
#
# --out      where the artifacts go (default: target/release-artifacts; emptied first).
# --tag      the tag being released (the release workflow passes GITHUB_REF_NAME); it must be
#            v followed by the workspace's version. Default: that tag.
# --dry-run  builds nothing heavy: checks the tag and that every script it calls is here,
#            prints each build command, packages the crates without verifying them, and prints
#            the record of those packages instead of writing docs/RELEASE-ARTIFACTS.md.
#
# Each build script prints the paths of what it built on stdout, one a line. The whole run
# builds the AWS SDK for four targets: run it on a machine with time to spare (the release
# workflow, .github/workflows/release.yml, runs it on a tag), not in scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amikeeper/target}"
out="$root/target/release-artifacts"
tag=""
dry_run=false
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=true ;;
        --out) out="${2:?--out needs a directory}"; shift ;;
        --tag) tag="${2:?--tag needs a tag}"; shift ;;
        *) echo "usage: scripts/release.sh [--dry-run] [--out DIR] [--tag vX.Y.Z]" >&2; exit 2 ;;
    esac
    shift
done
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

version=$("$python" scripts/check_crates.py order | awk 'NR == 1 { print $2 }')
if [ -n "$tag" ] && [ "$tag" != "v$version" ]; then
    echo "release: the tag $tag does not name the workspace's version $version (expected v$version)" >&2
    exit 1
fi
tag="v$version"
commit=$(git rev-parse HEAD)
step() { printf '\n==> release %s: %s\n' "$tag" "$*" >&2; }

scripts=(scripts/check-crates.sh scripts/build-wheels.sh scripts/build-layers.sh scripts/build-static.sh)
missing=()
for script in "${scripts[@]}"; do
    [ -x "$script" ] || missing+=("$script")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "release: missing (or not executable): ${missing[*]}" >&2
    $dry_run || exit 1
fi

rm -rf "$out"
mkdir -p "$out"

# Runs a build script (or, in a dry run, prints it) and copies what it printed into $out.
collect() {
    if $dry_run; then
        printf '+ %s\n' "$*" >&2
        return
    fi
    "$@" | while IFS= read -r path; do
        [ -n "$path" ] && cp -f "$path" "$out/"
    done
}

step "crates (cargo package, verified)"
if $dry_run; then
    mapfile -t crates < <(scripts/check-crates.sh --no-verify)
else
    mapfile -t crates < <(scripts/check-crates.sh --verify-all)
fi
[ ${#crates[@]} -gt 0 ] || { echo "release: scripts/check-crates.sh packaged nothing" >&2; exit 1; }
cp -f "${crates[@]}" "$out/"

step "Python wheels, x86_64 and aarch64, and the sdist"
collect scripts/build-wheels.sh --release --arch all --out "$out"

step "Lambda layers, x86_64 and arm64"
collect scripts/build-layers.sh --release --out "$out"

step "static binaries, x86_64 and aarch64 (musl)"
if $dry_run; then
    printf '+ %s\n' "scripts/build-static.sh --release --target all" >&2
else
    # target/<triple>/release/amikeeper becomes amikeeper-<triple>: one name per platform, the
    # same in every release, so that .../releases/latest/download/amikeeper-<triple> works.
    scripts/build-static.sh --release --target all | while IFS= read -r path; do
        [ -n "$path" ] || continue
        triple=$(grep -o '[a-z0-9_]*-unknown-linux-musl' <<<"$path" | head -1)
        [ -n "$triple" ] || { echo "release: $path names no musl target" >&2; exit 1; }
        cp -f "$path" "$out/amikeeper-$triple"
    done
fi

step "SHA256SUMS and the record"
if $dry_run; then
    "$python" scripts/release_record.py "$out" "$version" "$tag" "$commit"
    [ ${#missing[@]} -eq 0 ] || { echo "release: a real run would stop: missing ${missing[*]}" >&2; exit 1; }
else
    "$python" scripts/release_record.py "$out" "$version" "$tag" "$commit" docs/RELEASE-ARTIFACTS.md
    ls -l "$out" >&2
fi
