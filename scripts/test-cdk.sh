#!/usr/bin/env bash
# The CDK construct's tests (cdk/; scripts/test.sh runs this after the layers are built):
#
#   1. Node.js and npm: the machine's, or Debian's packages (installed here when missing);
#   2. `npm ci` in cdk/ from the pinned package-lock.json, with npm's cache in
#      ${AMIKEEPER_CACHE:-$HOME/.cache/amikeeper}/npm (skipped when cdk/node_modules already holds
#      exactly that lock file);
#   3. the amikeeper CLI (AMIKEEPER_CLI, else $CARGO_TARGET_DIR/debug/amikeeper, which
#      `cargo test --workspace` builds; built here when missing): the construct takes the policy
#      `amikeeper iam-policy` prints, and the tests use its real output;
#   4. the layer zip the sample app deploys: target/layers/amikeeper-python-arm64.zip from
#      scripts/build-layers.sh (AMIKEEPER_LAYER_ZIP names another, of the architecture
#      AMIKEEPER_LAYER_ARCH, arm64 or x86_64, default arm64). When it is
#      missing and scripts/build-layers.sh is not there, a layer of this machine's architecture is
#      made from a wheel built with maturin (as scripts/test-python.sh builds it);
#   5. tsc, then `cdk synth` of the sample app (cdk/bin/app.ts) offline: no AWS credentials, no
#      lookups, no version check or report, no notices;
#   6. cfn-lint (from .venv, scripts/setup-python.sh) on the synthesized template;
#   7. the tests (cdk/test/*.ts, node's test runner with aws-cdk-lib/assertions): the construct
#      for the example configurations, the event rules against the event fixtures, and the
#      sample app's synthesized template.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache="${AMIKEEPER_CACHE:-$HOME/.cache/amikeeper}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"

# 1. Node.js 20 or later (aws-cdk-lib's engines); Debian's bookworm packages have 18, which
# npm accepts with a warning.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "test-cdk: installing Debian's nodejs and npm" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
echo "test-cdk: node $(node --version), npm $(npm --version)" >&2

# 2. The node packages, pinned by cdk/package-lock.json.
stamp=cdk/node_modules/.amikeeper-package-lock.json
if [ -f "$stamp" ] && cmp -s cdk/package-lock.json "$stamp"; then
    echo "test-cdk: cdk/node_modules is up to date" >&2
else
    echo "test-cdk: npm ci (cache: $cache/npm)" >&2
    (cd cdk && npm ci --cache "$cache/npm" --prefer-offline --no-audit --no-fund --loglevel=error)
    cp cdk/package-lock.json "$stamp"
fi

# 3. The CLI.
if [ -z "${AMIKEEPER_CLI:-}" ]; then
    if [ ! -x "$CARGO_TARGET_DIR/debug/amikeeper" ]; then
        echo "test-cdk: building the amikeeper CLI" >&2
        cargo build --locked -p amikeeper-cli
    fi
    export AMIKEEPER_CLI="$CARGO_TARGET_DIR/debug/amikeeper"
fi

# 4. The layer.
arch="${AMIKEEPER_LAYER_ARCH:-arm64}"
layer="${AMIKEEPER_LAYER_ZIP:-$root/target/layers/amikeeper-python-$arch.zip}"
if [ ! -f "$layer" ] && [ -x scripts/build-layers.sh ]; then
    echo "test-cdk: scripts/build-layers.sh" >&2
    scripts/build-layers.sh
fi
if [ ! -f "$layer" ]; then
    case "$(uname -m)" in
        x86_64) arch=x86_64 ;;
        aarch64) arch=arm64 ;;
        *) echo "test-cdk: no layer zip and no wheel for $(uname -m)" >&2; exit 1 ;;
    esac
    layer="$cache/cdk/amikeeper-python-$arch.zip"
    if [ ! -f "$layer" ] || [ -n "$(find python crates/amikeeper crates/amikeeper-aws -newer "$layer" -type f -print -quit)" ]; then
        echo "test-cdk: no layer zip; making $layer from a wheel built here" >&2
        work=$(mktemp -d "${TMPDIR:-/tmp}/amikeeper-layer.XXXXXX")
        (cd python && PATH="$root/.venv/bin:$PATH" maturin build --locked --profile "${AMIKEEPER_WHEEL_PROFILE:-wheel-test}" --zig --out "$work/dist")
        # A layer's Python packages are under python/ (Lambda puts it on sys.path); a wheel's
        # contents are what site-packages gets.
        "$root/.venv/bin/python" -m zipfile -e "$work"/dist/amikeeper-*.whl "$work/layer/python"
        mkdir -p "$(dirname "$layer")"
        (cd "$work/layer" && rm -f "$layer" && "$root/.venv/bin/python" -m zipfile -c "$layer" python)
        rm -rf "$work"
    fi
fi
echo "test-cdk: layer $layer ($arch)" >&2

# 5. Compile, and synthesize the sample app offline.
cd cdk
rm -rf dist cdk.out
npx --no-install tsc -p .
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1
# No credentials: an environment-agnostic stack needs none, and none may be looked up.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
npx --no-install cdk synth --quiet --no-version-reporting --no-notices --no-lookups \
    -c architecture="$arch" -c layerZip="$layer" >/dev/null
template=cdk.out/Amikeeper.template.json
echo "test-cdk: synthesized $template ($(wc -c <"$template") bytes)" >&2

# 6. cfn-lint.
"$root/.venv/bin/cfn-lint" --format parseable "$template"
echo "test-cdk: cfn-lint: no finding" >&2

# 7. The tests.
AMIKEEPER_CDK_TEMPLATE="$PWD/$template" AMIKEEPER_CDK_ARCH="$arch" node --test dist/test/
