"""A small program written as a user of mailtls would, checked by
``mypy --strict`` against the installed package and run against the test
servers by test_installed.sh: it fetches every message of a mailbox over
POP3S (with retr_many(), then again with sync()) and sends one message
through SMTP submission with STARTTLS.

Usage: ``MAILTLS_PASSWORD=... python3 user_program.py HOST POP3S_PORT
SUBMISSION_PORT CA_FILE USER RECIPIENT``. Prints a line per fetched message
(its size and SHA-256, in mailbox order) and one per recipient; the sender
is USER@localhost. Exits 0 when every recipient was accepted.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import sys
import tempfile
from typing import Dict, List, Optional

import mailtls


def fetch_all(host: str, port: int, ca_file: str, user: str, password: str) -> List[bytes]:
    """Every message of the mailbox, in mailbox order."""
    with mailtls.POP3(host, port, security="tls", ca_file=ca_file, timeout=10) as pop:
        pop.login(user, password)
        count, _octets = pop.stat()
        sizes = dict(pop.list())
        uids = dict(pop.uidl())
        assert len(sizes) == len(uids) == count
        messages = [data for _, data in pop.retr_many(sorted(uids))]
        if messages:
            head: bytes = pop.top(1, 0)  # the overloads: bytes, not Optional
            whole: bytes = pop.retr(1)
            size: int = pop.list(1)
            uid: str = pop.uidl(1)
            assert whole == messages[0] and whole.startswith(head)
            assert size == sizes[1] and uid == uids[1]
        capabilities: Dict[str, List[str]] = pop.capabilities()
        assert "UIDL" in capabilities
    return messages


def sync_all(host: str, port: int, ca_file: str, user: str, password: str) -> List[bytes]:
    """Every message of the mailbox through sync(), into a callable and into
    a Maildir (left on the server: the retention is a month); the callable's
    messages, in no particular order."""
    got: Dict[str, bytes] = {}

    def deliver(uid: Optional[str], message: bytes) -> None:
        assert uid is not None
        got[uid] = message

    def progress(done: int, total: int, done_bytes: int, total_bytes: int) -> bool:
        return done <= total and done_bytes <= total_bytes

    with tempfile.TemporaryDirectory() as scratch:
        for destination in ("deliver", "maildir"):
            with mailtls.POP3(host, port, security="tls", ca_file=ca_file, timeout=10) as pop:
                pop.login(user, password)
                state = os.path.join(scratch, f"{destination}.state")
                if destination == "deliver":
                    report: mailtls.SyncReport = pop.sync(state, deliver=deliver, progress=progress)
                else:
                    report = pop.sync(state, os.path.join(scratch, "Maildir"),
                                      retention=datetime.timedelta(days=30))
            outcomes: List[mailtls.SyncOutcome] = [m.outcome for m in report.messages]
            assert outcomes.count(mailtls.SyncOutcome.DOWNLOADED) == report.downloaded == len(got)
            assert report.deleted == 0
    return list(got.values())


def send_one(host: str, port: int, ca_file: str, user: str, password: str, to: str) -> List[str]:
    """Send one message from USER@localhost to ``to``; a line per recipient,
    or one saying why the server refused it."""
    sender = f"{user}@localhost"
    message = f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: typed user program\r\n\r\nHello from mailtls.\r\n"
    try:
        with mailtls.SMTP(host, port, ca_file=ca_file, timeout=10) as smtp:
            smtp.login(user, password)
            extensions: Dict[str, List[str]] = smtp.extensions()
            assert "AUTH" in extensions
            results: List[mailtls.RecipientResult] = smtp.send(sender, [to], message)
    except mailtls.ServerError as e:
        return [f"refused: {e.smtp_code or 0} {e.response_code or ''} {e.reply or e.message}"]
    except mailtls.TimeoutError as e:  # reachable by this name, not bound by `import *`
        return [f"timed out: {e.message}"]
    return [f"{r.address}: {r.code} {'accepted' if r.accepted else 'refused'}" for r in results]


def main(argv: List[str]) -> int:
    """Fetch, then send; 0 when every recipient was accepted."""
    host, pop3s_port, submission_port, ca_file, user, recipient = argv
    password = os.environ["MAILTLS_PASSWORD"]
    fetched = fetch_all(host, int(pop3s_port), ca_file, user, password)
    for data in fetched:
        print(f"fetched {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}")
    synced = sync_all(host, int(pop3s_port), ca_file, user, password)
    assert sorted(synced) == sorted(fetched), "sync() gave other messages than retr_many()"
    lines = send_one(host, int(submission_port), ca_file, user, password, recipient)
    print("\n".join(lines))
    return 0 if all(line.endswith(" accepted") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
