#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows: ci.yml, release.yml) with actionlint,
# which also runs shellcheck on every `run:` script, and shellchecks the release scripts the
# workflows call (scripts/check-crates.sh, scripts/release.sh, this one). Both tools come from
# .venv (scripts/setup-python.sh, pinned in scripts/requirements-test.txt). Fails on any finding.
#
#   scripts/lint-workflows.sh
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in actionlint shellcheck; do
    if [ ! -x ".venv/bin/$tool" ]; then
        echo "lint-workflows: .venv/bin/$tool is missing; run scripts/setup-python.sh" >&2
        exit 1
    fi
done
# The shellcheck named here, not one that may or may not be on the PATH: without it actionlint
# skips the `run:` scripts silently. No step runs Python inline, so pyflakes is off.
workflows=(.github/workflows/*.yml)
.venv/bin/actionlint -no-color -oneline -shellcheck "$PWD/.venv/bin/shellcheck" -pyflakes= "${workflows[@]}"
.venv/bin/shellcheck scripts/check-crates.sh scripts/release.sh scripts/lint-workflows.sh
echo "lint-workflows: ${workflows[*]} and the release scripts are clean" >&2
