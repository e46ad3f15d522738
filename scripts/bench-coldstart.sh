#!/usr/bin/env bash
# The Python cold-start benchmark (benches/coldstart/README.md says what it measures): seed 001's
# boto3 handler against amikeeper's one-line handler, each in a fresh Python process, on moto.
#
#   scripts/bench-coldstart.sh                     # 15 repetitions
#   scripts/bench-coldstart.sh --repetitions 31
#
# Builds the RELEASE wheel (maturin --release --zig, into $CARGO_TARGET_DIR: about 10 minutes the
# first time), makes the virtualenv .venv-coldstart with pinned boto3
# (benches/coldstart/requirements.txt) and that wheel, and runs benches/coldstart/run.py, which
# starts scripts/moto-server on a free loopback port and stops it at the end. Not run by CI.
#
# PYTHON picks the interpreter (default: python3.11 if present, else python3; 3.9 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-coldstart
REQUIREMENTS=benches/coldstart/requirements.txt
# shellcheck source=scripts/bench-env.sh
. scripts/bench-env.sh

step "Build tools and moto (.venv: scripts/setup-python.sh)"
./scripts/setup-python.sh

step "$VENV: $(grep -m1 '^boto3' "$REQUIREMENTS")"
if [ ! -f "$STAMP" ] || ! cmp -s "$REQUIREMENTS" "$STAMP"; then
    install_requirements
fi

step "maturin build --release --zig (into $CARGO_TARGET_DIR)"
work=$(mktemp -d "${TMPDIR:-/tmp}/amikeeper-coldstart.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd python && PATH="$PWD/../.venv/bin:$PATH" maturin build --locked --release --zig --out "$work" --quiet)
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$work"/amikeeper-*.whl

step "benches/coldstart/run.py $*"
"$VENV/bin/python" benches/coldstart/run.py --moto-server "$PWD/scripts/moto-server" --output benches/coldstart/results.md "$@"
