#!/usr/bin/env bash
# The comparison of `amikeeper sweep --apply` with aws-amicleaner and Cloud Custodian (c7n) on
# moto, in one command (benches/compare/README.md says what it measures):
#
#   scripts/bench-compare.sh            # the issue's two settings: 5,000 AMIs on plain moto,
#                                       # 1,000 AMIs behind a proxy adding 50 ms per request
#   scripts/bench-compare.sh --quick    # 200 plain, 100 behind +50 ms: a few minutes
#   scripts/bench-compare.sh --amis 1000 --delay-ms 0
#   scripts/bench-compare.sh --throttled         # 2,000 AMIs behind AWS's request throttling
#   scripts/bench-compare.sh --throttled --long  # 10,000 AMIs
#
# Sets up the virtualenv .venv-bench (pinned moto, aws-amicleaner, c7n:
# benches/compare/requirements.txt; separate from the test venv .venv), builds the release
# binary, runs benches/compare/run.py (which starts moto and the proxy on loopback and stops them
# again), prints a markdown table and writes it to benches/compare/results.md. Exit status 1 when
# a pair of tools leaves different AMIs or snapshots, or something in use was deleted.
#
# PYTHON picks the interpreter (default: python3.11 if present, else python3; 3.10.2 or newer).
# AMIKEEPER_BIN, if set, is the amikeeper binary to measure (no build): e.g. a debug build, for
# the throttled setting, whose wall time the buckets set rather than the client's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-bench
REQUIREMENTS=benches/compare/requirements.txt
# shellcheck source=scripts/bench-env.sh
. scripts/bench-env.sh
mkdir -p "$CARGO_TARGET_DIR"

step "Python tools ($VENV: $(grep -E '^(moto|aws-amicleaner|c7n)[[=]' "$REQUIREMENTS" | tr '\n' ' '))"
if [ -x "$VENV/bin/amicleaner" ] && [ -x "$VENV/bin/custodian" ] && [ -f "$STAMP" ] && cmp -s "$REQUIREMENTS" "$STAMP"; then
    echo "bench-compare: $VENV is up to date" >&2
else
    "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10, 2) else 1)' || {
        echo "bench-compare: $python is $("$python" --version 2>&1); c7n needs Python 3.10.2+" >&2
        exit 2
    }
    install_requirements
fi

# scripts/moto-server (moto plus the EC2 operations it lacks) runs on the test venv .venv.
moto_args=()
if [ -x scripts/moto-server ]; then
    step "moto: scripts/moto-server (needs .venv: scripts/setup-python.sh)"
    ./scripts/setup-python.sh
else
    moto_args=(--moto-server "$PWD/$VENV/bin/moto_server")
fi

if [ -n "${AMIKEEPER_BIN:-}" ]; then
    step "amikeeper: $AMIKEEPER_BIN (AMIKEEPER_BIN; not built here)"
else
    step "cargo build --release -p amikeeper-cli (into $CARGO_TARGET_DIR)"
    cargo build --release --locked -p amikeeper-cli
    export AMIKEEPER_BIN="$CARGO_TARGET_DIR/release/amikeeper"
fi

step "benches/compare/run.py $*"
# run.py starts moto and the proxy itself and stops them when it ends; this trap also ends them
# (and run.py) if this script is interrupted.
"$VENV/bin/python" benches/compare/run.py "${moto_args[@]}" "$@" &
bench_pid=$!
trap 'kill -TERM "$bench_pid" 2>/dev/null || true; wait "$bench_pid" 2>/dev/null || true' INT TERM EXIT
status=0
wait "$bench_pid" || status=$?
trap - INT TERM EXIT
exit "$status"
