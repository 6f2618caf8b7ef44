#!/usr/bin/env bash
# Install what the tests and the demo need on a fresh Debian/Ubuntu machine:
# Debian packages (Dovecot, OpenSSL headers, a C compiler, valgrind) and the
# Python test tools. Installs only what is missing, so a second run is quick.
set -euo pipefail

packages=(dovecot-core dovecot-pop3d openssl libssl-dev pkg-config gcc g++ clang valgrind python3 python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' own services from starting: the tests run their own
    # servers on loopback.
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -n "$added_policy" ] && rm -f "$policy"
fi

# clang's sanitizer runtimes come in a package named after its version.
clang_major=$(clang -dumpversion | cut -d. -f1)
rt=libclang-rt-$clang_major-dev
if ! dpkg-query -W -f='${Status}' "$rt" 2>/dev/null | grep -q "install ok installed"; then
    echo "installing Debian package: $rt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$rt" >/dev/null
fi

python3 - <<'PY' 2>/dev/null || python3 -m pip install -q pytest cffi
import pytest, cffi
PY
