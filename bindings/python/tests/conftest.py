"""Shared fixtures of the mailtls Python tests.

The package is imported from this checkout (bindings/python), so the tests
run without installing it; with MAILTLS_TEST_INSTALLED=1 they test the
installed package instead (test_installed.sh runs them so from a fresh
virtual environment): the checkout is then not put on sys.path, and a
``mailtls`` imported from it anyway (pytest run from bindings/python, say)
stops the run. PACKAGE_ROOT is the directory the tested ``mailtls`` was
imported from, for tests that start another Python or copy the package.
The library comes from MAILTLS_LIBRARY; when that is unset, the tests use
target/debug (or target/release) of this repository if a build is there.

Tests that need the Dovecot test server use the ``server`` fixture: it fails
them with a clear message when the server's environment variables are
missing (source the env.sh that `tests/servers/dovecot.sh start DIR` prints),
unless MAILTLS_TEST_ALLOW_SKIP=1, which makes them skip instead.

Tests that need the Postfix test server (SMTP) use the ``smtp_server``
fixture, with the same rules for the variables `tests/servers/postfix.sh
start DIR` adds to env.sh.

Mailboxes: these tests use only users user40..user69 (the other users belong
to other suites that share the server): the POP3 tests user40..user51, the
SMTP tests user52..user69; besides, the sync tests (test_pop3_sync.py) use
pysync01..pysync03. A test that changes a mailbox uses its own user and
seeds (or clears) it itself.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
BINDING = HERE.parent
REPO = BINDING.parent.parent
INSTALLED = os.environ.get("MAILTLS_TEST_INSTALLED") == "1"
if not INSTALLED:
    sys.path.insert(0, str(BINDING))

if not os.environ.get("MAILTLS_LIBRARY"):
    for profile in ("debug", "release"):
        candidate = REPO / "target" / profile / "libmailtls.so"
        if candidate.exists():
            os.environ["MAILTLS_LIBRARY"] = str(candidate)
            break

import mailtls  # noqa: E402

PACKAGE_ROOT = pathlib.Path(mailtls.__file__).resolve().parent.parent
if INSTALLED and PACKAGE_ROOT == BINDING:
    raise RuntimeError(
        f"MAILTLS_TEST_INSTALLED=1 but mailtls was imported from the source tree "
        f"({mailtls.__file__}), not the installed package: run pytest from "
        "another directory, with the installed package's Python"
    )

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

SMTP_REQUIRED = REQUIRED + (
    "MAILTLS_TEST_SMTP_SUBMISSION_PORT",
    "MAILTLS_TEST_SMTPS_PORT",
    "MAILTLS_TEST_SMTP_PLAIN_PORT",
    "MAILTLS_TEST_SMTP_SIZE_LIMIT",
)

# Users of this suite; see the module docstring.
FIRST_USER, LAST_USER = 40, 69
FIRST_SMTP_USER = 52
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


def data_size(message: bytes) -> int:
    """The size SMTP's DATA carries for ``message``, which SIZE= declares:
    line ends made CRLF (bare CR and LF too), leading dots doubled, a final
    CRLF added when missing."""
    lines = re.split(rb"\r\n|\r|\n", message)
    if message.endswith((b"\n", b"\r")):
        lines = lines[:-1]
    return sum(len(line) + line.startswith(b".") + 2 for line in lines)


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


def smtp_user(n: int) -> str:
    """The n-th user of the SMTP tests' range (user52..user69)."""
    assert FIRST_SMTP_USER <= n <= LAST_USER, f"user{n:02d} is not an SMTP test user"
    return f"user{n:02d}"


class SmtpServer(Server):
    """The Postfix test server of env.sh (SASL and delivery through the
    Dovecot of the same env.sh), with helpers."""

    def __init__(self, env: dict) -> None:
        super().__init__(env)
        self.submission_port = int(env["MAILTLS_TEST_SMTP_SUBMISSION_PORT"])
        self.smtps_port = int(env["MAILTLS_TEST_SMTPS_PORT"])
        self.plain_port = int(env["MAILTLS_TEST_SMTP_PLAIN_PORT"])
        self.size_limit = int(env["MAILTLS_TEST_SMTP_SIZE_LIMIT"])

    def smtp(self, **kw) -> mailtls.SMTP:
        """A session on the submission port (security "auto": required
        STARTTLS), trusting the test CA, not logged in."""
        kw.setdefault("ca_file", self.ca)
        kw.setdefault("timeout", 10.0)
        return mailtls.SMTP(self.host, self.submission_port, **kw)

    def smtps(self, **kw) -> mailtls.SMTP:
        """A session over implicit TLS on the SMTPS port."""
        kw.setdefault("ca_file", self.ca)
        kw.setdefault("timeout", 10.0)
        kw.setdefault("security", "tls")
        return mailtls.SMTP(self.host, self.smtps_port, **kw)

    def smtp_plain(self, **kw) -> mailtls.SMTP:
        """A session on the plain ("port 25") port, STARTTLS by default."""
        kw.setdefault("ca_file", self.ca)
        kw.setdefault("timeout", 10.0)
        kw.setdefault("security", "starttls")
        return mailtls.SMTP(self.host, self.plain_port, **kw)

    def smtp_login(self, name: str, **kw) -> mailtls.SMTP:
        """A session on the submission port logged in as `name`."""
        smtp = self.smtp(**kw)
        try:
            smtp.login(name, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def clear(self, *names: str) -> None:
        """Empty the mailboxes of `names`."""
        for name in names:
            self.seed(name, [])

    def delivered_files(self, name: str) -> list:
        """The files in the maildir of `name` (new and cur)."""
        maildir = self.maildir(name)
        return [f for sub in ("new", "cur") for f in sorted((maildir / sub).iterdir())]

    def wait_for(self, name: str, count: int, timeout: float = 20.0) -> list:
        """Wait until `count` messages were delivered to `name` (Postfix
        delivers asynchronously); returns their contents, in no particular
        order. Fails if more arrive."""
        deadline = time.monotonic() + timeout
        while True:
            files = self.delivered_files(name)
            if len(files) >= count:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{name}: {len(files)} of {count} messages delivered")
            time.sleep(0.02)
        time.sleep(0.1)  # anything unexpected arriving late
        files = self.delivered_files(name)
        assert len(files) == count, f"{name}: {len(files)} messages, expected {count}"
        return [f.read_bytes() for f in files]


def _check_env(required: tuple, what: str, how: str) -> None:
    missing = [name for name in required if not os.environ.get(name)]
    if missing:
        msg = (
            f"the {what} is not configured: {', '.join(missing)} unset. "
            f"{how} and source the env.sh it prints (MAILTLS_TEST_ALLOW_SKIP=1 "
            "skips these tests instead)."
        )
        if os.environ.get("MAILTLS_TEST_ALLOW_SKIP") == "1":
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)


@pytest.fixture(scope="session")
def server() -> Server:
    _check_env(REQUIRED, "Dovecot test server",
               "Start it with `bash tests/servers/dovecot.sh start DIR`")
    return Server(dict(os.environ))


@pytest.fixture(scope="session")
def smtp_server() -> SmtpServer:
    _check_env(
        SMTP_REQUIRED, "Postfix test server (with its Dovecot)",
        "Start them with `bash tests/servers/postfix.sh install; bash "
        "tests/servers/dovecot.sh start DIR; bash tests/servers/postfix.sh start DIR`",
    )
    return SmtpServer(dict(os.environ))


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
