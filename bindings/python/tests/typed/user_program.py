"""A small program written as a user of mailtls would, checked by
``mypy --strict`` against the installed package (test_installed.sh) and run
there against the test servers: it fetches every message of a mailbox over
POP3S and sends one message through SMTP submission with STARTTLS.

Usage: ``MAILTLS_PASSWORD=... python3 user_program.py HOST POP3S_PORT
SUBMISSION_PORT CA_FILE USER RECIPIENT``; prints one line per fetched
message and per recipient.
"""

from __future__ import annotations

import os
import sys
from typing import Dict, List

import mailtls


def fetch_all(host: str, port: int, ca_file: str, user: str, password: str) -> Dict[str, bytes]:
    """Every message of the mailbox, by unique id."""
    messages: Dict[str, bytes] = {}
    with mailtls.POP3(host, port, security="tls", ca_file=ca_file, timeout=10) as pop:
        pop.login(user, password)
        count, octets = pop.stat()
        print(f"{count} messages, {octets} octets")
        sizes = dict(pop.list())
        uids = dict(pop.uidl())
        for number, data in pop.retr_many(uids):
            assert len(data) == sizes[number]
            messages[uids[number]] = data
        if uids:
            first = min(uids)
            head: bytes = pop.top(first, 0)
            assert messages[uids[first]].startswith(head)
            one: bytes = pop.retr(first)
            assert one == messages[uids[first]]
            size: int = pop.list(first)
            uid: str = pop.uidl(first)
            assert size == sizes[first] and uid == uids[first]
        caps: Dict[str, List[str]] = pop.capabilities()
        assert "UIDL" in caps
    return messages


def send_one(host: str, port: int, ca_file: str, user: str, password: str, to: str) -> List[str]:
    """Send one message; the lines to print about its recipients."""
    message = f"From: {user}@example.org\r\nTo: {to}\r\nSubject: typed\r\n\r\nHello.\r\n"
    try:
        with mailtls.SMTP(host, port, ca_file=ca_file, timeout=10) as smtp:
            smtp.login(user, password)
            extensions: Dict[str, List[str]] = smtp.extensions()
            assert "AUTH" in extensions
            results: List[mailtls.RecipientResult] = smtp.send(f"{user}@example.org", [to], message)
    except mailtls.ServerError as e:
        code = e.smtp_code if e.smtp_code is not None else 0
        return [f"refused: {code} {e.response_code or ''} {e.reply or e.message}"]
    except mailtls.TimeoutError as e:
        return [f"timed out: {e.message}"]
    return [f"{r.address}: {r.code} {'accepted' if r.accepted else 'refused'}" for r in results]


def main(argv: List[str]) -> int:
    """Fetch, then send; 0 when every recipient was accepted."""
    host, pop3s_port, submission_port, ca_file, user, recipient = argv
    password = os.environ["MAILTLS_PASSWORD"]
    for uid, data in sorted(fetch_all(host, int(pop3s_port), ca_file, user, password).items()):
        print(f"fetched {uid}: {len(data)} bytes")
    lines = send_one(host, int(submission_port), ca_file, user, password, recipient)
    print("\n".join(lines))
    return 0 if all(line.endswith(" accepted") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
