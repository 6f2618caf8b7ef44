#!/usr/bin/env bash
# Build the wheel of the Python binding with libmailtls inside the package:
# `pip install mailtls-*.whl` then needs nothing else from this repository.
#
#   bash bindings/python/build_wheel.sh [OUT_DIR]     (default bindings/python/dist)
#
# Builds the library in release mode (cargo build --release --lib), copies
# the package into a scratch directory (the source tree stays as it is),
# puts a stripped copy of libmailtls.so into the copy's mailtls/ and builds
# the wheel from it with pip (setuptools from PyPI, in pip's isolated build
# environment). setup.py tags it py3-none-<platform>, e.g.
# py3-none-linux_x86_64: not manylinux, as the library is not audited
# against that policy; it needs the system's glibc and OpenSSL 3
# (libssl.so.3, libcrypto.so.3), which this script reports.
# Prints the wheel's path on the last line of stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$here/dist}
PYTHON=${PYTHON:-python3}

cd "$repo"
cargo build --locked --release --lib >&2
target_dir=$(cargo metadata --format-version 1 --no-deps |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
library="$target_dir/release/libmailtls.so"

stage=$(mktemp -d "${TMPDIR:-/tmp}/mailtls-wheel.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$here/pyproject.toml" "$here/setup.py" "$here/README.md" "$stage/"
mkdir "$stage/mailtls"
cp "$here"/mailtls/*.py "$here/mailtls/py.typed" "$stage/mailtls/"
# The release profile keeps line tables (debug = 1) for backtraces; the
# wheel's copy goes without (about 1 MB instead of 12).
strip --strip-unneeded -o "$stage/mailtls/libmailtls.so" "$library"

# What the library needs from the system, for the person installing it.
needed=$(readelf -d "$stage/mailtls/libmailtls.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
glibc=$(objdump -T "$stage/mailtls/libmailtls.so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
echo "libmailtls.so: $(stat -c %s "$stage/mailtls/libmailtls.so") bytes; needs ${needed}(symbols up to ${glibc})" >&2

mkdir -p "$out"
rm -f "$out"/mailtls-*.whl
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$out" "$stage" >&2
wheel=$(ls "$out"/mailtls-*.whl)
case "$wheel" in
*-py3-none-any.whl)
    echo "build_wheel.sh: $wheel is tagged for any platform but holds a native library" >&2
    exit 1
    ;;
esac
echo "$wheel"
