#!/usr/bin/env bash
# Builds the Python wheels of python/ for both AWS Lambda architectures, and the sdist:
#
#   amikeeper-<v>-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
#   amikeeper-<v>-cp39-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl
#   amikeeper-<v>.tar.gz
#
# maturin cross-compiles with zig (`--zig`), linking against glibc 2.17 whatever this machine's
# glibc, so each wheel installs on any Linux with glibc 2.17 or newer (Lambda's Amazon Linux 2
# and 2023, x86_64 and arm64/Graviton), and is abi3: one wheel for CPython 3.9 and newer.
# Each wheel is then checked (scripts/check_wheel.py): its tags, that its extension module is an
# ELF of the wheel's architecture, that it needs no glibc symbol newer than GLIBC_2.17 and no
# library outside manylinux2014's list, and `auditwheel show` agrees.
#
#   scripts/build-wheels.sh [--release] [--arch x86_64|aarch64|all] [--out DIR] [--no-sdist]
#
# --release   the release profile (scripts/release.sh); without it the profile `wheel-test`
#             (the dev profile without debug info, as scripts/test-python.sh builds), or
#             AMIKEEPER_WHEEL_PROFILE.
# --arch      which wheels (default: all).
# --out       where they go (default: target/wheels in the repository, created; wheels of the
#             same name are replaced).
#
# Needs .venv (scripts/setup-python.sh: maturin, ziglang, auditwheel) and the Rust standard
# library of each target (added with `rustup target add` when missing). Prints nothing on stdout
# but the paths of what it built, one a line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

profile="${AMIKEEPER_WHEEL_PROFILE:-wheel-test}"
arch=all
out="$root/target/wheels"
sdist=1
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release ;;
        --arch) arch="${2:?--arch needs x86_64, aarch64 or all}"; shift ;;
        --out) out="${2:?--out needs a directory}"; shift ;;
        --no-sdist) sdist=0 ;;
        *) echo "build-wheels: unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
    esac
    shift
done
case "$arch" in
    all) arches=(x86_64 aarch64) ;;
    x86_64 | aarch64) arches=("$arch") ;;
    *) echo "build-wheels: --arch is x86_64, aarch64 or all, not $arch" >&2; exit 2 ;;
esac

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amikeeper/target}"
tools="$root/.venv"
if [ ! -x "$tools/bin/maturin" ] || [ ! -x "$tools/bin/auditwheel" ]; then
    echo "build-wheels: $tools has no maturin or auditwheel; run scripts/setup-python.sh" >&2
    exit 1
fi
# maturin finds zig through `python3 -m ziglang`: the .venv's python3 comes first on PATH.
export PATH="$tools/bin:$PATH"
mkdir -p "$out"
out=$(cd "$out" && pwd)

for a in "${arches[@]}"; do
    target="$a-unknown-linux-gnu"
    if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
        echo "build-wheels: rustup target add $target" >&2
        rustup target add "$target" >&2
    fi
    # Each build into a scratch directory first, so that the wheel it made is the one checked.
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/amikeeper-wheels.XXXXXX")
    echo "build-wheels: maturin build --profile $profile --zig --target $target" >&2
    (cd python && maturin build --locked --profile "$profile" --zig --target "$target" \
        --compatibility manylinux2014 --out "$scratch" >&2)
    built=("$scratch"/amikeeper-*.whl)
    python3 scripts/check_wheel.py --arch "$a" "${built[0]}" >&2
    mv -f "${built[0]}" "$out/"
    rm -rf "$scratch"
    echo "$out/$(basename "${built[0]}")"
done

if [ "$sdist" = 1 ]; then
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/amikeeper-sdist.XXXXXX")
    echo "build-wheels: maturin sdist" >&2
    (cd python && maturin sdist --out "$scratch" >&2)
    built=("$scratch"/amikeeper-*.tar.gz)
    python3 scripts/check_wheel.py --sdist "${built[0]}" >&2
    mv -f "${built[0]}" "$out/"
    rm -rf "$scratch"
    echo "$out/$(basename "${built[0]}")"
fi
