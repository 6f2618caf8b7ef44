#!/usr/bin/env bash
# Demo: start Dovecot (POP3) and Postfix (SMTP submission) on 127.0.0.1 with
# a throwaway CA, send a message through Postfix with STARTTLS + AUTH using
# examples/c/smtp_send.c, then fetch it back through Dovecot over implicit
# TLS (POP3S) with examples/c/pop3_fetch.c, and compare. Both programs link
# libmailtls; every certificate is verified against the test CA.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh
bash tests/servers/postfix.sh install
cargo build --locked --release --lib

state=$(mktemp -d /tmp/mailtls-demo.XXXXXX)
cleanup() {
    bash tests/servers/postfix.sh stop "$state" >/dev/null || true
    bash tests/servers/dovecot.sh stop "$state" >/dev/null || true
    rm -rf "$state"
}
trap cleanup EXIT
bash tests/servers/dovecot.sh start "$state" >/dev/null
bash tests/servers/postfix.sh start "$state" >/dev/null
# shellcheck disable=SC1091
. "$state/env.sh"

for example in smtp_send pop3_fetch; do
    gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -o "$state/$example" "examples/c/$example.c" \
        -Ltarget/release -lmailtls -Wl,-rpath,"$PWD/target/release"
done

message="$state/message.eml"
cat >"$message" <<MSG
From: demo@localhost
To: demo@localhost
Subject: hello from mailtls ($(date -u +%FT%TZ))

This message went out through Postfix (STARTTLS, AUTH) and came back
through Dovecot (POP3S), both over verified TLS.
.A line that starts with a dot survives the round trip.
MSG
export MAILTLS_PASSWORD="$MAILTLS_TEST_PASSWORD"

echo "== smtp_send: submission port $MAILTLS_TEST_SMTP_SUBMISSION_PORT (STARTTLS required, AUTH)"
"$state/smtp_send" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_SMTP_SUBMISSION_PORT" demo demo@localhost demo@localhost \
    "$message" --ca-file "$MAILTLS_TEST_CA"

# Postfix delivers asynchronously: wait for the message to land.
for _ in $(seq 100); do
    [ -n "$(ls -A "$MAILTLS_TEST_MAILDIR_ROOT/demo/Maildir/new")" ] && break
    sleep 0.1
done

echo "== pop3_fetch: POP3S port $MAILTLS_TEST_POP3S_PORT (implicit TLS), into a Maildir"
"$state/pop3_fetch" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3S_PORT" demo \
    --ca-file "$MAILTLS_TEST_CA" --maildir "$state/fetched" --tls

fetched=$(find "$state/fetched/new" -type f | head -n 1)
echo "== the message as fetched back:"
cat "$fetched"
# What came back is what was sent, below the two lines the delivery adds
# (Return-Path, Delivered-To).
if diff <(tail -n +3 "$fetched") "$message" >/dev/null; then
    echo "== round trip: the fetched message equals the sent one"
else
    echo "== round trip: MISMATCH" >&2
    exit 1
fi
