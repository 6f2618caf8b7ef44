#!/usr/bin/env bash
# The Python binding tested as users install it, each way in a fresh virtual
# environment made in a scratch directory:
#
# 1. `pip install bindings/python` (the pure package) with MAILTLS_LIBRARY
#    set: runs the package's test suite (bindings/python/tests) against the
#    installed package, from outside the source tree (conftest.py's
#    MAILTLS_TEST_INSTALLED=1 stops the run should the checkout's copy be
#    imported instead).
# 2. `pip install mailtls-*.whl` (the wheel of build_wheel.sh, the library
#    inside) with MAILTLS_LIBRARY unset: `import mailtls` must load the
#    bundled library; tests/typed/user_program.py passes `mypy --strict`
#    against the installed package, then fetches a mailbox over POP3S from
#    Dovecot and sends a message through Postfix's submission port with
#    STARTTLS (users user16 and user17; user18 and user19 are kept for
#    more such checks).
#
#   . STATE/env.sh        (tests/servers/dovecot.sh and postfix.sh started)
#   MAILTLS_LIBRARY=$PWD/target/debug/libmailtls.so bash bindings/python/test_installed.sh [WHEEL]
#
# Without WHEEL, build_wheel.sh builds one (release build). pytest, cffi
# and mypy come from PyPI (pip); python3-venv from apt-get where Debian's
# python3 lacks it. PYTHON picks the interpreter (default python3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
MYPY_VERSION=$(sed -n 's/^MYPY_VERSION=//p' "$here/lint.sh") # the lint gate's mypy

die() { echo "test_installed.sh: $*" >&2; exit 1; }

[ -n "${MAILTLS_LIBRARY:-}" ] || die "MAILTLS_LIBRARY is unset: set it to a built libmailtls.so (cargo build --lib: target/debug/libmailtls.so)"
[ -f "$MAILTLS_LIBRARY" ] || die "MAILTLS_LIBRARY=$MAILTLS_LIBRARY is not a file"
for v in MAILTLS_TEST_HOST MAILTLS_TEST_POP3S_PORT MAILTLS_TEST_SMTP_SUBMISSION_PORT MAILTLS_TEST_CA \
    MAILTLS_TEST_PASSWORD MAILTLS_TEST_MAILDIR_ROOT; do
    [ -n "${!v:-}" ] || die "$v is unset: start the servers (tests/servers/dovecot.sh and postfix.sh start DIR) and source DIR/env.sh"
done
wheel=${1:-}
[ -z "$wheel" ] || [ -f "$wheel" ] || die "no wheel at $wheel"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailtls-pytest.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# No __pycache__ left in the checkout by running its tests.
export PYTHONDONTWRITEBYTECODE=1

# A fresh virtual environment at $1. Debian's python3 makes one only with
# python3-venv (ensurepip) installed.
make_venv() {
    if ! "$PYTHON" -m venv "$1" >/dev/null 2>&1; then
        rm -rf "$1"
        command -v apt-get >/dev/null || die "$PYTHON -m venv fails and there is no apt-get to install python3-venv"
        echo "installing Debian package: python3-venv"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
        "$PYTHON" -m venv "$1"
    fi
}

# Where `import mailtls` finds the package, asked from outside the checkout.
package_file() { (cd "$scratch" && "$1" -c 'import mailtls; print(mailtls.__file__)'); }

echo "== Python: pip install bindings/python into a fresh venv; the test suite against it"
venv=$scratch/venv-package
make_venv "$venv"
"$venv/bin/python" -m pip install --quiet "$here" pytest cffi
file=$(package_file "$venv/bin/python")
case "$file" in "$venv"/*) ;; *) die "the package venv imports mailtls from $file" ;; esac
dist_info=$(dirname "$(dirname "$file")")/mailtls-0.1.0.dist-info
grep -qx "Tag: py3-none-any" "$dist_info/WHEEL" ||
    die "the pure package was not built as py3-none-any: $(grep Tag: "$dist_info/WHEEL")"
[ ! -e "$(dirname "$file")/libmailtls.so" ] || die "the pure package installed a libmailtls.so"
(cd "$scratch" && MAILTLS_TEST_INSTALLED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    --rootdir "$scratch" "$here/tests")

echo "== Python: the wheel with the library inside, in a fresh venv, MAILTLS_LIBRARY unset"
if [ -z "$wheel" ]; then
    wheel=$(bash "$here/build_wheel.sh" "$scratch/dist" | tail -n 1)
fi
case "$wheel" in *-py3-none-linux_*.whl) ;; *) die "unexpected wheel tag: $wheel" ;; esac
venv=$scratch/venv-wheel
make_venv "$venv"
"$venv/bin/python" -m pip install --quiet "$wheel" "mypy==$MYPY_VERSION"
unset MAILTLS_LIBRARY
file=$(package_file "$venv/bin/python")
case "$file" in "$venv"/*) ;; *) die "the wheel venv imports mailtls from $file" ;; esac
bundled=$(dirname "$file")/libmailtls.so
# Which file the process mapped, not only what the package says it opened.
loaded=$(cd "$scratch" && "$venv/bin/python" -c '
import ctypes.util, mailtls
print(mailtls.library_path())
with open("/proc/self/maps") as maps:
    print(sorted({line.split()[-1] for line in maps if "libmailtls" in line}))
print(ctypes.util.find_library("mailtls"))
')
{
    read -r said
    read -r mapped
    read -r system
} <<<"$loaded"
[ "$said" = "$bundled" ] || die "the wheel's mailtls loaded $said, not its bundled $bundled"
[ "$mapped" = "['$bundled']" ] || die "the wheel's process mapped $mapped, not only $bundled"
[ "$system" = None ] || echo "note: a system libmailtls ($system) exists; the bundled one came first"
echo "loaded the bundled $bundled"

program=$scratch/program
mkdir "$program"
cp "$here/tests/typed/user_program.py" "$program/"
echo "mypy $MYPY_VERSION --strict: the user program against the installed package"
# From the scratch directory, so no configuration of the checkout applies.
(cd "$program" && "$venv/bin/python" -m mypy --strict --no-incremental user_program.py)

# user16's mailbox: three messages (dots, 8-bit, no final newline), stored
# as a delivery agent would; user17's emptied for the message sent.
maildir() { echo "$MAILTLS_TEST_MAILDIR_ROOT/$1/Maildir"; }
for u in user16 user17; do rm -f "$(maildir $u)"/new/* "$(maildir $u)"/cur/*; done
seed=$scratch/seed
mkdir "$seed"
printf 'Subject: one\n\nfirst\n' >"$seed/1"
printf 'Subject: dots\n\n.leading dot\n.\nafter a lone dot\n' >"$seed/2"
printf 'Subject: 8bit\n\ncaf\xe9\nno final newline' >"$seed/3"
# What POP3 serves for a stored file: CRLF line ends, a final CRLF added
# where the file lacks a final newline.
pop3_served() {
    sed 's/$/\r/' "$1"
    [ -z "$(tail -c 1 "$1")" ] || printf '\n'
}
now=$(date +%s)
expected=()
for i in 1 2 3; do
    name="$((now + i)).M${i}P$$.mailtls-wheel"
    cp "$seed/$i" "$(maildir user16)/tmp/$name"
    chown 65534:65534 "$(maildir user16)/tmp/$name" # Dovecot's mail user (dovecot.sh)
    mv "$(maildir user16)/tmp/$name" "$(maildir user16)/new/$name"
    served=$(pop3_served "$seed/$i" | wc -c)
    sha=$(pop3_served "$seed/$i" | sha256sum | cut -d' ' -f1)
    expected+=("fetched $served bytes sha256 $sha")
done
expected+=("user17@localhost: 250 accepted")

echo "the user program: fetch over POP3S, send with STARTTLS"
output=$(cd "$program" && MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "$venv/bin/python" user_program.py \
    "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3S_PORT" "$MAILTLS_TEST_SMTP_SUBMISSION_PORT" \
    "$MAILTLS_TEST_CA" user16 user17@localhost) || die "the user program failed: $output"
[ "$output" = "$(printf '%s\n' "${expected[@]}")" ] ||
    die "the user program printed:
$output
expected:
$(printf '%s\n' "${expected[@]}")"

# Postfix delivers a few milliseconds after its 250.
for _ in $(seq 100); do
    delivered=("$(maildir user17)"/new/*)
    [ -e "${delivered[0]}" ] && break
    sleep 0.1
done
[ -e "${delivered[0]}" ] || die "nothing was delivered to user17"
[ ${#delivered[@]} = 1 ] || die "${#delivered[@]} messages delivered to user17, expected 1"
if ! grep -qx "Subject: typed user program" "${delivered[0]}" || ! grep -qx "Hello from mailtls." "${delivered[0]}"; then
    die "user17 got another message: $(cat "${delivered[0]}")"
fi
echo "the wheel: fetched 3 messages byte-exact and sent 1"
