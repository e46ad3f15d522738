#!/usr/bin/env bash
# Installs Debian's Chromium (package `chromium`, /usr/bin/chromium) when it is missing, for the
# test that renders amikeeper's HTML pages headless (crates/amikeeper-cli/tests/html.rs).
# Idempotent: when chromium is on the PATH (or CHROMIUM names one), it returns at once.
# Installing needs root (or sudo) and apt-get; elsewhere it says what to install and fails.
#
#   scripts/setup-chromium.sh          # then the test finds /usr/bin/chromium
set -euo pipefail

if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
    echo "setup-chromium: using $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))" >&2
    exit 0
fi
if command -v chromium >/dev/null 2>&1; then
    echo "setup-chromium: $(chromium --version 2>/dev/null || echo chromium) is installed" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-chromium: chromium is missing and apt-get is not here; install Chromium and set CHROMIUM=/path/to/it" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "setup-chromium: chromium is missing; installing it needs root (apt-get install chromium)" >&2
        exit 1
    fi
fi
echo "setup-chromium: installing Debian's chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version >&2
