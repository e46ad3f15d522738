#!/usr/bin/env bash
# The Python wheel's tests (scripts/test.sh runs this after `cargo test`):
#
#   1. builds the x86_64 wheel of python/ with scripts/build-wheels.sh (maturin and zig: linked
#      against glibc 2.17, so the wheel is manylinux_2_17 / manylinux2014 x86_64, abi3 for
#      CPython 3.9+, whatever this machine's glibc), in the profile `wheel-test` (the dev profile
#      without debug info; see the workspace Cargo.toml) unless AMIKEEPER_WHEEL_PROFILE names
#      another, into $CARGO_TARGET_DIR, or takes the one AMIKEEPER_WHEEL names;
#   2. checks the wheel's tags and its extension module (scripts/check_wheel.py, run by
#      build-wheels.sh);
#   3. installs it with pip into a fresh virtualenv (nothing else goes in: pytest, boto3 and mypy
#      come from .venv through a .pth file placed after the virtualenv's own site-packages);
#   4. runs python/tests against moto (scripts/moto-server, started by the tests on a free port
#      of 127.0.0.1), then `mypy --strict` on the tests and `mypy.stubtest` on the package.
#
# Needs .venv (scripts/setup-python.sh: maturin, ziglang, pytest, mypy, moto). Extra arguments
# go to pytest, e.g. `scripts/test-python.sh -k seed_001`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amikeeper/target}"
export AMIKEEPER_MOTO_SERVER="${AMIKEEPER_MOTO_SERVER:-$root/scripts/moto-server}"
tools="$root/.venv"
if [ ! -x "$tools/bin/maturin" ] || [ ! -x "$tools/bin/pytest" ]; then
    echo "test-python: $tools has no maturin or pytest; run scripts/setup-python.sh" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/amikeeper-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT

wheel="${AMIKEEPER_WHEEL:-}"
if [ -z "$wheel" ]; then
    wheel=$(./scripts/build-wheels.sh --arch x86_64 --no-sdist --out "$work/dist")
fi
echo "test-python: $(basename "$wheel") ($(du -h "$wheel" | cut -f1))" >&2

"$tools/bin/python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index "$wheel"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
tools_site=$("$tools/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
# Sorts after the wheel: the test tools come second on sys.path, the wheel's amikeeper first.
echo "$tools_site" > "$site/zz-amikeeper-test-tools.pth"

python="$work/venv/bin/python"
# The CLI that `cargo test` built: tests compare the wheel's output with what it prints.
if [ -x "$CARGO_TARGET_DIR/debug/amikeeper" ]; then
    export AMIKEEPER_CLI="$CARGO_TARGET_DIR/debug/amikeeper"
fi
cd python
echo "test-python: pytest (the wheel against moto)" >&2
"$python" -m pytest -p no:cacheprovider "$@"
echo "test-python: mypy --strict (tests and package), stubtest (stubs against the module)" >&2
export MYPY_CACHE_DIR="$work/mypy"
"$python" -m mypy --strict tests "$site/amikeeper"
# From the scratch directory, where stubtest leaves its cache (it ignores MYPY_CACHE_DIR).
(cd "$work" && "$python" -m mypy.stubtest --mypy-config-file "$root/python/pyproject.toml" \
    --allowlist "$root/python/stubtest-allowlist.txt" amikeeper)
