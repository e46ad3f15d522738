#!/usr/bin/env bash
# Runs every test of the repository: formatting, lints, unit, integration and doc tests.
# Installs nothing globally; builds go to $CARGO_TARGET_DIR (default: a cache outside the clone,
# so repeated runs on one machine reuse builds; a fresh machine simply builds from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amikeeper/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n==> %s\n' "$*" >&2; }

step "Python test tools (.venv: pinned moto_server, the AWS emulator the SDK backend is tested against; maturin, zig, pytest, mypy for the wheel)"
./scripts/setup-python.sh
# The moto tests (crates/amikeeper-aws/tests/moto.rs, crates/amikeeper-cli/tests/moto.rs) use this
# emulator, and fail rather than skip when it is missing.
export AMIKEEPER_MOTO_SERVER="$PWD/scripts/moto-server"
export AMIKEEPER_REQUIRE_MOTO=1

step "Chromium (Debian's chromium: crates/amikeeper-cli/tests/html.rs loads the HTML pages in it, headless, with the network off)"
./scripts/setup-chromium.sh
export AMIKEEPER_REQUIRE_CHROMIUM=1

step "the emulator's patches (scripts/moto_ext/tests: each patch against botocore's model of its operations and the documented error codes, and thread safety)"
./.venv/bin/python -m pytest -p no:cacheprovider -q scripts/moto_ext/tests

step "release tooling: the GitHub Actions workflows (scripts/lint-workflows.sh: actionlint, with shellcheck on each run: script; shellcheck on the release scripts) and the release scripts' tests (scripts/tests)"
./scripts/lint-workflows.sh
./.venv/bin/python -m pytest -p no:cacheprovider -q scripts/tests
./.venv/bin/python -m mypy --strict scripts/check_crates.py scripts/release_record.py scripts/tests

step "the benchmark's throttling proxy (benches/compare/tests: AWS's request token buckets against the documented figures, with a scripted clock; its throttled answers as botocore parses them)"
./.venv/bin/python -m pytest -p no:cacheprovider -q benches/compare/tests

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, integration, doc tests; the CLI tests run \`amikeeper demo\`; the SDK backend against moto)"
cargo test --workspace --locked

step "publishable crates (scripts/check-crates.sh: metadata, the MSRV against every dependency, cargo package in publishing order, the SDK-free core built from its package, cargo publish --dry-run, nothing read from outside a package)"
./scripts/check-crates.sh >/dev/null

step "fuzzing (scripts/fuzz.sh 20: the event parser and the configuration loader, 20 s each; the first run on a machine installs cargo-fuzz and builds the targets)"
./scripts/fuzz.sh 20

step "Python wheels: x86_64 and aarch64 (maturin --zig: manylinux2014, abi3; tags, ELF machine, glibc symbols, auditwheel), and the sdist"
wheels="$CARGO_TARGET_DIR/amikeeper-wheels"
rm -rf "$wheels"
./scripts/build-wheels.sh --out "$wheels" >/dev/null

step "Python wheel (x86_64): pip install into a fresh virtualenv, pytest against moto, mypy --strict, stubtest"
AMIKEEPER_WHEEL=$(echo "$wheels"/amikeeper-*_x86_64.whl) ./scripts/test-python.sh

step "Python wheel (aarch64) under qemu-user on an arm64 CPython (scripts/setup-arm64.sh): every event fixture, a handle against moto"
AMIKEEPER_ARM64_WHEEL=$(echo "$wheels"/amikeeper-*_aarch64.whl) ./scripts/test-arm64.sh

step "Lambda layers (x86_64, arm64): python/ at the zip's root; the x86_64 layer imports, parses and handles against moto"
./scripts/build-layers.sh --wheels "$wheels" >/dev/null

step "CDK construct (scripts/test-cdk.sh: npm ci from cdk/package-lock.json, tsc, cdk synth of cdk/bin/app.ts offline, cfn-lint on the template, the construct's tests with the CLI's real policy)"
./scripts/test-cdk.sh

step "all tests passed"
