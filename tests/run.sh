#!/usr/bin/env bash
# The whole test suite, as README gives it: installs what it needs, starts
# Dovecot (POP3) and Postfix (SMTP, authenticating through Dovecot) on
# 127.0.0.1 with a throwaway CA and SOCKS5 and HTTP proxies to them
# (microsocks, tinyproxy), runs the Rust, C and Python tests against
# them, cross-builds the Windows DLLs and runs their tests under Wine, and
# stops exactly the servers it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh

echo "== Lint gates: rustfmt, clippy (both TLS backends), the minimum Rust version, ruff and mypy"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --all-targets --features native-tls-backend -- -D warnings
# The Windows code (SChannel through native-tls, Winsock error numbers).
cargo clippy --locked --lib --target x86_64-pc-windows-gnu -- -D warnings
# The library and its tests build with the minimum Rust version that
# Cargo.toml declares (rust-version), in a target directory of its own.
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rustup toolchain list | grep -q "^$msrv" || rustup toolchain install "$msrv" --profile minimal
CARGO_TARGET_DIR=target/msrv cargo "+$msrv" check --locked --lib --tests
bash bindings/python/lint.sh
# Postfix must be installed before Dovecot starts, so Dovecot opens the
# auth socket Postfix's SASL uses.
bash tests/servers/postfix.sh install

state=$(mktemp -d /tmp/mailtls-test.XXXXXX)
scram_state=
cleanup() {
    for dir in "$state" $scram_state; do
        bash tests/servers/proxies.sh stop "$dir" || true
        bash tests/servers/postfix.sh stop "$dir" || true
        bash tests/servers/dovecot.sh stop "$dir" || true
        rm -rf "$dir"
    done
}
trap cleanup EXIT
bash tests/servers/dovecot.sh start "$state" >/dev/null
bash tests/servers/postfix.sh start "$state" >/dev/null
# microsocks and tinyproxy for tests/proxy_real.rs, allowed to reach the
# ports of the servers above (from $state/env.sh).
bash tests/servers/proxies.sh start "$state" >/dev/null
# shellcheck disable=SC1091
. "$state/env.sh"
# shellcheck disable=SC1091
. "$state/proxies.env"

echo "== Rust: unit, fake-server, Dovecot, Postfix, proxy and header tests"
# scram_dovecot needs a Dovecot that offers SCRAM (the second server set
# below); the main one does not, so the other suites' expectations of the
# automatic mechanism (PLAIN to a verified server) hold.
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast -E 'not binary(scram_dovecot)'
    echo "== Rust: the TLS tests again through native-tls (the Windows/macOS code path)"
    cargo nextest run --locked --no-fail-fast --features native-tls-backend \
        -E 'kind(lib) | binary(dovecot_pop3) | binary(scram_fake) | binary(tls_failures) | binary(cert_callback) | binary(probe) | binary(proxy_real) | binary(proxy_fake)'
    run_scram() { cargo nextest run --locked --no-fail-fast --test scram_dovecot "$@"; }
else
    suites=()
    for f in tests/*.rs; do
        [[ $f == tests/scram_dovecot.rs ]] || suites+=(--test "$(basename "$f" .rs)")
    done
    cargo test --locked --no-fail-fast --workspace --lib --bins "${suites[@]}"
    echo "== Rust: the TLS tests again through native-tls (the Windows/macOS code path)"
    cargo test --locked --no-fail-fast --features native-tls-backend --lib --test dovecot_pop3 --test scram_fake \
        --test tls_failures --test cert_callback --test probe --test proxy_real --test proxy_fake
    run_scram() { cargo test --locked --no-fail-fast --test scram_dovecot "$@"; }
fi

echo "== Rust: SCRAM against a Dovecot and Postfix that offer it (each variant, POP3 and SMTP AUTH, both TLS backends)"
scram_state=$(mktemp -d /tmp/mailtls-scram.XXXXXX)
MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start "$scram_state" >/dev/null
bash tests/servers/postfix.sh start "$scram_state" >/dev/null
(
    # shellcheck disable=SC1091
    . "$scram_state/env.sh"
    run_scram
    run_scram --features native-tls-backend
)
# The C and Python SCRAM tests reach that set through these (the rest of
# their environment is the main set's).
scram_env() { (
    # shellcheck disable=SC1091
    . "$scram_state/env.sh"
    printf '%s' "${!1}"
); }
MAILTLS_TEST_SCRAM_POP3_PORT=$(scram_env MAILTLS_TEST_POP3_PORT)
MAILTLS_TEST_SCRAM_POP3S_PORT=$(scram_env MAILTLS_TEST_POP3S_PORT)
MAILTLS_TEST_SCRAM_SUBMISSION_PORT=$(scram_env MAILTLS_TEST_SMTP_SUBMISSION_PORT)
MAILTLS_TEST_SCRAM_SMTPS_PORT=$(scram_env MAILTLS_TEST_SMTPS_PORT)
MAILTLS_TEST_SCRAM_CA=$(scram_env MAILTLS_TEST_CA)
export MAILTLS_TEST_SCRAM_POP3_PORT MAILTLS_TEST_SCRAM_POP3S_PORT MAILTLS_TEST_SCRAM_SUBMISSION_PORT \
    MAILTLS_TEST_SCRAM_SMTPS_PORT MAILTLS_TEST_SCRAM_CA

# The C and Python tests load the library the Rust tests just built.
cargo build --locked --lib
export MAILTLS_LIBRARY="$PWD/target/debug/libmailtls.so"

echo "== C: tests/c under valgrind and sanitizers"
bash tests/c/run.sh

echo "== C++: tests/cpp (bindings/cpp/mailtls.hpp) with g++ under valgrind and clang++ with sanitizers"
bash tests/cpp/run.sh

echo "== Install: bindings/c/install.sh into a prefix through DESTDIR; C programs built from it only (pkg-config and CMake, shared and static)"
bash tests/install/run.sh

echo "== Python: bindings/python/tests, against the package installed into fresh venvs (from the source and from the wheel with the library inside)"
bash bindings/python/test_installed.sh

echo "== Windows: the DLL packages (cross-built): imports, exports, import libraries, strip"
windows_dirs=$(bash bindings/windows/build.sh) # an assignment, so set -e stops on a failed build
for dir in $windows_dirs; do bash tests/windows/check_dll.sh "$dir"; done
echo "== Windows: the DLLs under Wine (64- and 32-bit) against Dovecot and Postfix"
# shellcheck disable=SC2086 # one folder per word
bash tests/windows/run.sh $windows_dirs
