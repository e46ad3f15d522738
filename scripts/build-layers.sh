#!/usr/bin/env bash
# Builds an AWS Lambda layer of the amikeeper Python package per Lambda architecture:
#
#   target/layers/amikeeper-python-x86_64.zip
#   target/layers/amikeeper-python-arm64.zip
#
# Each is the wheel of that architecture (scripts/build-wheels.sh) installed with
# `pip install --target python/`: Lambda extracts a layer to /opt, and its Python runtimes have
# /opt/python on sys.path, so every file is under python/ in the zip. The wheels are abi3 and
# manylinux2014, so each layer serves every Python runtime of Lambda (python3.9 and newer) on
# its architecture; publish it with `--compatible-architectures x86_64` (or arm64).
#
# Then it tests them: each zip's layout (everything under python/, the package, its extension
# module and its dist-info), and the x86_64 layer unzipped and alone on PYTHONPATH, on this
# machine's Python: it imports, parses every event fixture as the Rust core does, and its Lambda
# handler handles an AWS Backup event against moto (scripts/artifacts/test_artifacts.py). The
# arm64 layer holds the aarch64 wheel, which scripts/test-arm64.sh runs under emulation.
#
#   scripts/build-layers.sh [--release | --wheels DIR] [--out DIR]
#
# --release   release wheels (scripts/release.sh); without it the test profile, as build-wheels.sh.
# --wheels    the wheels already built there (by build-wheels.sh) instead of building them.
# --out       where the zips go (default: target/layers in the repository).
#
# Needs .venv (scripts/setup-python.sh). Prints nothing on stdout but the zips' paths.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

release=()
wheels_dir=""
out="$root/target/layers"
while [ $# -gt 0 ]; do
    case "$1" in
        --release) release=(--release) ;;
        --wheels) wheels_dir="${2:?--wheels needs a directory}"; shift ;;
        --out) out="${2:?--out needs a directory}"; shift ;;
        *) echo "build-layers: unknown argument $1 (see the comment at the top of $0)" >&2; exit 2 ;;
    esac
    shift
done
tools="$root/.venv"
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/amikeeper-layers.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "$wheels_dir" ]; then
    wheels=("$wheels_dir"/amikeeper-*-manylinux2014_x86_64.*.whl "$wheels_dir"/amikeeper-*-manylinux2014_aarch64.*.whl)
    for wheel in "${wheels[@]}"; do
        [ -f "$wheel" ] || { echo "build-layers: no wheel $wheel (scripts/build-wheels.sh --out $wheels_dir)" >&2; exit 1; }
    done
else
    built=$(./scripts/build-wheels.sh "${release[@]}" --arch all --no-sdist --out "$work/wheels")
    mapfile -t wheels <<< "$built"
fi
for wheel in "${wheels[@]}"; do
    case "$wheel" in
        *_x86_64.whl) arch=x86_64 platform=manylinux2014_x86_64 ;;
        *_aarch64.whl) arch=arm64 platform=manylinux2014_aarch64 ;;
        *) echo "build-layers: $wheel is for neither architecture" >&2; exit 1 ;;
    esac
    layer="$work/$arch"
    # --platform and --only-binary: pip installs the wheel of the other architecture too;
    # --no-compile: no .pyc of this machine's Python, which the runtime's would not use.
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --no-compile \
        --only-binary=:all: --platform "$platform" --target "$layer/python" "$wheel"
    zip="$out/amikeeper-python-$arch.zip"
    rm -f "$zip"
    (cd "$layer" && "$tools/bin/python" -m zipfile -c "$zip" python)
    "$tools/bin/python" - "$zip" <<'PY'
import re, sys, zipfile
path = sys.argv[1]
names = zipfile.ZipFile(path).namelist()
outside = [n for n in names if not n.startswith("python/")]
assert not outside, f"{path}: outside python/: {outside}"
for wanted in ("python/amikeeper/__init__.py", "python/amikeeper/_amikeeper.abi3.so", "python/amikeeper/py.typed"):
    assert wanted in names, f"{path} has no {wanted}"
assert any(re.fullmatch(r"python/amikeeper-[^/]+\.dist-info/RECORD", n) for n in names), f"{path} has no dist-info"
print(f"build-layers: {path}: {len(names)} files, all under python/", file=sys.stderr)
PY
    echo "build-layers: $(basename "$zip") ($(du -h "$zip" | cut -f1))" >&2
    echo "$zip"
done

echo "build-layers: the x86_64 layer, unzipped, on $("$tools/bin/python" --version): import, parse, handle against moto" >&2
mkdir -p "$work/opt"
"$tools/bin/python" -m zipfile -e "$out/amikeeper-python-x86_64.zip" "$work/opt"
./scripts/artifacts/run.sh x86_64 "$work/opt/python" "$tools/bin/python" -S >&2
