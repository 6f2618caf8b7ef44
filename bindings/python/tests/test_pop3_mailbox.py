"""Mailbox commands against Dovecot: listings, retrieval (bytes, sink,
file, pipelined), TOP, deletion and the context manager."""

from __future__ import annotations

import threading

import pytest

import mailtls
from conftest import MESSAGES, READONLY_USER, user
from mailtls import Result

# One user per mutating test (user40 is the shared read-only mailbox, user41
# and user42 are used for log-ins only by the other modules).
U_MANY = user(43)
U_DELE_QUIT = user(44)
U_DELE_RSET = user(45)
U_DELE_MANY = user(46)
U_DELE_MANY_ERR = user(47)
U_WITH_OK = user(48)
U_WITH_EXC = user(49)
U_DELE_TWICE = user(50)
U_DELE_MANY_PIPELINED = user(51)


def numbered(n: int, prefix: bytes = b"") -> list:
    """n distinct messages of varied sizes."""
    return [
        prefix + b"Subject: message %d\nX-Index: %d\n\n" % (i, i)
        + b"".join(b"line %d of message %d\n" % (j, i) for j in range(i * 37 % 300))
        + (b".dot-start\n" if i % 3 == 0 else b"")
        for i in range(1, n + 1)
    ]


# ---- listings --------------------------------------------------------------------


def listed_size(stored: bytes) -> int:
    """The size Dovecot lists for a stored message: with CRLF line ends, but
    without the CRLF it adds when serving a file that lacks a final newline."""
    return len(stored.replace(b"\n", b"\r\n"))


LISTED = [listed_size(m) for m in MESSAGES]


def test_stat(server, readonly):
    with server.login(READONLY_USER) as pop:
        assert pop.stat() == (len(readonly), sum(LISTED))


def test_list(server, readonly):
    with server.login(READONLY_USER) as pop:
        assert pop.list() == [(i + 1, size) for i, size in enumerate(LISTED)]
        assert pop.list(2) == LISTED[1]
        assert pop.list(4) == len(readonly[3]) - 2  # no final newline stored
        with pytest.raises(mailtls.ServerError) as info:
            pop.list(99)
        assert info.value.reply.startswith("-ERR")


def test_uidl(server, readonly):
    with server.login(READONLY_USER) as pop:
        listing = pop.uidl()
        assert [n for n, _ in listing] == list(range(1, len(readonly) + 1))
        uids = [u for _, u in listing]
        assert len(set(uids)) == len(uids) and all(uids)
        assert pop.uidl(3) == uids[2]
        both = pop.list_uidl()
        assert both == [(n, LISTED[n - 1], uid) for n, uid in listing]


def test_uidl_is_stable_across_sessions(server, readonly):
    with server.login(READONLY_USER) as pop:
        first = pop.uidl()
    with server.login(READONLY_USER, security="starttls") as pop:
        assert pop.uidl() == first


# ---- retrieval ------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(MESSAGES)))
def test_retr_bytes_are_exact(server, readonly, index):
    with server.login(READONLY_USER) as pop:
        assert pop.retr(index + 1) == readonly[index]


def test_retr_special_messages(server, readonly):
    # Spelled out, so the expectation does not only rest on crlf().
    with server.login(READONLY_USER) as pop:
        assert pop.retr(2) == (b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n"
                               b".\r\n...\r\nafter the lone dot\r\n")
        assert b"caf\xe9 \xff\xfe\x80 na\xefve\r\n" in pop.retr(3)
        assert pop.retr(4).endswith(b"last line without newline\r\n")


def test_retr_with_sink(server, readonly):
    chunks = []
    with server.login(READONLY_USER) as pop:
        assert pop.retr(5, chunks.append) is None
        assert b"".join(chunks) == readonly[4]
        assert len(chunks) > 1 and all(isinstance(c, bytes) and c for c in chunks)
        dots = []
        pop.retr(2, dots.append)
        assert b"".join(dots) == readonly[1]


def test_sink_exception_propagates_and_closes_the_connection(server, readonly):
    class Stop(ValueError):
        pass

    seen = []

    def sink(chunk):
        seen.append(chunk)
        raise Stop("enough")

    with server.login(READONLY_USER) as pop:
        with pytest.raises(Stop, match="enough"):
            pop.retr(5, sink)
        assert len(seen) == 1
        with pytest.raises(mailtls.ConnectionError) as info:
            pop.noop()
        assert info.value.code == Result.NOT_CONNECTED


def test_sink_calling_back_into_its_session_is_refused(server, readonly):
    with server.login(READONLY_USER) as pop:
        with pytest.raises(mailtls.InvalidArgument, match="callback"):
            pop.retr(1, lambda chunk: pop.noop())


def test_retr_errors(server, readonly):
    with server.login(READONLY_USER) as pop:
        with pytest.raises(mailtls.ServerError) as info:
            pop.retr(99)
        assert info.value.code == Result.SERVER_ERROR and info.value.reply.startswith("-ERR")
        pop.noop()  # a refusal leaves the session usable
        for bad in (0, -1, 2**32):
            with pytest.raises(mailtls.InvalidArgument):
                pop.retr(bad)
        with pytest.raises(TypeError):
            pop.retr("1")
        with pytest.raises(mailtls.InvalidArgument):
            pop.top(1, -1)
        pop.noop()


def test_keyboard_interrupt_in_a_sink_propagates(server, readonly):
    def sink(chunk):
        raise KeyboardInterrupt

    with server.login(READONLY_USER) as pop:
        with pytest.raises(KeyboardInterrupt):
            pop.retr(1, sink)
        with pytest.raises(mailtls.ConnectionError):
            pop.noop()


def test_retr_to_file(server, readonly, tmp_path):
    with server.login(READONLY_USER) as pop:
        target = tmp_path / "three.eml"
        pop.retr_to_file(3, target)
        assert target.read_bytes() == readonly[2]
        pop.retr_to_file(5, str(tmp_path / "five.eml"))
        assert (tmp_path / "five.eml").read_bytes() == readonly[4]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["five.eml", "three.eml"]


def test_retr_to_file_error(server, readonly, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "m.eml"
    with server.login(READONLY_USER) as pop:
        with pytest.raises(mailtls.FileError) as info:
            pop.retr_to_file(1, missing)
        assert isinstance(info.value, OSError)
        assert info.value.code == Result.FILE_ERROR
        assert info.value.filename == missing
        pop.noop()


def test_top(server, readonly):
    with server.login(READONLY_USER) as pop:
        for number, served in enumerate(readonly, 1):
            headers = served.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            assert pop.top(number, 0) == headers
        assert pop.top(1, 1) == (b"From: a@example.org\r\nTo: b@example.org\r\n"
                                 b"Subject: plain\r\n\r\nHello.\r\n")
        chunks = []
        assert pop.top(2, 2, chunks.append) is None
        assert b"".join(chunks) == b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n"


def test_concurrent_calls_from_threads_are_serialised(server, readonly):
    errors = []
    with server.login(READONLY_USER) as pop:
        def work():
            try:
                for _ in range(10):
                    assert pop.retr(1) == readonly[0]
                    assert pop.stat()[0] == len(readonly)
            except BaseException as e:  # noqa: B036
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors


# ---- retr_many ------------------------------------------------------------------


@pytest.fixture(scope="module")
def many(server):
    return server.seed(U_MANY, numbered(50))


def test_retr_many_in_order(server, many):
    trace = []
    with server.login(U_MANY, trace=lambda k, d: trace.append((k, d))) as pop:
        got = list(pop.retr_many(range(1, len(many) + 1)))
    assert [n for n, _ in got] == list(range(1, len(many) + 1))
    assert [m for _, m in got] == many
    # Pipelined: every RETR went out before the first answer came back.
    first = trace.index(("command", b"RETR 1"))
    last = trace.index(("command", b"RETR %d" % len(many)))
    assert all(k == "command" for k, _ in trace[first:last + 1])


def test_retr_many_in_the_given_order_and_in_batches(server, many, monkeypatch):
    monkeypatch.setattr(mailtls.POP3, "_RETR_MANY_MAX_BATCH", 7)
    order = list(range(len(many), 0, -1)) + [5, 5]
    with server.login(U_MANY) as pop:
        got = list(pop.retr_many(order))
        pop.noop()
    assert [n for n, _ in got] == order
    assert all(m == many[n - 1] for n, m in got)


def test_retr_many_goes_on_from_where_each_library_batch_ended(server, many, monkeypatch):
    """The library bounds each batch (by bytes, planned from LIST); the
    binding goes on from the first message a call did not take, with at
    most _RETR_MANY_MAX_BATCH numbers offered per call."""
    monkeypatch.setattr(mailtls.POP3, "_RETR_MANY_MAX_BATCH", 3)
    offered = []
    real_call = mailtls.POP3._call

    def counting_call(self, fn, *args, **kw):
        if fn is self._fn("retr_batch"):
            offered.append(args[1])
        return real_call(self, fn, *args, **kw)

    monkeypatch.setattr(mailtls.POP3, "_call", counting_call)
    with server.login(U_MANY) as pop:
        got = list(pop.retr_many(range(1, 21)))
    assert [m for _, m in got] == many[:20]
    assert offered == [3] * 6 + [2], offered


def test_retr_many_stops_at_a_refusal(server, many, monkeypatch):
    monkeypatch.setattr(mailtls.POP3, "_RETR_MANY_MAX_BATCH", 4)
    got = []
    with server.login(U_MANY) as pop:
        with pytest.raises(mailtls.ServerError) as info:
            for item in pop.retr_many([1, 2, 3, 4, 5, 6, 999, 7, 8]):
                got.append(item)
        assert "999" in info.value.message
        pop.noop()  # still usable
    assert got == [(n, many[n - 1]) for n in range(1, 7)]


def test_retr_many_checks_numbers_up_front(server, many):
    with server.login(U_MANY) as pop:
        with pytest.raises(mailtls.InvalidArgument):
            pop.retr_many([1, 0])
        assert list(pop.retr_many([])) == []


def test_retr_many_can_be_abandoned(server, many):
    with server.login(U_MANY) as pop:
        it = pop.retr_many(range(1, 11))
        assert next(it) == (1, many[0])
        del it
        assert pop.retr(2) == many[1]


# ---- deletion ------------------------------------------------------------------------


def test_dele_then_quit_removes(server):
    served = server.seed(U_DELE_QUIT, numbered(3))
    with server.login(U_DELE_QUIT) as pop:
        pop.dele(2)
        pop.quit()
        with pytest.raises(mailtls.ConnectionError):
            pop.noop()
    with server.login(U_DELE_QUIT) as pop:
        assert pop.stat()[0] == 2
        assert [pop.retr(1), pop.retr(2)] == [served[0], served[2]]


def test_dele_then_rset_keeps(server):
    server.seed(U_DELE_RSET, numbered(3))
    with server.login(U_DELE_RSET) as pop:
        pop.dele(1)
        pop.dele(3)
        assert pop.stat()[0] == 1
        pop.rset()
        assert pop.stat()[0] == 3
        pop.quit()
    with server.login(U_DELE_RSET) as pop:
        assert pop.stat()[0] == 3


def test_dele_many(server):
    served = server.seed(U_DELE_MANY, numbered(6))
    with server.login(U_DELE_MANY) as pop:
        pop.dele_many([1, 3, 5])
        assert pop.stat()[0] == 3
    with server.login(U_DELE_MANY) as pop:
        assert [m for _, m in pop.retr_many([1, 2, 3])] == [served[1], served[3], served[5]]


def test_dele_many_stops_at_a_refusal(server):
    served = server.seed(U_DELE_MANY_ERR, numbered(4))
    with server.login(U_DELE_MANY_ERR) as pop:
        with pytest.raises(mailtls.ServerError) as info:
            pop.dele_many([1, 2, 99])
        assert "99" in info.value.message
        assert pop.stat()[0] == 2  # 1 and 2 stay marked
    with server.login(U_DELE_MANY_ERR) as pop:
        assert [pop.retr(1), pop.retr(2)] == served[2:]


def test_dele_many_attempts_every_message_and_names_the_refused(server):
    server.seed(U_DELE_MANY_PIPELINED, numbered(4))
    with server.login(U_DELE_MANY_PIPELINED) as pop:
        with pytest.raises(mailtls.ServerError) as info:
            pop.dele_many([1, 99, 2, 98])
        assert "message 99" in info.value.message and "98" in info.value.message
        remaining = [n for n, _ in pop.list()]
        pop.rset()
    assert remaining == [3, 4]


def test_dele_twice_is_a_server_error(server):
    server.seed(U_DELE_TWICE, numbered(2))
    with server.login(U_DELE_TWICE) as pop:
        pop.dele(1)
        with pytest.raises(mailtls.ServerError) as info:
            pop.dele(1)
        assert info.value.reply.startswith("-ERR")
        pop.rset()


def test_with_block_quits_on_normal_exit(server):
    server.seed(U_WITH_OK, numbered(3))
    with server.login(U_WITH_OK) as pop:
        pop.dele(1)
    assert pop.closed
    with server.login(U_WITH_OK) as pop:
        assert pop.stat()[0] == 2


def test_with_block_does_not_quit_on_exception(server):
    server.seed(U_WITH_EXC, numbered(3))
    with pytest.raises(RuntimeError, match="boom"):
        with server.login(U_WITH_EXC) as pop:
            pop.dele_many([1, 2])
            raise RuntimeError("boom")
    assert pop.closed
    with server.login(U_WITH_EXC) as pop:
        assert pop.stat()[0] == 3


def test_with_block_after_explicit_quit(server, readonly):
    with server.login(READONLY_USER) as pop:
        pop.quit()
    assert pop.closed
