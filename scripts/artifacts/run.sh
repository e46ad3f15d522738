#!/usr/bin/env bash
# Runs scripts/artifacts/test_artifacts.py on a built artifact (scripts/test-arm64.sh and
# scripts/build-layers.sh call it):
#
#   scripts/artifacts/run.sh MACHINE SITE PYTHON... [-- pytest arguments...]
#
# MACHINE is what the artifact's Python must report (aarch64, x86_64); SITE the directory that
# holds the package `amikeeper` (the only one on the artifact's PYTHONPATH); PYTHON... the command
# that runs the artifact's Python. moto runs natively (scripts/moto-server, or
# AMIKEEPER_MOTO_SERVER); the CLI that `cargo test` built, when there, is compared with each parse.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

machine="${1:?run.sh MACHINE SITE PYTHON... [-- pytest arguments]}"
site="${2:?run.sh MACHINE SITE PYTHON...}"
shift 2
python=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    python+=("$1")
    shift
done
[ $# -gt 0 ] && shift

cli="${CARGO_TARGET_DIR:-$HOME/.cache/amikeeper/target}/debug/amikeeper"
if [ -z "${AMIKEEPER_CLI:-}" ] && [ -x "$cli" ]; then export AMIKEEPER_CLI="$cli"; fi
AMIKEEPER_MOTO_SERVER="${AMIKEEPER_MOTO_SERVER:-$root/scripts/moto-server}" \
AMIKEEPER_ARTIFACT_PYTHON="${python[*]}" \
AMIKEEPER_ARTIFACT_PATH="$site" \
AMIKEEPER_ARTIFACT_MACHINE="$machine" \
    "$root/.venv/bin/python" -m pytest -p no:cacheprovider -q --rootdir scripts/artifacts scripts/artifacts "$@"
