#!/usr/bin/env bash
# Creates the project-local virtualenv .venv with the pinned Python test tools
# (scripts/requirements-test.txt: moto_server, the AWS emulator the SDK backend is tested
# against; maturin, ziglang, pytest and mypy, which build and test the Python wheel). Installs
# nothing outside the clone. Idempotent: when .venv already holds exactly
# these pins, it returns at once.
#
#   scripts/setup-python.sh            # then: export AMIKEEPER_MOTO_SERVER="$PWD/scripts/moto-server"
#
# scripts/moto-server runs this .venv's moto_server with the EC2 operations moto lacks added
# (the package scripts/moto_ext/); the tests need it, not the bare .venv/bin/moto_server.
#
# PYTHON picks the interpreter (default: python3.11 if present, else python3; 3.9 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
REQUIREMENTS=scripts/requirements-test.txt
STAMP="$VENV/.amikeeper-requirements"

python=${PYTHON:-}
if [ -z "$python" ]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi

# The stamp holds the requirements file as installed; equal and moto_server present: nothing to do.
if [ -x "$VENV/bin/moto_server" ] && [ -f "$STAMP" ] && cmp -s "$REQUIREMENTS" "$STAMP"; then
    echo "setup-python: $VENV is up to date ($(grep -m1 '^moto' "$REQUIREMENTS"))" >&2
    exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup-python: $python not found; install Python 3.9+ (or set PYTHON)" >&2
    exit 1
fi
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' || {
    echo "setup-python: $python is $("$python" --version 2>&1); Python 3.9+ is needed" >&2
    exit 1
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup-python: creating $VENV with $("$python" --version 2>&1)" >&2
    "$python" -m venv "$VENV"
fi
echo "setup-python: installing $REQUIREMENTS into $VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
"$VENV/bin/moto_server" --help >/dev/null
cp "$REQUIREMENTS" "$STAMP"
echo "setup-python: $VENV ready ($("$VENV/bin/python" -m pip show moto 2>/dev/null | grep -m1 '^Version' || true))" >&2
