"""POP3 against scripted servers on local sockets (no Dovecot needed): what
a hostile server can send that Dovecot never does (messages over the
in-memory limit, sizes the library cannot represent, endless listings)."""

from __future__ import annotations

import socket
import threading

import pytest

import mailtls
from mailtls import Result

MAX_U64 = 2**64 - 1
MAX_LISTING_ENTRIES = 1_000_000  # the library's cap (src/pop3/mod.rs)


class FakePop3:
    """A one-connection POP3 server without TLS that accepts any USER/PASS.

    ``replies``: command verb (upper case) -> the whole reply as bytes
    (status line and, for a multi-line reply, its lines and "."), or a
    callable(line) -> bytes. Records ``commands`` (lines without CRLF). A
    client that hangs up in the middle of a reply ends the session."""

    def __init__(self, replies: dict, capa: tuple = ("USER", "TOP", "UIDL")) -> None:
        self.replies = {
            "CAPA": b"+OK\r\n" + b"".join(c.encode() + b"\r\n" for c in capa) + b".\r\n",
            "USER": b"+OK\r\n",
            "PASS": b"+OK logged in\r\n",
            "NOOP": b"+OK\r\n",
            "QUIT": b"+OK bye\r\n",
        }
        self.replies.update(replies)
        self.commands: list = []
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.port = self.srv.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.srv.accept()
        with conn:
            try:
                f = conn.makefile("rwb", buffering=0)
                f.write(b"+OK fake\r\n")
                for line in f:
                    line = line.rstrip(b"\r\n")
                    self.commands.append(line)
                    verb = line.split(b" ")[0].upper().decode()
                    reply = self.replies.get(verb, b"-ERR unknown command\r\n")
                    f.write(reply(line) if callable(reply) else reply)
                    if verb == "QUIT":
                        return
            except OSError:
                return  # the client dropped the connection

    def close(self) -> None:
        self.thread.join(10)
        self.srv.close()


@pytest.fixture
def fake():
    servers = []

    def make(**kw) -> FakePop3:
        s = FakePop3(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def login(server: FakePop3, **kw) -> mailtls.POP3:
    kw.setdefault("security", "none")
    kw.setdefault("allow_plaintext_auth", True)
    kw.setdefault("timeout", 10)
    pop = mailtls.POP3("127.0.0.1", server.port, **kw)
    pop.login("user", "password")
    return pop


def message(size: int) -> bytes:
    """A message of exactly `size` bytes (CRLF line ends, 72-byte lines)."""
    head = b"Subject: large\r\n\r\n"
    line = b"x" * 70 + b"\r\n"
    body = line * ((size - len(head)) // len(line))
    rest = size - len(head) - len(body)
    tail = b"y" * (rest - 2) + b"\r\n" if rest >= 2 else b""
    data = head + body + tail
    assert len(data) == size or rest == 1
    return data


def multi_line(data: bytes) -> bytes:
    """`data` as a POP3 multi-line reply (`data` has no line starting with ".")."""
    return b"+OK\r\n" + data + b".\r\n"


LIMIT = 10_000
AT_LIMIT = message(LIMIT)
OVER_LIMIT = message(LIMIT * 8)


# ---- the in-memory limit (max_message_bytes) ----------------------------------


def fetch(pop: mailtls.POP3, how: str) -> bytes:
    """Message 1 through one of the calls that hold it in memory."""
    if how == "retr":
        data = pop.retr(1)
    elif how == "top":
        data = pop.top(1, 10_000)
    else:
        ((number, data),) = list(pop.retr_many([1]))
        assert number == 1
    assert data is not None
    return data


HOW = ["retr", "top", "retr_many"]
# retr_many's batches are planned by the LIST sizes (sent once).
LIST_ONE = b"+OK\r\n1 100\r\n.\r\n"
VERB = {"retr": "RETR", "top": "TOP", "retr_many": "RETR"}


@pytest.mark.parametrize("how", HOW)
def test_a_message_at_the_limit_is_returned_whole(fake, how):
    server = fake(replies={VERB[how]: multi_line(AT_LIMIT), "LIST": LIST_ONE})
    with login(server, max_message_bytes=LIMIT) as pop:
        assert fetch(pop, how) == AT_LIMIT


@pytest.mark.parametrize("how", HOW)
def test_a_message_over_the_limit_is_message_too_large(fake, how):
    server = fake(replies={VERB[how]: multi_line(OVER_LIMIT), "LIST": LIST_ONE})
    pop = login(server, max_message_bytes=LIMIT)
    try:
        with pytest.raises(mailtls.MessageTooLarge) as info:
            fetch(pop, how)
        assert info.value.code == Result.MESSAGE_TOO_LARGE
        assert str(LIMIT) in info.value.message
        # The rest of the message is unread: the connection is dropped
        # (no QUIT, so no deletion is committed).
        with pytest.raises(mailtls.ConnectionError) as closed:
            pop.noop()
        assert closed.value.code == Result.NOT_CONNECTED
    finally:
        pop.close()
    assert b"QUIT" not in server.commands


@pytest.mark.parametrize("how", ["retr", "top"])
def test_a_sink_gets_a_message_over_the_limit(fake, how):
    server = fake(replies={VERB[how]: multi_line(OVER_LIMIT)})
    chunks: list = []
    with login(server, max_message_bytes=LIMIT) as pop:
        if how == "retr":
            pop.retr(1, chunks.append)
        else:
            pop.top(1, 10_000, chunks.append)
    assert b"".join(chunks) == OVER_LIMIT


def test_retr_many_yields_the_messages_before_one_over_the_limit(fake):
    sizes = {b"1": 100, b"2": 200, b"3": LIMIT * 8}
    listing = b"".join(b"%s %d\r\n" % (n, size) for n, size in sizes.items())
    server = fake(replies={"RETR": lambda line: multi_line(message(sizes[line.split()[1]])),
                           "LIST": b"+OK\r\n" + listing + b".\r\n"})
    pop = login(server, max_message_bytes=LIMIT)
    got = []
    try:
        with pytest.raises(mailtls.MessageTooLarge):
            for number, data in pop.retr_many([1, 2, 3]):
                got.append((number, len(data)))
    finally:
        pop.close()
    # One library call fetches the whole batch: a message over the limit
    # fails the batch, so none of it may be yielded, or all before it whole.
    assert got in ([], [(1, 100), (2, 200)])


# ---- sizes the library cannot represent ---------------------------------------


@pytest.mark.parametrize(
    "call, replies",
    [
        ("list", {"LIST": b"+OK\r\n1 120\r\n2 %d\r\n.\r\n" % MAX_U64}),
        ("list_one", {"LIST": b"+OK 2 %d\r\n" % MAX_U64}),
        ("stat", {"STAT": b"+OK 2 %d\r\n" % MAX_U64}),
        ("list_uidl", {"UIDL": b"+OK\r\n1 a\r\n2 b\r\n.\r\n",
                       "LIST": b"+OK\r\n1 120\r\n2 %d\r\n.\r\n" % MAX_U64}),
    ],
)
def test_a_size_of_2_64_minus_1_is_a_protocol_error(fake, call, replies):
    # 2**64-1 is the C API's "size unknown": it must never come back as
    # None (or as a size).
    server = fake(replies=replies)
    pop = login(server)
    try:
        with pytest.raises(mailtls.ProtocolError) as info:
            if call == "list_one":
                pop.list(2)
            else:
                getattr(pop, call)()
        assert info.value.code == Result.PROTOCOL_ERROR
    finally:
        pop.close()


def test_the_largest_representable_size_is_listed(fake):
    server = fake(replies={"LIST": b"+OK\r\n1 %d\r\n.\r\n" % (MAX_U64 - 1)})
    with login(server) as pop:
        assert pop.list() == [(1, MAX_U64 - 1)]


def test_list_uidl_names_a_size_unknown_only_when_list_omits_the_message(fake):
    server = fake(replies={"UIDL": b"+OK\r\n1 a\r\n2 b\r\n.\r\n", "LIST": b"+OK\r\n1 120\r\n.\r\n"})
    with login(server) as pop:
        assert pop.list_uidl() == [(1, 120, "a"), (2, None, "b")]


# ---- listings without end -------------------------------------------------------


@pytest.mark.parametrize("call", ["list", "uidl"])
def test_a_listing_over_the_entry_cap_is_a_protocol_error(fake, call):
    entries = range(1, MAX_LISTING_ENTRIES + 2)
    if call == "list":
        replies = {"LIST": b"+OK\r\n" + b"".join(b"%d 1\r\n" % i for i in entries) + b".\r\n"}
    else:  # list_uidl reads UIDL the same way
        replies = {"UIDL": b"+OK\r\n" + b"".join(b"%d u\r\n" % i for i in entries) + b".\r\n"}
    server = fake(replies=replies)
    pop = login(server)
    try:
        with pytest.raises(mailtls.ProtocolError) as info:
            getattr(pop, call)()
        assert str(MAX_LISTING_ENTRIES) in info.value.message
    finally:
        pop.close()
