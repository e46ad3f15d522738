#!/usr/bin/env bash
# Fuzzes the event parser and the configuration loader with cargo-fuzz (libFuzzer), each for a
# bounded time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # SECONDS per target (default 60); targets: events config
#
# Installs cargo-fuzz (pinned) the first time, and builds the targets, both under
# $AMIKEEPER_CACHE (default ~/.cache/amikeeper: cargo-fuzz/ and fuzz-target/), outside the clone
# so that later runs on the machine reuse them; a fresh machine installs and builds once. Only the stable
# toolchain is here: cargo-fuzz passes nightly-only rustc flags (-Zsanitizer, ...), so it runs
# with RUSTC_BOOTSTRAP=1 and `--sanitizer none` (libFuzzer's coverage guidance still works; no
# AddressSanitizer, which safe Rust does not need). The seed corpus is rebuilt from the event
# fixtures and fuzz/seeds/ into fuzz/corpus/<target>/, where the inputs libFuzzer finds stay.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes the script fail; replay it
# with: RUSTC_BOOTSTRAP=1 ~/.cache/amikeeper/cargo-fuzz/bin/cargo-fuzz run --sanitizer none TARGET FILE
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(events config)
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz="$root/fuzz"
cache="${AMIKEEPER_CACHE:-$HOME/.cache/amikeeper}"
tools="$cache/cargo-fuzz"
target_dir="$cache/fuzz-target"
cargo_fuzz="$tools/bin/cargo-fuzz"

if ! [ -x "$cargo_fuzz" ] || ! "$cargo_fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools" >&2
    # A temporary target directory that cargo install removes afterwards.
    env -u CARGO_TARGET_DIR cargo install --locked --quiet "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$tools"
fi

# The seed corpus.
mkdir -p "$fuzz/corpus/events" "$fuzz/corpus/config"
cp "$root"/crates/amikeeper/src/events/fixtures/*.json "$fuzz/corpus/events/"
cp "$fuzz"/seeds/config/* "$fuzz/corpus/config/"
if [ -f "$root/examples/python-lambda/keeper.toml" ]; then
    cp "$root/examples/python-lambda/keeper.toml" "$fuzz/corpus/config/example-python-lambda.toml"
fi

export RUSTC_BOOTSTRAP=1
# The fuzz project is not in the main workspace: it has its own lock file and target directory.
unset CARGO_TARGET_DIR
mkdir -p "$target_dir"
cd "$fuzz"
status=0
for target in "${targets[@]}"; do
    echo "fuzz.sh: $target for ${seconds}s" >&2
    log="$target_dir/fuzz-$target.log"
    if ! "$cargo_fuzz" run --sanitizer none --release --target-dir "$target_dir" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 -print_final_stats=1 \
        2>"$log"; then
        status=1
        tail -n 60 "$log" >&2
        echo "fuzz.sh: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        continue
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)"
    rate="$(grep -o 'exec/s: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$')"
    corpus="$(ls "corpus/$target" | wc -l)"
    echo "fuzz.sh: $target: ${runs:-?} executions in ${seconds}s (${rate:-?}/s at the end), corpus $corpus inputs, no crash"
done
exit "$status"
