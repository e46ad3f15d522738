# Sourced by the benchmark scripts (scripts/bench-*.sh) from the repository root, after they set
# VENV (the benchmark's own virtualenv) and REQUIREMENTS (its pinned packages). Sets the shared
# build directory, STAMP, `step` and `python` (PYTHON, else python3.11 if present, else
# python3), and `install_requirements`.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/amikeeper/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The requirements file as last installed into $VENV.
STAMP="$VENV/.amikeeper-requirements"

step() { printf '\n==> %s\n' "$*" >&2; }

python=${PYTHON:-}
if [ -z "$python" ]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi

# Makes $VENV with $python if it is missing, installs $REQUIREMENTS into it, and stamps it.
install_requirements() {
    [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$STAMP"
}
