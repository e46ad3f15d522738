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

step "the benchmark's throttling proxy (benches/compare/tests: AWS's request token buckets against the documented figures, with a scripted clock; its throttled answers as botocore parses them)"
./.venv/bin/python -m pytest -p no:cacheprovider -q benches/compare/tests

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, integration, doc tests; the CLI tests run \`amikeeper demo\`; the SDK backend against moto)"
cargo test --workspace --locked

step "fuzzing (scripts/fuzz.sh 20: the event parser and the configuration loader, 20 s each; the first run on a machine installs cargo-fuzz and builds the targets)"
./scripts/fuzz.sh 20

step "Python wheel: maturin --zig (manylinux_2_17, abi3), pip install into a fresh virtualenv, pytest against moto, mypy --strict, stubtest"
./scripts/test-python.sh

step "all tests passed"
