#!/usr/bin/env bash
# Install what the tests and the demo need on a fresh Debian/Ubuntu machine:
# Debian packages (Dovecot, microsocks and tinyproxy, OpenSSL headers, C
# compilers, valgrind, strace; for the Windows DLLs mingw-w64, llvm-dlltool,
# lld and Wine, 64- and 32-bit), the Rust targets for Windows and the Python test tools. Installs only what is
# missing, so a second run is quick.
set -euo pipefail

packages=(dovecot-core dovecot-pop3d openssl libssl-dev pkg-config gcc g++ clang valgrind python3 python3-pip python3-venv cmake
    gcc-mingw-w64-x86-64-win32 gcc-mingw-w64-i686-win32 llvm lld
    wine wine64 wine32:i386 libgnutls30:i386 strace microsocks tinyproxy)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' own services from starting (tinyproxy's would listen
    # on port 8888): the tests run their own servers and proxies on loopback.
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
    fi
    # Wine's 32-bit half (for the i686 DLL) comes from Debian's i386 packages.
    dpkg --print-foreign-architectures | grep -qx i386 || dpkg --add-architecture i386
    apt-get update -qq
    # libgnutls30:i386, which Wine's 32-bit SChannel runs on, is only
    # recommended by wine32, so it is named.
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

installed_targets=$(rustup target list --installed)
for t in x86_64-pc-windows-gnu i686-pc-windows-gnu; do
    grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done

python3 - <<'PY' 2>/dev/null || python3 -m pip install -q pytest cffi
import pytest, cffi
PY
