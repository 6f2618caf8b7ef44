#!/usr/bin/env bash
# Lint gates of the Python binding: ruff (package, tests, examples) and mypy
# (the package), configured in pyproject.toml. Installs the pinned tools
# with pip when they are missing or at another version; exits non-zero on
# any finding.
set -euo pipefail

RUFF_VERSION=0.17.6
MYPY_VERSION=2.4.1

cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

installed() { # name version: is exactly that version installed?
    local shown
    shown=$("$PYTHON" -m pip show "$1" 2>/dev/null) || return 1
    grep -qx "Version: $2" <<<"$shown"
}
missing=()
installed ruff "$RUFF_VERSION" || missing+=("ruff==$RUFF_VERSION")
installed mypy "$MYPY_VERSION" || missing+=("mypy==$MYPY_VERSION")
if ((${#missing[@]})); then
    "$PYTHON" -m pip install --quiet "${missing[@]}"
fi

status=0
echo "ruff $RUFF_VERSION: check"
"$PYTHON" -m ruff check . || status=1
echo "mypy $MYPY_VERSION: mailtls"
"$PYTHON" -m mypy || status=1
exit $status
