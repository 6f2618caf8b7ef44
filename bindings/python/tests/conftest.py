"""Shared fixtures of the mailtls Python tests.

The package is imported from this checkout (bindings/python), so the tests
run without installing it. The library comes from MAILTLS_LIBRARY; when that
is unset, the tests use target/debug (or target/release) of this repository
if a build is there.

Tests that need the Dovecot test server use the ``server`` fixture: it fails
them with a clear message when the server's environment variables are
missing (source the env.sh that `tests/servers/dovecot.sh start DIR` prints),
unless MAILTLS_TEST_ALLOW_SKIP=1, which makes them skip instead.

Mailboxes: these tests use only users user40..user69 (the other users belong
to other suites that share the server). A test that changes a mailbox uses
its own user and seeds it itself.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
BINDING = HERE.parent
REPO = BINDING.parent.parent
sys.path.insert(0, str(BINDING))

if not os.environ.get("MAILTLS_LIBRARY"):
    for profile in ("debug", "release"):
        candidate = REPO / "target" / profile / "libmailtls.so"
        if candidate.exists():
            os.environ["MAILTLS_LIBRARY"] = str(candidate)
            break

import mailtls  # noqa: E402

REQUIRED = (
    "MAILTLS_TEST_HOST",
    "MAILTLS_TEST_POP3_PORT",
    "MAILTLS_TEST_POP3S_PORT",
    "MAILTLS_TEST_CA",
    "MAILTLS_TEST_OTHER_CA",
    "MAILTLS_TEST_SERVER_SHA256",
    "MAILTLS_TEST_PASSWORD",
    "MAILTLS_TEST_MAILDIR_ROOT",
)

# Users of this suite; see the module docstring.
FIRST_USER, LAST_USER = 40, 69
MAIL_UID = MAIL_GID = 65534  # Dovecot's mail user in tests/servers/dovecot.sh


def user(n: int) -> str:
    """The n-th user of this suite's range (user40..user69)."""
    assert FIRST_USER <= n <= LAST_USER, f"user{n:02d} is not in this suite's range"
    return f"user{n:02d}"


def crlf(stored: bytes) -> bytes:
    """What Dovecot serves for a stored maildir file: LF turned into CRLF,
    and a final CRLF added when the file lacks a final newline."""
    out = stored.replace(b"\n", b"\r\n")
    return out if out.endswith(b"\r\n") else out + b"\r\n"


class Server:
    """The Dovecot test server of env.sh, with helpers."""

    def __init__(self, env: dict) -> None:
        self.host = env["MAILTLS_TEST_HOST"]
        self.port = int(env["MAILTLS_TEST_POP3_PORT"])
        self.tls_port = int(env["MAILTLS_TEST_POP3S_PORT"])
        self.ca = env["MAILTLS_TEST_CA"]
        self.other_ca = env["MAILTLS_TEST_OTHER_CA"]
        self.sha256 = env["MAILTLS_TEST_SERVER_SHA256"]
        self.password = env["MAILTLS_TEST_PASSWORD"]
        self.maildir_root = pathlib.Path(env["MAILTLS_TEST_MAILDIR_ROOT"])
        self._seq = 0

    def pop3(self, **kw) -> mailtls.POP3:
        """A session over STLS on the plain port, trusting the test CA."""
        kw.setdefault("ca_file", self.ca)
        kw.setdefault("timeout", 10.0)
        return mailtls.POP3(self.host, self.port, **kw)

    def pop3s(self, **kw) -> mailtls.POP3:
        """A session over implicit TLS on the POP3S port."""
        kw.setdefault("ca_file", self.ca)
        kw.setdefault("timeout", 10.0)
        kw.setdefault("security", "tls")
        return mailtls.POP3(self.host, self.tls_port, **kw)

    def login(self, name: str, **kw) -> mailtls.POP3:
        """A logged-in session of user `name`."""
        pop = self.pop3(**kw)
        try:
            pop.login(name, self.password)
        except BaseException:
            pop.close()
            raise
        return pop

    def maildir(self, name: str) -> pathlib.Path:
        return self.maildir_root / name / "Maildir"

    def seed(self, name: str, messages: list) -> list:
        """Empty the mailbox of `name` and store `messages` (bytes) in this
        order; returns what the server will serve for each (crlf())."""
        maildir = self.maildir(name)
        for sub in ("new", "cur"):
            for f in (maildir / sub).iterdir():
                f.unlink()
        # Dovecot numbers new messages by the time in their file names, so
        # the names carry strictly increasing times.
        base = int(time.time())
        for i, data in enumerate(messages):
            self._seq += 1
            fname = f"{base + i}.M{self._seq:06d}P{os.getpid()}.mailtls-pytest"
            tmp = maildir / "tmp" / fname
            tmp.write_bytes(data)
            os.chown(tmp, MAIL_UID, MAIL_GID)
            tmp.rename(maildir / "new" / fname)
        return [crlf(m) for m in messages]


@pytest.fixture(scope="session")
def server() -> Server:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        msg = (
            f"the Dovecot test server is not configured: {', '.join(missing)} "
            "unset. Start it with `bash tests/servers/dovecot.sh start DIR` and "
            "source the env.sh it prints (MAILTLS_TEST_ALLOW_SKIP=1 skips these "
            "tests instead)."
        )
        if os.environ.get("MAILTLS_TEST_ALLOW_SKIP") == "1":
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)
    return Server(dict(os.environ))


# The read-only mailbox most tests read from (seeded once per run).
READONLY_USER = user(40)

MESSAGES = [
    b"From: a@example.org\nTo: b@example.org\nSubject: plain\n\nHello.\nSecond line.\n",
    # Lines starting with dots, and a lone "." line in the body.
    b"Subject: dots\n\n.leading dot\n..two dots\n.\n...\nafter the lone dot\n",
    # 8-bit, not UTF-8.
    b"Subject: latin-1\nContent-Type: text/plain; charset=iso-8859-1\n"
    b"Content-Transfer-Encoding: 8bit\n\ncaf\xe9 \xff\xfe\x80 na\xefve\n",
    # No final newline: the server adds CRLF.
    b"Subject: no final newline\n\nlast line without newline",
    # Larger than one chunk.
    b"Subject: big\n\n" + b"".join(b"line %06d " % i + b"x" * 60 + b"\n" for i in range(4000)),
]


@pytest.fixture(scope="session")
def readonly(server) -> list:
    """Seed READONLY_USER with MESSAGES; returns the served bytes."""
    return server.seed(READONLY_USER, MESSAGES)
