"""POP3.sync(): safe mailbox download, against the test Dovecot (users
pysync01..pysync03 only) and, for a server without UIDL, a scripted one.

Each test seeds the mailbox it uses; state files and Maildirs are in
tmp_path.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import pathlib
import subprocess
import sys
import time
import typing

import pytest

import mailtls
from conftest import BINDING, MAIL_GID, MAIL_UID, PACKAGE_ROOT, crlf
from mailtls import SyncOutcome, SyncReport
from test_pop3_fake import FakePop3, login

FIRST, SECOND, THIRD = "pysync01", "pysync02", "pysync03"

MESSAGES = [
    b"From: a@example.org\nTo: b@example.org\nSubject: sync one\n\nHello.\n",
    b"Subject: sync dots\n\n.leading dot\n..two dots\n.\nafter the lone dot\n",
    b"Subject: sync 8bit\n\ncaf\xe9 \xff\xfe\x80\n",
    b"Subject: sync no final newline\n\nlast line without newline",
    b"Subject: sync big\n\n" + b"".join(b"line %06d " % i + b"x" * 60 + b"\n" for i in range(6000)),
]


def stored(message: bytes) -> bytes:
    """What a sync writes into a Maildir for a seeded ``message``: the
    served bytes with LF line ends (a final newline added where the server
    added one)."""
    return crlf(message).replace(b"\r\n", b"\n")


def maildir_files(maildir: pathlib.Path) -> dict:
    """name -> content of the messages in new/ and cur/."""
    return {f.name: f.read_bytes() for sub in ("new", "cur") for f in (maildir / sub).iterdir()}


def add(server, name: str, messages: list) -> list:
    """Store ``messages`` in the mailbox of ``name`` without removing what
    is there (as new mail arriving); returns the served bytes."""
    maildir = server.maildir(name)
    base = int(time.time()) + 100  # after anything seeded before
    for i, data in enumerate(messages):
        fname = f"{base + i}.M{i:06d}P{os.getpid()}.mailtls-pysync"
        tmp = maildir / "tmp" / fname
        tmp.write_bytes(data)
        os.chown(tmp, MAIL_UID, MAIL_GID)
        tmp.rename(maildir / "new" / fname)
    return [crlf(m) for m in messages]


def on_server(server, name: str) -> list:
    """(uid, message) of every message now in the mailbox of ``name``."""
    with server.login(name) as pop:
        uids = dict(pop.uidl())
        return [(uids[n], data) for n, data in pop.retr_many(sorted(uids))]


def listing(server, name: str) -> list:
    """(uid, size by LIST) of every message in the mailbox of ``name``."""
    with server.login(name) as pop:
        return sorted((uid, octets) for _, octets, uid in pop.list_uidl())


def sync(server, name: str, state: pathlib.Path, maildir=None, **kw) -> SyncReport:
    with server.login(name) as pop:
        report = pop.sync(state, maildir, **kw)
        # sync() ended the session with QUIT.
        with pytest.raises(mailtls.ConnectionError):
            pop.noop()
    return report


# ---- into a Maildir ---------------------------------------------------------------


def test_first_sync_saves_every_message_byte_exact_and_the_second_nothing(server, tmp_path):
    served = server.seed(FIRST, MESSAGES)
    before = on_server(server, FIRST)
    sizes = listing(server, FIRST)
    state, maildir = tmp_path / "state", tmp_path / "Maildir"

    report = sync(server, FIRST, state, maildir)

    assert sorted(maildir_files(maildir).values()) == sorted(stored(m) for m in MESSAGES)
    assert list((maildir / "tmp").iterdir()) == []
    assert (report.downloaded, report.already_had, report.deleted) == (len(MESSAGES), 0, 0)
    assert (report.too_large, report.marked_seen, report.unavailable) == (0, 0, 0)
    assert report.bytes == sum(len(s) for s in served)
    assert sorted((m.uid, m.size) for m in report.messages) == sizes
    assert all(m.outcome is SyncOutcome.DOWNLOADED and not m.deleted for m in report.messages)
    assert on_server(server, FIRST) == before  # left on the server

    files = maildir_files(maildir)
    again = sync(server, FIRST, state, maildir)
    assert (again.downloaded, again.already_had, again.bytes, again.deleted) == (0, len(MESSAGES), 0, 0)
    assert {m.outcome for m in again.messages} == {SyncOutcome.ALREADY_HAD}
    assert maildir_files(maildir) == files

    # New mail: only it is fetched.
    new = [b"Subject: sync later\n\narrived after the first sync\n"]
    add(server, FIRST, new)
    third = sync(server, FIRST, state, maildir)
    assert (third.downloaded, third.already_had) == (1, len(MESSAGES))
    assert sorted(maildir_files(maildir).values()) == sorted(stored(m) for m in MESSAGES + new)


def test_a_maildir_gets_no_duplicate_even_with_the_state_file_lost(server, tmp_path):
    server.seed(FIRST, MESSAGES[:3])
    maildir = tmp_path / "Maildir"
    sync(server, FIRST, tmp_path / "state", maildir)
    files = maildir_files(maildir)

    # Lost and started anew where it was (the account's files are named
    # after the state file's path).
    (tmp_path / "state").unlink()
    report = sync(server, FIRST, tmp_path / "state", maildir)
    assert (report.downloaded, report.already_had) == (0, 3)
    assert maildir_files(maildir) == files


def test_delete_mode_empties_the_server_once_saved(server, tmp_path):
    server.seed(SECOND, MESSAGES)
    maildir = tmp_path / "Maildir"

    report = sync(server, SECOND, tmp_path / "state", maildir, retention="delete")

    assert (report.downloaded, report.deleted) == (len(MESSAGES), len(MESSAGES))
    assert all(m.deleted for m in report.messages)
    assert on_server(server, SECOND) == []
    assert sorted(maildir_files(maildir).values()) == sorted(stored(m) for m in MESSAGES)


def test_delete_after_a_time_counts_from_the_first_sighting(server, tmp_path):
    server.seed(SECOND, MESSAGES[:3])
    state, maildir = tmp_path / "state", tmp_path / "Maildir"

    first = sync(server, SECOND, state, maildir, retention=datetime.timedelta(days=30))
    assert (first.downloaded, first.deleted) == (3, 0)
    assert len(on_server(server, SECOND)) == 3

    # Kept "0 seconds": every message seen before is old enough now.
    second = sync(server, SECOND, state, maildir, retention=datetime.timedelta(0))
    assert (second.already_had, second.deleted) == (3, 3)
    assert on_server(server, SECOND) == []


def test_too_large_messages_are_skipped_and_never_deleted(server, tmp_path):
    served = server.seed(SECOND, MESSAGES)
    big = max(len(s) for s in served)
    maildir = tmp_path / "Maildir"

    report = sync(server, SECOND, tmp_path / "state", maildir, retention="delete", max_size=big - 1)

    assert (report.downloaded, report.too_large, report.deleted) == (len(MESSAGES) - 1, 1, len(MESSAGES) - 1)
    (skipped,) = [m for m in report.messages if m.outcome is SyncOutcome.TOO_LARGE]
    assert skipped.size == big and not skipped.deleted
    assert [data for _, data in on_server(server, SECOND)] == [served[-1]]
    assert stored(MESSAGES[-1]) not in maildir_files(maildir).values()


def test_mark_seen_downloads_nothing_and_later_syncs_only_new_mail(server, tmp_path):
    server.seed(THIRD, MESSAGES[:3])
    state, maildir = tmp_path / "state", tmp_path / "Maildir"

    report = sync(server, THIRD, state, maildir, mark_seen=True)
    assert (report.marked_seen, report.downloaded, report.bytes) == (3, 0, 0)
    assert {m.outcome for m in report.messages} == {SyncOutcome.MARKED_SEEN}
    assert maildir_files(maildir) == {}

    new = [b"Subject: after mark-seen\n\nnew\n"]
    add(server, THIRD, new)
    later = sync(server, THIRD, state, maildir)
    assert (later.downloaded, later.already_had) == (1, 3)
    assert list(maildir_files(maildir).values()) == [stored(new[0])]


# ---- into a callable ----------------------------------------------------------------


def test_deliver_gets_each_message_as_the_wire_bytes_with_its_uid(server, tmp_path):
    server.seed(THIRD, MESSAGES)
    before = on_server(server, THIRD)
    got = []

    report = sync(server, THIRD, tmp_path / "state", deliver=lambda uid, data: got.append((uid, data)))

    assert sorted(got) == sorted(before)  # CRLF, dot-unstuffed: as retr() gives them
    assert report.downloaded == len(MESSAGES)
    assert sorted(m.uid for m in report.messages) == sorted(uid for uid, _ in before)
    assert on_server(server, THIRD) == before

    got.clear()
    again = sync(server, THIRD, tmp_path / "state", deliver=lambda uid, data: got.append((uid, data)))
    assert got == [] and again.already_had == len(MESSAGES)


class CannotSave(Exception):
    pass


def test_a_deliver_that_raises_stops_the_sync_deletes_nothing_and_propagates(server, tmp_path):
    server.seed(SECOND, MESSAGES[:3])
    before = on_server(server, SECOND)
    state = tmp_path / "state"
    saved: list = []
    failure = CannotSave("disk full")

    def deliver(uid, data):
        if len(saved) == 1:
            raise failure
        saved.append((uid, data))

    with server.login(SECOND) as pop:
        with pytest.raises(CannotSave) as caught:
            pop.sync(state, deliver=deliver, retention="delete")
        assert caught.value is failure
        with pytest.raises(mailtls.ConnectionError):  # dropped without QUIT
            pop.noop()
    assert len(saved) == 1
    assert on_server(server, SECOND) == before

    # The next sync finishes the job: the saved one is not given again.
    report = sync(server, SECOND, state, deliver=lambda uid, data: saved.append((uid, data)),
                  retention="delete")
    assert (report.downloaded, report.already_had, report.deleted) == (2, 1, 3)
    assert sorted(saved) == sorted(before)
    assert on_server(server, SECOND) == []


def test_a_message_over_the_in_memory_limit_is_not_given_to_deliver(server, tmp_path):
    served = server.seed(THIRD, MESSAGES)
    big = max(len(s) for s in served)
    got = []
    with server.login(THIRD, max_message_bytes=big - 1) as pop:
        report = pop.sync(tmp_path / "state", deliver=lambda uid, data: got.append(data))
    assert report.too_large == 1 and len(got) == len(MESSAGES) - 1
    assert served[-1] not in got


def test_a_callback_must_not_use_its_own_session(server, tmp_path):
    server.seed(THIRD, MESSAGES[:1])
    with server.login(THIRD) as pop:
        with pytest.raises(mailtls.InvalidArgument, match="own session"):
            pop.sync(tmp_path / "state", deliver=lambda uid, data: pop.noop())
    assert len(on_server(server, THIRD)) == 1


# ---- progress -----------------------------------------------------------------------------


def test_progress_counts_messages_and_bytes_to_the_totals(server, tmp_path):
    server.seed(FIRST, MESSAGES)
    calls = []
    sync(server, FIRST, tmp_path / "state", tmp_path / "Maildir", progress=lambda *a: calls.append(a))

    total = sum(size for _, size in listing(server, FIRST))  # sizes by LIST
    assert calls[0] == (0, len(MESSAGES), 0, total)
    assert calls[-1] == (len(MESSAGES), len(MESSAGES), total, total)
    assert all(a <= b for a, b in zip(calls, calls[1:]))  # never backwards
    assert len(calls) >= len(MESSAGES) + 1


def test_progress_returning_false_cancels_with_the_partial_report(server, tmp_path):
    server.seed(SECOND, MESSAGES[:3])
    before = on_server(server, SECOND)
    maildir = tmp_path / "Maildir"

    def progress(done, total, done_bytes, total_bytes):
        return done < 1  # stop once one message is saved

    with server.login(SECOND) as pop:
        with pytest.raises(mailtls.Cancelled) as caught:
            pop.sync(tmp_path / "state", maildir, retention="delete", progress=progress)
    report = caught.value.report
    assert isinstance(report, SyncReport)
    assert (report.downloaded, report.deleted) == (1, 0)
    assert len(maildir_files(maildir)) == 1
    assert on_server(server, SECOND) == before


def test_progress_that_raises_cancels_and_propagates(server, tmp_path):
    server.seed(SECOND, MESSAGES[:2])
    with server.login(SECOND) as pop:
        with pytest.raises(KeyError, match="stop"):
            pop.sync(tmp_path / "state", tmp_path / "Maildir", retention="delete",
                     progress=lambda *a: {}["stop"])
    assert len(on_server(server, SECOND)) == 2


# ---- the state file ---------------------------------------------------------------


def test_a_second_sync_of_the_same_state_is_refused_at_once(server, tmp_path):
    server.seed(THIRD, MESSAGES[:2])
    state, maildir = tmp_path / "state", tmp_path / "Maildir"
    with open(f"{state}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with server.login(THIRD) as pop:
            started = time.monotonic()
            with pytest.raises(mailtls.StateLocked) as caught:
                pop.sync(state, maildir)
            assert time.monotonic() - started < 5  # no waiting for the lock
    e = caught.value
    assert e.code == mailtls.Result.STATE_LOCKED and e.filename == state
    assert not isinstance(e, mailtls.FileError)
    assert not maildir.exists() or maildir_files(maildir) == {}

    # Released: the sync goes through.
    assert sync(server, THIRD, state, maildir).downloaded == 2


def test_an_unreadable_state_file_is_its_own_error_and_nothing_is_done(server, tmp_path):
    server.seed(THIRD, MESSAGES[:2])
    before = on_server(server, THIRD)
    state, maildir = tmp_path / "state", tmp_path / "Maildir"
    garbage = b"\x00\xffthis is not a mailtls state file\n" * 10
    state.write_bytes(garbage)

    with server.login(THIRD) as pop:
        with pytest.raises(mailtls.StateError) as caught:
            pop.sync(state, maildir, retention="delete")
    e = caught.value
    assert isinstance(e, mailtls.FileError) and isinstance(e, OSError)
    assert e.code == mailtls.Result.STATE_CORRUPT and e.filename == state
    assert state.read_bytes() == garbage
    assert not maildir.exists() or maildir_files(maildir) == {}
    assert on_server(server, THIRD) == before


# ---- arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, error",
    [
        ({}, mailtls.InvalidArgument),  # neither maildir nor deliver
        ({"maildir": "M", "deliver": print}, mailtls.InvalidArgument),
        ({"maildir": "M", "retention": "keep"}, mailtls.InvalidArgument),
        ({"maildir": "M", "retention": 30}, mailtls.InvalidArgument),
        ({"maildir": "M", "retention": datetime.timedelta(seconds=-1)}, mailtls.InvalidArgument),
        ({"maildir": "M", "max_size": 0}, mailtls.InvalidArgument),
        ({"maildir": "M", "max_size": -5}, mailtls.InvalidArgument),
        ({"maildir": "M", "max_size": "big"}, TypeError),
        ({"deliver": "not callable"}, TypeError),
        ({"maildir": "M", "progress": 42}, TypeError),
        ({"maildir": "M\0x"}, mailtls.InvalidArgument),
        ({"maildir": 3.5}, TypeError),
    ],
)
def test_bad_arguments_are_refused_before_any_io(server, tmp_path, monkeypatch, kw, error):
    server.seed(THIRD, MESSAGES[:1])
    monkeypatch.chdir(tmp_path)
    with server.login(THIRD) as pop:
        with pytest.raises(error):
            pop.sync(tmp_path / "state", **kw)
        pop.noop()  # the session goes on: the sync never started
        assert pop.stat()[0] == 1
    assert list(tmp_path.iterdir()) == []  # no state, no Maildir


def test_an_empty_state_path_is_refused(server, tmp_path):
    with server.login(THIRD) as pop:
        with pytest.raises(mailtls.InvalidArgument, match="state"):
            pop.sync("", tmp_path / "Maildir")
        pop.noop()


def test_a_path_that_is_not_a_maildir_is_a_file_error(server, tmp_path):
    server.seed(THIRD, MESSAGES[:1])
    not_a_maildir = tmp_path / "file"
    not_a_maildir.write_bytes(b"")
    with server.login(THIRD) as pop:
        with pytest.raises(mailtls.FileError) as caught:
            pop.sync(tmp_path / "state", not_a_maildir, retention="delete")
    assert caught.value.report is None  # it did not start
    assert len(on_server(server, THIRD)) == 1


# ---- a server without UIDL (scripted) ------------------------------------------------


@pytest.fixture
def scripted():
    """Make scripted servers, closed when the test ends."""
    servers: list = []

    def make(**kw) -> FakePop3:
        servers.append(FakePop3(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def no_uidl_server(make, messages: list) -> FakePop3:
    listing = b"".join(b"%d %d\r\n" % (i, len(m)) for i, m in enumerate(messages, 1))

    def retr(line: bytes) -> bytes:
        return b"+OK\r\n" + messages[int(line.split()[1]) - 1] + b".\r\n"

    return make(
        replies={
            "LIST": b"+OK\r\n" + listing + b".\r\n",
            "STAT": b"+OK %d %d\r\n" % (len(messages), sum(map(len, messages))),
            "RETR": retr,
            "DELE": b"+OK\r\n",
        },
        capa=("USER", "TOP"),
    )


def test_without_uidl_leave_on_server_is_refused_and_delete_works(scripted, tmp_path):
    messages = [b"Subject: a\r\n\r\none\r\n", b"Subject: b\r\n\r\ntwo\r\n"]
    srv = no_uidl_server(scripted, messages)
    with login(srv) as pop:
        with pytest.raises(mailtls.UidlUnavailable) as caught:
            pop.sync(tmp_path / "state", tmp_path / "Maildir")
    assert isinstance(caught.value, mailtls.ServerError)
    assert not any(c.startswith((b"RETR", b"DELE")) for c in srv.commands)

    srv = no_uidl_server(scripted, messages)
    got = []
    with login(srv) as pop:
        report = pop.sync(tmp_path / "state2", deliver=lambda uid, data: got.append((uid, data)),
                          retention="delete")
    assert got == [(None, m) for m in messages]
    assert (report.downloaded, report.deleted) == (2, 2)
    assert [m.uid for m in report.messages] == [None, None]
    assert srv.commands.index(b"DELE 1") > srv.commands.index(b"RETR 2")


# ---- the types ------------------------------------------------------------------------


def test_result_codes_and_classes_of_sync():
    assert mailtls.Result.UIDL_UNAVAILABLE == 505
    assert mailtls.Result.STATE_LOCKED == 801
    assert mailtls.Result.STATE_CORRUPT == 802
    from mailtls.errors import error_class

    assert error_class(505) is mailtls.UidlUnavailable
    assert error_class(801) is mailtls.StateLocked
    assert error_class(802) is mailtls.StateError
    assert issubclass(mailtls.StateError, mailtls.FileError)
    assert issubclass(mailtls.StateLocked, mailtls.Error)
    assert mailtls.Error("x").report is None


def test_report_types_resolve_their_annotations():
    hints = typing.get_type_hints(mailtls.SyncMessage)
    assert hints["uid"] == typing.Optional[str] and hints["outcome"] is SyncOutcome
    assert typing.get_type_hints(SyncReport)["messages"] == typing.List[mailtls.SyncMessage]
    assert [o.name for o in SyncOutcome] == [
        "DOWNLOADED", "ALREADY_HAD", "TOO_LARGE", "MARKED_SEEN", "UNAVAILABLE"
    ]


# ---- the example ------------------------------------------------------------------------


def test_fetch_all_example_syncs_into_a_maildir(server, tmp_path):
    server.seed(FIRST, MESSAGES[:3])
    maildir = tmp_path / "Maildir"
    cmd = [sys.executable, str(BINDING / "examples" / "fetch_all.py"), server.host, str(server.port),
           FIRST, "--ca-file", server.ca, "--maildir", str(maildir), "--state", str(tmp_path / "state")]
    # The mailtls under test (the checkout's or the installed one).
    env = dict(os.environ, MAILTLS_PASSWORD=server.password, PYTHONPATH=str(PACKAGE_ROOT))
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "3 new" in run.stderr
    assert sorted(maildir_files(maildir).values()) == sorted(stored(m) for m in MESSAGES[:3])
    assert len(on_server(server, FIRST)) == 3

    run = subprocess.run(cmd + ["--delete"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "0 new" in run.stderr and "3 deleted" in run.stderr
    assert on_server(server, FIRST) == []
