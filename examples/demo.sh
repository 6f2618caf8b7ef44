#!/usr/bin/env bash
# Demo: start a local Dovecot on 127.0.0.1 with a throwaway CA, put three
# messages in the "demo" mailbox, and fetch them over verified TLS (POP3S)
# with the C example examples/c/pop3_fetch.c linked against libmailtls.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh
cargo build --locked --release --lib

state=$(mktemp -d /tmp/mailtls-demo.XXXXXX)
cleanup() {
    bash tests/servers/dovecot.sh stop "$state" >/dev/null || true
    rm -rf "$state"
}
trap cleanup EXIT
bash tests/servers/dovecot.sh start "$state" >/dev/null
# shellcheck disable=SC1091
. "$state/env.sh"

maildir="$MAILTLS_TEST_MAILDIR_ROOT/demo/Maildir/new"
for i in 1 2 3; do
    printf 'From: alice@example.org\nTo: demo@localhost\nSubject: demo message %s\n\nHello from mailtls, message %s.\n.A line that starts with a dot.\n' \
        "$i" "$i" >"$maildir/100000000$i.M$i.demo"
done
chown 65534:65534 "$maildir"/*

gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -o "$state/pop3_fetch" examples/c/pop3_fetch.c \
    -Ltarget/release -lmailtls -Wl,-rpath,"$PWD/target/release"

echo "== pop3_fetch $MAILTLS_TEST_HOST $MAILTLS_TEST_POP3S_PORT demo (implicit TLS, certificate verified against the test CA)"
MAILTLS_PASSWORD="$MAILTLS_TEST_PASSWORD" "$state/pop3_fetch" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3S_PORT" demo \
    --ca-file "$MAILTLS_TEST_CA" --out "$state/fetched"
echo "== first message as saved:"
cat "$(find "$state/fetched" -type f | sort | head -n 1)"
