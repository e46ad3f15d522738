#!/usr/bin/env bash
# Tests the aarch64 (arm64, Graviton) wheel on an arm64 CPython, under emulation:
#
#   1. scripts/setup-arm64.sh: qemu-user and an arm64 Debian root with python3 (cached);
#   2. scripts/build-wheels.sh --arch aarch64 (the test profile; --release for the release one),
#      unless AMIKEEPER_ARM64_WHEEL names a wheel already built;
#   3. unpacks the wheel (as pip would install it) and runs scripts/artifacts/test_artifacts.py:
#      on the arm64 python3, run by `qemu-aarch64-static -L ROOT`, with the wheel alone on its
#      path, the module reports machine aarch64, `parse_event` parses every event fixture of the
#      core as the Rust core does, and the Lambda handler handles an AWS Backup event against
#      moto, which runs natively and which the emulated Python reaches over 127.0.0.1.
#
#   scripts/test-arm64.sh [--release] [pytest arguments...]
#
# Any failure fails the run. Needs .venv (scripts/setup-python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

release=()
if [ "${1:-}" = --release ]; then
    release=(--release)
    shift
fi
tools="$root/.venv"
arm64_root=$(./scripts/setup-arm64.sh)
work=$(mktemp -d "${TMPDIR:-/tmp}/amikeeper-arm64.XXXXXX")
trap 'rm -rf "$work"' EXIT

wheel="${AMIKEEPER_ARM64_WHEEL:-}"
if [ -z "$wheel" ]; then
    wheel=$(./scripts/build-wheels.sh "${release[@]}" --arch aarch64 --no-sdist --out "$work/wheels")
fi
echo "test-arm64: $(basename "$wheel") on $(qemu-aarch64-static -L "$arm64_root" "$arm64_root/usr/bin/python3" --version) (arm64, qemu-user)" >&2
"$tools/bin/python" -m zipfile -e "$wheel" "$work/site"

./scripts/artifacts/run.sh aarch64 "$work/site" qemu-aarch64-static -L "$arm64_root" "$arm64_root/usr/bin/python3" -S -- "$@"
