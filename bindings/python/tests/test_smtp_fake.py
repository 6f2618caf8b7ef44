"""SMTP against scripted servers on local sockets (no Postfix needed):
what Postfix cannot be made to do (no SMTPUTF8, no PIPELINING, 4xx and 421
replies), and the exact bytes on the wire."""

from __future__ import annotations

import ctypes
import io
import socket
import threading

import pytest

import mailtls
from conftest import data_size
from mailtls import Result


class FakeSmtp:
    """A one-connection SMTP server without TLS.

    ``ehlo``: the extension lines; ``replies``: command verb (upper case)
    -> reply bytes, or a callable(line) -> reply bytes; a reply starting
    with "421" closes the connection after it. Records ``commands`` (lines
    without CRLF) and ``messages`` (the raw DATA bytes, dot-stuffed, up to
    and without the final ".\\r\\n")."""

    def __init__(self, ehlo=("PIPELINING", "8BITMIME", "SIZE 100000", "ENHANCEDSTATUSCODES",
                             "AUTH PLAIN LOGIN"), replies=None) -> None:
        self.ehlo = list(ehlo)
        self.replies = {
            "MAIL": b"250 2.1.0 Ok",
            "RCPT": b"250 2.1.5 Ok",
            "DATA": b"354 go ahead",
            ".": b"250 2.0.0 queued",
            "NOOP": b"250 2.0.0 Ok",
            "RSET": b"250 2.0.0 Ok",
            "AUTH": b"235 2.7.0 Authentication successful",
            "QUIT": b"221 2.0.0 Bye",
        }
        self.replies.update(replies or {})
        self.commands: list = []
        self.messages: list = []
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _reply(self, verb: str, line: bytes) -> bytes:
        r = self.replies.get(verb, b"502 5.5.2 unknown command")
        return r(line) if callable(r) else r

    def _run(self) -> None:
        conn, _ = self.srv.accept()
        with conn:
            f = conn.makefile("rwb", buffering=0)
            f.write(b"220 fake ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                line = line.rstrip(b"\r\n")
                self.commands.append(line)
                verb = line.split(b" ")[0].split(b":")[0].upper().decode()
                if verb in ("EHLO", "HELO"):
                    lines = [b"fake"] + [e.encode() for e in self.ehlo]
                    out = b"".join(b"250-%s\r\n" % x for x in lines[:-1])
                    f.write(out + b"250 %s\r\n" % lines[-1])
                    continue
                reply = self._reply(verb, line)
                f.write(reply + b"\r\n")
                if reply.startswith(b"421") or verb == "QUIT":
                    return
                if verb == "DATA" and reply.startswith(b"354"):
                    data = b""
                    while True:
                        chunk = f.readline()
                        if not chunk:
                            return
                        if chunk == b".\r\n":
                            break
                        data += chunk
                    self.messages.append(data)
                    reply = self._reply(".", b".")
                    f.write(reply + b"\r\n")

    def close(self) -> None:
        self.thread.join(5)
        self.srv.close()


@pytest.fixture
def fake():
    servers = []

    def make(**kw) -> FakeSmtp:
        s = FakeSmtp(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def connect(server: FakeSmtp, **kw) -> mailtls.SMTP:
    kw.setdefault("security", "none")
    kw.setdefault("timeout", 5)
    return mailtls.SMTP("127.0.0.1", server.port, **kw)


def test_wire_bytes_and_envelope_without_pipelining(fake):
    server = fake(ehlo=("8BITMIME", "SIZE 100000"))
    message = b"Subject: x\n\n.dot\n..two\nbare cr\rcrlf\r\nlast"
    with connect(server, client_name="me.example") as smtp:
        results = smtp.send("a@example.org", ["b@example.org", "c@example.org"], message)
        assert [r.code for r in results] == [250, 250]
        smtp.send("a@example.org", "b@example.org", io.BytesIO(b"\xe9\n.\n"))
    assert server.messages == [
        b"Subject: x\r\n\r\n..dot\r\n...two\r\nbare cr\r\ncrlf\r\nlast\r\n",
        b"\xe9\r\n..\r\n",
    ]
    assert server.commands[0] == b"EHLO me.example"
    assert server.commands[1:5] == [
        b"MAIL FROM:<a@example.org> SIZE=%d" % data_size(message),
        b"RCPT TO:<b@example.org>",
        b"RCPT TO:<c@example.org>",
        b"DATA",
    ]
    # Streamed with a known size (BytesIO) and 8-bit content unknown in
    # advance: SIZE and BODY=8BITMIME.
    mails = [c for c in server.commands if c.startswith(b"MAIL")]
    assert mails[1] == b"MAIL FROM:<a@example.org> SIZE=4 BODY=8BITMIME"
    assert server.commands[-1] == b"QUIT"


def test_smtputf8_unavailable(fake):
    server = fake(ehlo=("PIPELINING", "8BITMIME"))
    with connect(server) as smtp:
        for sender, rcpt in [("a@example.org", "ü@example.org"), ("ä@example.org", "b@x")]:
            with pytest.raises(mailtls.SmtpUtf8Unavailable) as info:
                smtp.send(sender, rcpt, b"x")
            e = info.value
            assert isinstance(e, mailtls.ServerError)
            assert e.code == Result.SMTPUTF8_UNAVAILABLE
            assert e.smtp_code is None and not e.transient and not e.permanent
        smtp.noop()
    assert not any(c.startswith(b"MAIL") for c in server.commands)


def test_transient_refusals(fake):
    def rcpt(line):
        if b"busy" in line:
            return b"450 4.2.1 <busy@example.org>: mailbox busy"
        return b"250 2.1.5 Ok"

    server = fake(replies={"RCPT": rcpt})
    with connect(server) as smtp:
        results = smtp.send("a@example.org", ["busy@example.org", "ok@example.org"], b"x\n")
        assert [(r.accepted, r.code, r.enhanced) for r in results] == [
            (False, 450, "4.2.1"), (True, 250, "2.1.5")]
        assert results[0].text == "<busy@example.org>: mailbox busy"
        server.replies["MAIL"] = b"451 4.3.0 try again later"
        with pytest.raises(mailtls.ServerError) as info:
            smtp.send("a@example.org", "ok@example.org", b"x\n")
        e = info.value
        assert e.code == Result.SERVER_ERROR
        assert e.smtp_code == 451 and e.transient and not e.permanent
        assert e.response_code == "4.3.0"
        assert e.reply == "451 4.3.0 try again later"
        smtp.noop()  # a refusal: the session goes on


def test_final_refusal_after_data(fake):
    server = fake(replies={".": b"554 5.7.1 content rejected"})
    with connect(server) as smtp:
        with pytest.raises(mailtls.ServerError) as info:
            smtp.send("a@example.org", "b@example.org", b"spam\n")
        assert info.value.smtp_code == 554 and info.value.permanent
        assert info.value.response_code == "5.7.1"
        smtp.noop()


def test_421_closes_the_connection(fake):
    server = fake(ehlo=("8BITMIME",), replies={"MAIL": b"421 4.3.2 shutting down"})
    with connect(server) as smtp:
        with pytest.raises(mailtls.ServerError) as info:
            smtp.send("a@example.org", "b@example.org", b"x\n")
        assert info.value.smtp_code == 421 and info.value.transient
        with pytest.raises(mailtls.ConnectionError) as info:
            smtp.noop()
        assert info.value.code == Result.NOT_CONNECTED


def test_421_with_pipelining_is_reported(fake):
    server = fake(replies={"MAIL": b"421 4.3.2 shutting down"})
    with connect(server) as smtp:
        with pytest.raises(mailtls.ServerError) as info:
            smtp.send("a@example.org", "b@example.org", b"x\n")
        assert info.value.smtp_code == 421 and info.value.transient


def test_auth_failure_carries_the_smtp_code(fake):
    server = fake(replies={"AUTH": b"535 5.7.8 bad credentials"})
    with connect(server, allow_plaintext_auth=True) as smtp:
        with pytest.raises(mailtls.AuthError) as info:
            smtp.login("bob", "s3cret", "PLAIN")
        assert info.value.smtp_code == 535 and info.value.permanent
        assert info.value.response_code == "5.7.8"
    assert server.commands[1].startswith(b"AUTH PLAIN")


def test_library_reports_last_code(fake):
    server = fake(replies={"MAIL": b"451 4.3.0 try again later"})
    with connect(server) as smtp:
        with pytest.raises(mailtls.ServerError):
            smtp.send("a@example.org", "b@example.org", b"x\n")
        assert smtp._lib.mailtls_smtp_last_code(smtp._handle) == 451


def test_results_are_freed_and_copied(fake):
    """Many sends with results: each results object is freed (no crash on
    reuse), and the RecipientResult strings are Python copies."""
    server = fake()
    with connect(server) as smtp:
        kept = []
        for i in range(50):
            kept += smtp.send("a@example.org", [f"r{i}@example.org", "s@example.org"], b"x\n")
    assert [r.address for r in kept[:4]] == [
        "r0@example.org", "s@example.org", "r1@example.org", "s@example.org"]
    assert all(r.text == "Ok" for r in kept)


def test_read_fallback_copies_exactly(fake):
    """An object with only read(): chunks of any size up to what was asked."""
    data = bytes(range(1, 256)) * 1000

    class Trickle:
        def __init__(self):
            self.pos = 0

        def read(self, n):
            n = min(n, 1 + self.pos % 997)
            out = data[self.pos:self.pos + n]
            self.pos += len(out)
            return bytearray(out)  # any bytes-like object

    server = fake()
    with connect(server) as smtp:
        smtp.send("a@example.org", "b@example.org", Trickle())
    expected = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    assert server.messages == [expected.replace(b"\r\n.", b"\r\n..") + b"\r\n"]


def test_read_returning_too_much_cancels(fake):
    class Greedy:
        def read(self, n):
            return b"x" * (n + 1)

    server = fake()
    with connect(server) as smtp:
        with pytest.raises(ValueError, match="returned"):
            smtp.send("a@example.org", "b@example.org", Greedy())
        with pytest.raises(mailtls.ConnectionError):
            smtp.noop()


def test_dsn_ignored_when_not_offered(fake):
    server = fake()
    with connect(server) as smtp:
        smtp.send("a@example.org", "b@example.org", b"x\n",
                  dsn={"notify": ["FAILURE"], "ret": "FULL", "orcpt": True})
    assert b"RCPT TO:<b@example.org>" in server.commands
    assert b"MAIL FROM:<a@example.org> SIZE=%d" % data_size(b"x\n") in server.commands


def test_threads_share_a_session(fake):
    server = fake(ehlo=("PIPELINING", "DSN"))
    errors = []
    with connect(server) as smtp:
        def worker(i):
            try:
                for j in range(10):
                    dsn = {"notify": "NEVER"} if i % 2 else None
                    smtp.send("a@example.org", f"t{i}-{j}@example.org", b"x\n", dsn=dsn)
            except BaseException as e:  # noqa: B036
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    rcpts = [c for c in server.commands if c.startswith(b"RCPT")]
    assert len(rcpts) == 40
    # A DSN request applies exactly to its own send.
    for c in rcpts:
        odd = int(c.split(b"<t")[1].split(b"-")[0]) % 2
        assert c.endswith(b" NOTIFY=NEVER") == bool(odd), c
    assert len(server.messages) == 40


def test_default_ports(fake):
    for security, port in [("auto", 587), ("starttls", 587), ("none", 587), ("tls", 465)]:
        trace = []
        try:
            mailtls.SMTP("127.0.0.1", security=security, timeout=1,
                         trace=lambda k, d, seen=trace: seen.append((k, d))).close()
        except mailtls.Error:
            pass
        assert ("info", b"connecting to 127.0.0.1:%d" % port) in trace, trace


@pytest.mark.parametrize(
    "kw",
    [{"security": "bogus"}, {"port": 0}, {"port": 70000}, {"timeout": 0},
     {"client_name": "not a name"}, {"client_name": "a\0b"}, {"pin_sha256": "xx"}],
)
def test_invalid_constructor_arguments(kw):
    kw.setdefault("port", 1)
    with pytest.raises(mailtls.InvalidArgument):
        mailtls.SMTP("127.0.0.1", **kw)


def test_closed_session(fake):
    server = fake()
    smtp = connect(server)
    smtp.close()
    assert smtp.closed and "SMTP" in repr(smtp) and "closed" in repr(smtp)
    for call in (smtp.noop, smtp.rset, smtp.quit, smtp.extensions,
                 lambda: smtp.send("a@b", "c@d", b"x")):
        with pytest.raises(mailtls.ConnectionError):
            call()


def test_prototypes_cover_the_smtp_api():
    from mailtls import _lib

    lib = _lib.load()
    assert lib.mailtls_smtp_results_count(None) == 0
    assert lib.mailtls_smtp_results_address(None, 0) is None
    assert lib.mailtls_smtp_last_code(None) == 0
    lib.mailtls_smtp_results_free(None)
    assert _lib.SIZE_UNKNOWN == 2**64 - 1
    assert ctypes.sizeof(ctypes.c_void_p) in (4, 8)
