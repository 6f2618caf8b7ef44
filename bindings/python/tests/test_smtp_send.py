"""Sending through Postfix into Dovecot's maildirs, read back from the files
and through POP3 (mailtls.POP3): byte-exactness, per-recipient results,
refusals, size limits, message sources, send_message, DSN.

Each test that receives mail owns its users (see conftest: user52..user69)
and empties their mailboxes first."""

from __future__ import annotations

import dataclasses
import email.message
import io
import re
import time

import pytest

import mailtls
from conftest import data_size, smtp_user
from mailtls import RecipientResult, Result

SENDER = "pytest@example.org"  # not local: no DSN ever lands in a test mailbox
LOGIN_USER = smtp_user(66)     # the user the sessions log in as

U_EXACT = smtp_user(52)
U_PARTIAL_A, U_PARTIAL_B = smtp_user(53), smtp_user(54)
U_SOURCES = smtp_user(55)
U_TO, U_BCC, U_CC = smtp_user(56), smtp_user(57), smtp_user(58)
U_MANY = smtp_user(59)
U_DSN = smtp_user(60)
U_NEAR_LIMIT = smtp_user(61)
U_FILE = smtp_user(62)
U_EMAIL_MESSAGE = smtp_user(63)
U_CANCELLED = smtp_user(64)
U_PLAIN = smtp_user(65)
U_READ_ONLY = smtp_user(67)
U_REFUSED_LATER = smtp_user(68)


def addr(user: str) -> str:
    return f"{user}@localhost"


class Trace(list):
    def __call__(self, kind, data):
        self.append((kind, data))

    def commands(self) -> list:
        return [d for k, d in self if k == "command"]


def canonical(message: bytes) -> bytes:
    """The message as it travels: every line end (CRLF, bare LF, bare CR)
    made CRLF and a final one added."""
    out = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    return out if not out or out.endswith(b"\r\n") else out + b"\r\n"


def stored(message: bytes) -> bytes:
    """What Postfix writes into the maildir for `message` (LF line ends)."""
    return canonical(message).replace(b"\r\n", b"\n")


def strip_delivery_lines(data: bytes, sender: str, user: str, eol: bytes = b"\n") -> bytes:
    """Check and drop the two lines the delivery agent adds on top."""
    first = b"Return-Path: <%s>" % sender.encode() + eol
    second = b"Delivered-To: %s" % addr(user).encode() + eol
    assert data.startswith(first + second), data[:200]
    return data[len(first + second):]


def by_seq(messages: list) -> dict:
    """Messages keyed by their "X-Seq:" header value."""
    out = {}
    for m in messages:
        seq = re.search(rb"^X-Seq: (\S+)\r?$", m, flags=re.M)
        assert seq, m[:200]
        out[seq.group(1).decode()] = m
    return out


def pop3_messages(smtp_server, user: str) -> list:
    """Every message of `user`, read through POP3 over TLS (the round trip)."""
    with smtp_server.pop3s() as pop:
        pop.login(user, smtp_server.password)
        return [data for _, data in pop.retr_many(n for n, _ in pop.list())]


# ---- byte-exact delivery ------------------------------------------------------

EXACT = {
    "dots": b"X-Seq: dots\nSubject: leading dots\n\n.leading dot\n..two dots\n...\n"
            b". space\nafter\n",
    "lone-dot": b"X-Seq: lone-dot\nSubject: lone dot\n\nbefore\n.\nafter the lone dot\n",
    "last-dot": b"X-Seq: last-dot\nSubject: ends with a dot line\n\nbody\n.",
    "crlf": b"X-Seq: crlf\r\nSubject: CRLF\r\n\r\nline one\r\nline two\r\n",
    "bare-lf-mixed": b"X-Seq: bare-lf-mixed\nSubject: mixed\r\n\nlf\ncrlf\r\nlf again\n"
                     b"bare cr\rafter cr\n",
    "no-final-eol": b"X-Seq: no-final-eol\nSubject: no final line end\n\nlast line",
    "8bit": b"X-Seq: 8bit\nSubject: 8-bit\nContent-Type: text/plain; charset=iso-8859-1\n"
            b"Content-Transfer-Encoding: 8bit\n\ncaf\xe9 \xff\xfe\x80 na\xefve\n"
            b"\xc3\xa9t\xc3\xa9 UTF-8 too\n",
    "long-line": b"X-Seq: long-line\nSubject: long line\n\n" + b"x" * 990 + b"\n"
                 + b".y" + b"z" * 987 + b"\n",
    "empty-body": b"X-Seq: empty-body\nSubject: no body\n",
    "blank-lines": b"X-Seq: blank-lines\nSubject: blank lines\n\n\n\n\nend\n\n",
}


def test_byte_exact_delivery_and_pop3_round_trip(smtp_server):
    """Each message is sent twice, as bytes and streamed from a file object;
    each copy must arrive exactly as sent (line ends aside), in the maildir
    file and through POP3."""
    smtp_server.clear(U_EXACT)
    sent = {}
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        for name, message in EXACT.items():
            results = smtp.send(SENDER, addr(U_EXACT), message)
            assert results == [RecipientResult(addr(U_EXACT), True, 250, "2.1.5", "Ok")]
            sent[name] = message
            streamed = message.replace(b"X-Seq: " + name.encode(),
                                       b"X-Seq: " + name.encode() + b"-stream")
            results = smtp.send(SENDER, [addr(U_EXACT)], io.BytesIO(streamed))
            assert [r.accepted for r in results] == [True]
            sent[name + "-stream"] = streamed

    files = by_seq(smtp_server.wait_for(U_EXACT, len(sent)))
    assert sorted(files) == sorted(sent)
    for name, message in sent.items():
        assert strip_delivery_lines(files[name], SENDER, U_EXACT) == stored(message), name

    served = by_seq(pop3_messages(smtp_server, U_EXACT))
    assert sorted(served) == sorted(sent)
    for name, message in sent.items():
        body = strip_delivery_lines(served[name], SENDER, U_EXACT, b"\r\n")
        assert body == canonical(message), name


# ---- recipients -----------------------------------------------------------------


def test_partial_refusal_gives_results_and_delivers_to_the_others(smtp_server):
    smtp_server.clear(U_PARTIAL_A, U_PARTIAL_B)
    message = b"X-Seq: partial\nSubject: partial\n\nto some\n"
    recipients = [addr(U_PARTIAL_A), "nobody-here@localhost", addr(U_PARTIAL_B),
                  "someone@example.net"]
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        results = smtp.send(SENDER, iter(recipients), message)  # any iterable
        smtp.noop()
    assert [r.address for r in results] == recipients
    assert [r.accepted for r in results] == [True, False, True, False]
    assert [r.code for r in results] == [250, 550, 250, 554]
    assert [r.enhanced for r in results] == ["2.1.5", "5.1.1", "2.1.5", "5.7.1"]
    assert "User unknown" in results[1].text
    assert "Relay access denied" in results[3].text
    assert not results[1].text.startswith("550")  # text without the codes
    for r in results:
        assert isinstance(r, RecipientResult)
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.accepted = True  # frozen
    for user in (U_PARTIAL_A, U_PARTIAL_B):
        (data,) = smtp_server.wait_for(user, 1)
        assert strip_delivery_lines(data, SENDER, user) == stored(message)


def test_all_refused_is_recipients_refused_with_results(smtp_server):
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        with pytest.raises(mailtls.RecipientsRefused) as info:
            smtp.send(SENDER, ["nobody-here@localhost", "x@example.net"],
                      b"Subject: nobody\n\nnothing\n")
        e = info.value
        assert isinstance(e, mailtls.ServerError)
        assert e.code == Result.RECIPIENTS_REFUSED
        assert [(r.address, r.accepted, r.code, r.enhanced) for r in e.results] == [
            ("nobody-here@localhost", False, 550, "5.1.1"),
            ("x@example.net", False, 554, "5.7.1"),
        ]
        assert "nobody-here@localhost" in e.message
        # The session goes on: the next message can be sent.
        smtp.noop()
        with pytest.raises(mailtls.RecipientsRefused):
            smtp.send(SENDER, "nobody-here@localhost", b"Subject: again\n\nx\n")
        smtp.noop()


def test_utf8_recipient_uses_smtputf8(smtp_server):
    """Postfix offers SMTPUTF8: a non-ASCII address is sent (with SMTPUTF8
    on MAIL) and refused by the server as an unknown user, not by the
    library as SmtpUtf8Unavailable."""
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        with pytest.raises(mailtls.RecipientsRefused) as info:
            smtp.send(SENDER, "üser@localhost", "Subject: ü\n\nü\n")
        assert not isinstance(info.value, mailtls.SmtpUtf8Unavailable)
        (r,) = info.value.results
        assert (r.address, r.code, r.enhanced) == ("üser@localhost", 550, "5.1.1")
    mail = [c for c in trace.commands() if c.startswith(b"MAIL FROM")]
    assert mail and mail[0].endswith(b" SMTPUTF8")
    assert "RCPT TO:<üser@localhost>".encode() in trace.commands()


BAD_ADDRESSES = ["a\r\nRCPT TO:<x@y>", "a\nb@localhost", "a\rb@localhost", "a b@localhost",
                 "<a@localhost>", "a>b@localhost", "a\0b@localhost", "a\tb@localhost"]


@pytest.mark.parametrize(
    "where, bad",
    [("from", b) for b in BAD_ADDRESSES] + [("to", b) for b in BAD_ADDRESSES + [""]],
)
def test_invalid_addresses(smtp_server, bad, where):
    # ("" is the null sender, allowed as from_addr.)
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        before = len(trace.commands())
        with pytest.raises(mailtls.InvalidArgument) as info:
            if where == "from":
                smtp.send(bad, addr(U_REFUSED_LATER), b"Subject: x\n\nx\n")
            else:
                smtp.send(SENDER, [addr(U_REFUSED_LATER), bad], b"Subject: x\n\nx\n")
        assert isinstance(info.value, ValueError)
        assert len(trace.commands()) == before  # nothing sent
        smtp.noop()


def test_no_recipients_is_invalid(smtp_server):
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        with pytest.raises(mailtls.InvalidArgument):
            smtp.send(SENDER, [], b"x")
        with pytest.raises(TypeError):
            smtp.send(SENDER, 42, b"x")
        with pytest.raises(TypeError):
            smtp.send(SENDER, [addr(U_REFUSED_LATER)], 42)
        with pytest.raises(TypeError):
            smtp.send(SENDER, [addr(U_REFUSED_LATER)], io.StringIO("text"))
        smtp.noop()


# ---- size -------------------------------------------------------------------------


def _big(size: int, seq: str) -> bytes:
    head = b"X-Seq: %s\nSubject: big\n\n" % seq.encode()
    line = b"y" * 99 + b"\n"
    body = line * ((size - len(head)) // len(line))
    body += b"z" * (size - len(head) - len(body))
    out = head + body
    assert len(out) == size
    return out


@pytest.mark.parametrize("source", ["bytes", "bytesio", "file"])
def test_message_over_size_is_refused_before_sending(smtp_server, source, tmp_path):
    message = _big(smtp_server.size_limit + 1, "too-big")
    if source == "bytesio":
        message = io.BytesIO(message)
    elif source == "file":
        path = tmp_path / "big.eml"
        path.write_bytes(message)
        message = open(path, "rb")
    trace = Trace()
    try:
        with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
            with pytest.raises(mailtls.MessageTooLarge) as info:
                smtp.send(SENDER, addr(U_REFUSED_LATER), message)
            assert isinstance(info.value, mailtls.ServerError)
            assert info.value.code == Result.MESSAGE_TOO_LARGE
            assert str(smtp_server.size_limit) in info.value.message
            assert not any(c.startswith(b"MAIL") for c in trace.commands())
            smtp.noop()  # still usable
            with pytest.raises(mailtls.RecipientsRefused):
                smtp.send(SENDER, "nobody-here@localhost", b"Subject: small\n\nx\n")
    finally:
        if source == "file":
            message.close()


class Chunks:
    """A file-like object with only read(): the size is unknown."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self.data, self.pos, self.chunk, self.calls = data, 0, chunk, 0

    def read(self, n: int = -1) -> bytes:
        self.calls += 1
        n = min(n, self.chunk)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def test_unknown_size_over_the_limit_is_refused_by_the_server(smtp_server):
    smtp_server.clear(U_REFUSED_LATER)
    source = Chunks(_big(smtp_server.size_limit + 64 * 1024, "unknown-size"), 64 * 1024)
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        with pytest.raises(mailtls.ServerError) as info:
            smtp.send(SENDER, addr(U_REFUSED_LATER), source)
        e = info.value
        assert type(e) is mailtls.ServerError
        assert e.smtp_code == 552 and e.permanent
        assert e.response_code == "5.3.4"
        mail = [c for c in trace.commands() if c.startswith(b"MAIL")]
        assert b"SIZE=" not in mail[0]
        smtp.noop()  # the session goes on after the refusal
    assert smtp_server.delivered_files(U_REFUSED_LATER) == []


def test_message_just_under_the_limit_passes(smtp_server):
    smtp_server.clear(U_NEAR_LIMIT)
    message = _big(smtp_server.size_limit - 16 * 1024, "near-limit")
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        smtp.send(SENDER, addr(U_NEAR_LIMIT), message)
    (data,) = smtp_server.wait_for(U_NEAR_LIMIT, 1)
    assert strip_delivery_lines(data, SENDER, U_NEAR_LIMIT) == stored(message)


# ---- message sources ------------------------------------------------------------


def test_str_file_bytesio_and_read_only_sources(smtp_server, tmp_path):
    smtp_server.clear(U_SOURCES)
    text = "X-Seq: str\nSubject: =?utf-8?q?str?=\n\nÜnïcödé text, sent as UTF-8\n"
    real = b"X-Seq: file\nSubject: real file\n\n.dot\n" + b"line\n" * 5000
    path = tmp_path / "message.eml"
    path.write_bytes(b"ignored prefix\n" + real)
    raw = real.replace(b"X-Seq: file", b"X-Seq: rawfile")
    raw_path = tmp_path / "raw.eml"
    raw_path.write_bytes(raw)
    memory = b"X-Seq: bytesio\nSubject: bytesio\n\nfrom memory\n"
    chunked = b"X-Seq: chunks\nSubject: read only\n\n" + b"0123456789\n" * 3000
    array = bytearray(b"X-Seq: bytearray\nSubject: bytearray\n\nmutable\n")
    view = memoryview(b"X-Seq: memoryview\nSubject: memoryview\n\nview\n")
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        smtp.send(SENDER, addr(U_SOURCES), text)
        with open(path, "rb") as f:
            f.readline()  # streamed from the current position
            smtp.send(SENDER, addr(U_SOURCES), f)
        with open(raw_path, "rb", buffering=0) as f:  # raw FileIO
            smtp.send(SENDER, addr(U_SOURCES), f)
        smtp.send(SENDER, addr(U_SOURCES), io.BytesIO(memory))
        reader = Chunks(chunked, 777)
        smtp.send(SENDER, addr(U_SOURCES), reader)
        assert reader.calls > 1
        smtp.send(SENDER, addr(U_SOURCES), array)
        smtp.send(SENDER, addr(U_SOURCES), view)
    mails = [c for c in trace.commands() if c.startswith(b"MAIL")]
    # The size is declared when it is knowable.
    assert b" SIZE=%d" % data_size(text.encode()) in mails[0]
    # A streamed source's size is declared as the binding knows it (the
    # bytes left to read), as given by the caller.
    assert b" SIZE=%d" % len(real) in mails[1]
    assert b" SIZE=%d" % len(raw) in mails[2]
    assert b" SIZE=%d" % len(memory) in mails[3]
    assert b"SIZE=" not in mails[4]
    files = by_seq(smtp_server.wait_for(U_SOURCES, 7))
    got = {k: strip_delivery_lines(v, SENDER, U_SOURCES) for k, v in files.items()}
    assert got["str"] == text.encode("utf-8")
    assert got["file"] == real
    assert got["rawfile"] == raw
    assert got["bytesio"] == memory
    assert got["chunks"] == chunked
    assert got["bytearray"] == bytes(array)
    assert got["memoryview"] == bytes(view)


def test_send_file(smtp_server, tmp_path):
    smtp_server.clear(U_FILE)
    message = b"X-Seq: send-file\nSubject: send_file\n\n.dot\n\xe9\nno final eol"
    path = tmp_path / "m.eml"
    path.write_bytes(message)
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        results = smtp.send_file(SENDER, addr(U_FILE), path)
        assert [r.accepted for r in results] == [True]
        with pytest.raises(mailtls.FileError) as info:
            smtp.send_file(SENDER, addr(U_FILE), tmp_path / "missing.eml")
        assert isinstance(info.value, OSError)
        assert info.value.filename == tmp_path / "missing.eml"
        smtp.noop()
    (data,) = smtp_server.wait_for(U_FILE, 1)
    assert strip_delivery_lines(data, SENDER, U_FILE) == stored(message)


class Boom(Exception):
    pass


class FailingReader:
    def __init__(self, fail_after: int) -> None:
        self.calls, self.fail_after = 0, fail_after

    def read(self, n: int) -> bytes:
        self.calls += 1
        if self.calls > self.fail_after:
            raise Boom("disk on fire")
        return b"X-Seq: cancelled\nSubject: never\n\n" if self.calls == 1 else b"x" * 100 + b"\n"


class FailingBytesIO(io.BytesIO):
    def readinto(self, b):
        raise Boom("readinto failed")


@pytest.mark.parametrize("source", ["read-first", "read-later", "readinto", "str-from-read"])
def test_reader_exception_propagates_and_closes_the_connection(smtp_server, source):
    smtp_server.clear(U_CANCELLED)
    if source == "read-first":
        reader, expected = FailingReader(0), Boom
    elif source == "read-later":
        reader, expected = FailingReader(3), Boom
    elif source == "readinto":
        reader, expected = FailingBytesIO(b"X-Seq: x\n\nbody\n"), Boom
    else:
        reader, expected = _StrReader(), TypeError
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        with pytest.raises(expected) as info:
            smtp.send(SENDER, addr(U_CANCELLED), reader)
        assert not isinstance(info.value, mailtls.Error)
        assert b"DATA" in trace.commands()
        with pytest.raises(mailtls.ConnectionError) as info:
            smtp.noop()
        assert info.value.code == Result.NOT_CONNECTED
    # Leaving the block after that is fine (no QUIT is possible).
    assert smtp.closed
    assert b"QUIT" not in trace.commands()
    # The server got no end of data: nothing is delivered.
    time.sleep(0.5)
    assert smtp_server.delivered_files(U_CANCELLED) == []


class _StrReader:
    def read(self, n: int):
        return "text, not bytes"


def test_reader_calling_its_own_session_is_refused(smtp_server):
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        class Sneaky:
            def read(self, n):
                smtp.noop()

        with pytest.raises(mailtls.InvalidArgument):
            smtp.send(SENDER, addr(U_CANCELLED), Sneaky())
        assert smtp.closed is False
        with pytest.raises(mailtls.ConnectionError):
            smtp.noop()  # the send was cancelled mid-way: connection closed


# ---- send_message ------------------------------------------------------------------


def test_send_message_derives_the_envelope_and_drops_bcc(smtp_server):
    smtp_server.clear(U_TO, U_CC, U_BCC)
    message = (
        b"X-Seq: send-message\n"
        b"From: Py Test <pytest@example.org>\n"
        b"To: To User <" + addr(U_TO).encode() + b">\n"
        b"Cc: " + addr(U_CC).encode() + b"\n"
        b"Bcc: " + addr(U_BCC).encode() + b"\n"
        b"Subject: send_message\n"
        b"\n"
        b"Bcc: in the body stays\n"
    )
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        results = smtp.send_message(message)
    assert [(r.address, r.accepted) for r in results] == [
        (addr(U_TO), True), (addr(U_CC), True), (addr(U_BCC), True)]
    mails = [c for c in trace.commands() if c.startswith(b"MAIL FROM")]
    sent = message.replace(b"Bcc: " + addr(U_BCC).encode() + b"\n", b"", 1)
    assert mails == [b"MAIL FROM:<pytest@example.org> SIZE=%d" % data_size(sent)]
    rcpts = [c for c in trace.commands() if c.startswith(b"RCPT")]
    assert rcpts == [b"RCPT TO:<%s>" % addr(u).encode() for u in (U_TO, U_CC, U_BCC)]
    expected = stored(message.replace(b"Bcc: " + addr(U_BCC).encode() + b"\n", b""))
    assert b"\nBcc:" not in expected.split(b"\n\n")[0]
    for user in (U_TO, U_CC, U_BCC):
        (data,) = smtp_server.wait_for(user, 1)
        body = strip_delivery_lines(data, "pytest@example.org", user)
        assert body == expected, user
        headers = body.split(b"\n\n", 1)[0]
        assert b"Bcc" not in headers


def test_send_message_sender_header_and_sources(smtp_server):
    smtp_server.clear(U_EMAIL_MESSAGE)
    msg = email.message.EmailMessage()
    msg["X-Seq"] = "email-message"
    msg["From"] = "Someone <someone@example.org>"
    msg["Sender"] = "pytest@example.org"
    msg["To"] = addr(U_EMAIL_MESSAGE)
    msg["Subject"] = "Grüße"
    msg.set_content("Hällo wörld\n.dot line\n")
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        (r,) = smtp.send_message(msg)
        assert r.accepted and r.address == addr(U_EMAIL_MESSAGE)
        raw = b"X-Seq: str-message\nFrom: pytest@example.org\nTo: %s\n\nstr\n" % (
            addr(U_EMAIL_MESSAGE).encode())
        smtp.send_message(raw.decode())
        smtp.send_message(io.BytesIO(raw.replace(b"str-message", b"file-message")))
        with pytest.raises(mailtls.InvalidArgument):
            smtp.send_message(b"Subject: no addresses\n\nx\n")
        with pytest.raises(TypeError):
            smtp.send_message(42)
        smtp.noop()
    mails = [c for c in trace.commands() if c.startswith(b"MAIL FROM")]
    assert mails[0].startswith(b"MAIL FROM:<pytest@example.org>")  # Sender wins
    files = by_seq(smtp_server.wait_for(U_EMAIL_MESSAGE, 3))
    body = strip_delivery_lines(files["email-message"], "pytest@example.org", U_EMAIL_MESSAGE)
    assert body == stored(msg.as_bytes())
    assert set(files) == {"email-message", "str-message", "file-message"}


# ---- many messages, DSN, the plain port ---------------------------------------------


def test_many_messages_over_one_connection(smtp_server):
    smtp_server.clear(U_MANY)
    count = 30
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        for i in range(count):
            message = b"X-Seq: %d\nSubject: message %d\n\n%s\n" % (i, i, b"body " * i)
            results = smtp.send(SENDER, addr(U_MANY), message)
            assert results[0].accepted
    assert sum(1 for c in trace.commands() if c.startswith(b"EHLO")) == 2  # one connection
    files = by_seq(smtp_server.wait_for(U_MANY, count))
    assert sorted(files, key=int) == [str(i) for i in range(count)]
    for i in range(count):
        body = strip_delivery_lines(files[str(i)], SENDER, U_MANY)
        assert body == b"X-Seq: %d\nSubject: message %d\n\n%s\n" % (i, i, b"body " * i)
    served = pop3_messages(smtp_server, U_MANY)
    assert len(served) == count


def test_dsn_request(smtp_server):
    smtp_server.clear(U_DSN)
    trace = Trace()
    with smtp_server.smtp_login(LOGIN_USER, trace=trace) as smtp:
        dsn = {"notify": ["SUCCESS", "FAILURE"], "ret": "HDRS", "envid": "py-env 1",
               "orcpt": True}
        results = smtp.send(SENDER, addr(U_DSN), b"X-Seq: dsn\nSubject: dsn\n\nx\n", dsn=dsn)
        assert results[0].accepted
        mail, rcpt = [c for c in trace.commands() if c.startswith((b"MAIL", b"RCPT"))][-2:]
        assert b" RET=HDRS" in mail and b" ENVID=py-env+201" in mail
        assert rcpt == (b"RCPT TO:<%s> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;%s"
                        % (addr(U_DSN).encode(), addr(U_DSN).encode()))
        # NEVER as a string; and the request does not outlive its send.
        smtp.send(SENDER, addr(U_DSN), b"X-Seq: never\n\nx\n", dsn={"notify": "NEVER"})
        assert trace.commands()[-2].endswith(b" NOTIFY=NEVER")  # RCPT before DATA
        smtp.send(SENDER, addr(U_DSN), b"X-Seq: plain\n\nx\n")
        mail, rcpt = [c for c in trace.commands() if c.startswith((b"MAIL", b"RCPT"))][-2:]
        assert b"RET=" not in mail and b"ENVID" not in mail
        assert rcpt == b"RCPT TO:<%s>" % addr(U_DSN).encode()

        before = len(trace.commands())
        for bad, exc in [
            ({"notfy": "NEVER"}, mailtls.InvalidArgument),
            ({"notify": []}, mailtls.InvalidArgument),
            ({"notify": "BOGUS"}, mailtls.InvalidArgument),
            ({"notify": ["NEVER", "SUCCESS"]}, mailtls.InvalidArgument),
            ({"ret": "ALL"}, mailtls.InvalidArgument),
            ({"envid": ""}, mailtls.InvalidArgument),
            ({"envid": "\u00e9"}, mailtls.InvalidArgument),
            ({"orcpt": "yes"}, TypeError),
            ({"notify": 5}, TypeError),
            ({"ret": 5}, TypeError),
            ("NEVER", TypeError),
        ]:
            with pytest.raises(exc):
                smtp.send(SENDER, addr(U_DSN), b"x", dsn=bad)
        assert not any(c.startswith(b"MAIL") for c in trace.commands()[before:])
        smtp.noop()
    smtp_server.wait_for(U_DSN, 3)


def test_unauthenticated_delivery_on_the_plain_port(smtp_server):
    """The port-25 style port over STARTTLS delivers to local mailboxes
    without AUTH, and tells the sender about the others."""
    smtp_server.clear(U_PLAIN)
    message = b"X-Seq: plain-port\nSubject: plain port\n\n..\n"
    with smtp_server.smtp_plain() as smtp:
        assert smtp.peer_cert_sha256 == smtp_server.sha256
        results = smtp.send(SENDER, [addr(U_PLAIN), "x@example.net"], message)
        # The null sender (as for a bounce).
        smtp.send("", addr(U_PLAIN), message.replace(b"plain-port", b"null-sender"))
    assert [(r.accepted, r.code) for r in results] == [(True, 250), (False, 554)]
    files = by_seq(smtp_server.wait_for(U_PLAIN, 2))
    assert strip_delivery_lines(files["plain-port"], SENDER, U_PLAIN) == message
    assert strip_delivery_lines(files["null-sender"], "", U_PLAIN) == message.replace(
        b"plain-port", b"null-sender")


def test_submission_without_auth_refuses_recipients(smtp_server):
    with smtp_server.smtp() as smtp:
        with pytest.raises(mailtls.RecipientsRefused) as info:
            smtp.send(SENDER, addr(U_READ_ONLY), b"Subject: x\n\nx\n")
        (r,) = info.value.results
        assert (r.code, r.enhanced) == (554, "5.7.1")
        assert "Access denied" in r.text


def test_send_after_close_is_connection_error(smtp_server):
    smtp = smtp_server.smtp_login(LOGIN_USER)
    smtp.close()
    with pytest.raises(mailtls.ConnectionError) as info:
        smtp.send(SENDER, addr(U_READ_ONLY), b"x", dsn={"notify": "NEVER"})
    assert info.value.code == Result.NOT_CONNECTED


U_OUTBOX = smtp_user(69)  # shared with test_readme.py, which empties it first


def test_send_many_returns_each_outcome_in_order_and_delivers(smtp_server):
    smtp_server.clear(U_OUTBOX)
    good = [(SENDER, addr(U_OUTBOX), b"Subject: outbox %d\r\n\r\n.dot %d\r\n" % (i, i)) for i in range(40)]
    refused = [(SENDER, ["nobody-here@localhost"], b"x"), (SENDER, ["bad address"], b"x")]
    messages = good[:10] + refused + good[10:]
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        outcomes = smtp.send_many(iter(messages))
        smtp.noop()
    assert len(outcomes) == len(messages)
    refused, invalid = outcomes[10], outcomes[11]
    assert isinstance(refused, mailtls.RecipientsRefused) and refused.results[0].code == 550
    assert isinstance(invalid, mailtls.InvalidArgument)
    sent = outcomes[:10] + outcomes[12:]
    assert all(isinstance(o, list) and o[0].accepted for o in sent), outcomes
    delivered = smtp_server.wait_for(U_OUTBOX, len(good))
    bodies = sorted(d.split(b"\n", 2)[2] for d in delivered)  # without the two added lines
    assert bodies == sorted(m.replace(b"\r\n", b"\n") for _, _, m in good)


def test_send_many_rejects_a_malformed_item_before_sending(smtp_server):
    with smtp_server.smtp_login(LOGIN_USER) as smtp:
        with pytest.raises(TypeError):
            smtp.send_many([(SENDER, addr(U_OUTBOX))])
        with pytest.raises(TypeError):
            smtp.send_many([(SENDER, addr(U_OUTBOX), io.BytesIO(b"streams are for send()"))])
        assert smtp.send_many([]) == []
