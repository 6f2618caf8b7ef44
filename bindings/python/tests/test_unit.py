"""Tests that need the library but not the Dovecot server: loading, errors,
argument checks, and network failures against sockets the tests open."""

from __future__ import annotations

import builtins
import errno
import os
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

import mailtls
from conftest import PACKAGE_ROOT
from mailtls import Result
from mailtls.errors import _CLASS_BY_CODE, make_error

# ---- library ------------------------------------------------------------------


def test_versions():
    assert mailtls.__version__ == "0.1.0"
    assert mailtls.library_version() == "0.1.0"
    assert mailtls.library_path() == os.environ["MAILTLS_LIBRARY"]


def _run_python(code: str, env: dict, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=60,
    )


def test_missing_library_named_by_env_is_a_clear_error(tmp_path):
    env = dict(os.environ, MAILTLS_LIBRARY=str(tmp_path / "nope.so"),
               PYTHONPATH=str(PACKAGE_ROOT))
    r = _run_python(
        "import mailtls\n"
        "try:\n"
        "    mailtls.POP3('127.0.0.1', 1)\n"
        "except mailtls.LibraryLoadError as e:\n"
        "    assert isinstance(e, ImportError)\n"
        "    print('LOADERROR', e)\n",
        env, str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "LOADERROR" in r.stdout and "nope.so" in r.stdout and "MAILTLS_LIBRARY" in r.stdout


def test_import_is_lean_and_smtp_loads_on_first_use(tmp_path):
    # A mail check started from cron pays the import on every run: importing
    # mailtls must not pull in typing, logging, threading or dataclasses
    # (about 15 ms together), nor the SMTP half before it is used.
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
    r = subprocess.run(
        [sys.executable, "-S", "-c",
         "import sys, mailtls\n"
         "heavy = {'typing', 'logging', 'threading', 'dataclasses', 'mailtls.smtp'}\n"
         "print(sorted(heavy & set(sys.modules)))\n"
         "from mailtls import SMTP, RecipientResult\n"
         "assert 'SMTP' in dir(mailtls) and mailtls.SMTP is SMTP\n"
         "assert RecipientResult('a', True, 250, None, 'Ok').code == 250\n"
         "print('mailtls.smtp' in sys.modules)\n"],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "True"]
    with pytest.raises(AttributeError):
        _ = mailtls.no_such_name


def test_library_next_to_the_package_is_found(tmp_path):
    # A copy of the package with the library inside it, and no MAILTLS_LIBRARY
    # (not a copy a wheel may have brought: the link is to the tested one).
    shutil.copytree(PACKAGE_ROOT / "mailtls", tmp_path / "mailtls",
                    ignore=shutil.ignore_patterns("__pycache__", "libmailtls.so"))
    os.symlink(os.environ["MAILTLS_LIBRARY"], tmp_path / "mailtls" / "libmailtls.so")
    env = {k: v for k, v in os.environ.items() if k != "MAILTLS_LIBRARY"}
    env["PYTHONPATH"] = str(tmp_path)
    r = _run_python("import mailtls; print(mailtls.library_path()); "
                    "print(mailtls.library_version())", env, str(tmp_path))
    assert r.returncode == 0, r.stderr
    path, version = r.stdout.split()
    assert path == str(tmp_path / "mailtls" / "libmailtls.so")
    assert version == "0.1.0"


# ---- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, cls, bases",
    [
        (Result.AUTH_FAILED, mailtls.AuthError, ()),
        (Result.ENCRYPTION_REQUIRED, mailtls.EncryptionRequired, (mailtls.AuthError,)),
        (Result.NO_COMMON_MECHANISM, mailtls.AuthError, ()),
        (Result.PLAINTEXT_AUTH_REFUSED, mailtls.AuthError, ()),
        (Result.TLS_ERROR, mailtls.TlsError, ()),
        (Result.TLS_VERSION, mailtls.TlsError, ()),
        (Result.CERTIFICATE_UNTRUSTED, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.CERTIFICATE_HOST_MISMATCH, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.CERTIFICATE_PIN_MISMATCH, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.CERTIFICATE_EXPIRED, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.CERTIFICATE_NOT_YET_VALID, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.CERTIFICATE_SELF_SIGNED, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.CERTIFICATE_UNKNOWN_ISSUER, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.CERTIFICATE_REVOKED, mailtls.CertificateError, (mailtls.TlsError,)),
        (Result.STARTTLS_UNAVAILABLE, mailtls.StartTlsUnavailable, (mailtls.TlsError,)),
        (Result.TIMEOUT, mailtls.TimeoutError, (builtins.TimeoutError, OSError)),
        (Result.RESOLVE_FAILED, mailtls.ConnectionError, (builtins.ConnectionError,)),
        (Result.CONNECT_FAILED, mailtls.ConnectionError, (builtins.ConnectionError,)),
        (Result.CONNECTION_CLOSED, mailtls.ConnectionError, (builtins.ConnectionError,)),
        (Result.IO_ERROR, mailtls.ConnectionError, (builtins.ConnectionError,)),
        (Result.NOT_CONNECTED, mailtls.ConnectionError, (builtins.ConnectionError,)),
        (Result.SERVER_ERROR, mailtls.ServerError, ()),
        (Result.MESSAGE_TOO_LARGE, mailtls.MessageTooLarge, (mailtls.ServerError,)),
        (Result.RECIPIENTS_REFUSED, mailtls.RecipientsRefused, (mailtls.ServerError,)),
        (Result.SMTPUTF8_UNAVAILABLE, mailtls.SmtpUtf8Unavailable, (mailtls.ServerError,)),
        (Result.PROTOCOL_ERROR, mailtls.ProtocolError, ()),
        (Result.REPLY_TOO_LONG, mailtls.ProtocolError, ()),
        (Result.NULL_ARGUMENT, mailtls.InvalidArgument, (ValueError,)),
        (Result.INVALID_ARGUMENT, mailtls.InvalidArgument, (ValueError,)),
        (Result.CANCELLED, mailtls.Cancelled, ()),
        (Result.FILE_ERROR, mailtls.FileError, (OSError,)),
        (Result.PANIC, mailtls.InternalError, ()),
        (Result.BUFFER_TOO_SMALL, mailtls.Error, ()),
        (4242, mailtls.Error, ()),
    ],
)
def test_result_codes_map_to_classes(code, cls, bases):
    e = make_error(code, "msg", "-ERR [SYS/TEMP] busy", "SYS/TEMP")
    assert type(e) is cls
    assert isinstance(e, mailtls.Error)
    for base in bases:
        assert isinstance(e, base)
    assert e.code == code and str(e) == e.message == "msg"
    assert e.reply == "-ERR [SYS/TEMP] busy" and e.response_code == "SYS/TEMP"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is cls and again.code == code and again.reply == e.reply


def test_every_known_result_code_but_ok_and_buffer_is_in_the_table():
    assert set(_CLASS_BY_CODE) == set(Result) - {Result.OK, Result.BUFFER_TOO_SMALL}


def test_empty_detail_becomes_none():
    e = make_error(Result.TIMEOUT, "t", "", "")
    assert e.reply is None and e.response_code is None
    assert e.smtp_code is None and not e.transient and not e.permanent


@pytest.mark.parametrize("smtp_code, transient, permanent",
                         [(None, False, False), (0, False, False), (250, False, False),
                          (421, True, False), (451, True, False), (535, False, True),
                          (554, False, True)])
def test_smtp_code_transient_permanent(smtp_code, transient, permanent):
    e = make_error(Result.SERVER_ERROR, "m", "r", "5.7.1", smtp_code)
    assert e.smtp_code == (smtp_code or None)
    assert (e.transient, e.permanent) == (transient, permanent)
    again = pickle.loads(pickle.dumps(e))
    assert again.smtp_code == e.smtp_code and again.transient == transient


def test_recipients_refused_keeps_results_through_pickle():
    r = mailtls.RecipientResult("a@x", False, 550, "5.1.1", "unknown")
    e = make_error(Result.RECIPIENTS_REFUSED, "all refused")
    assert e.results == []
    e.results = [r]
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is mailtls.RecipientsRefused and again.results == [r]
    assert mailtls.RecipientsRefused("m", Result.RECIPIENTS_REFUSED, results=(r,)).results == [r]


def test_file_error_keeps_filename_through_pickle():
    e = make_error(Result.FILE_ERROR, "cannot read")
    e.filename = "/x/y"
    again = pickle.loads(pickle.dumps(e))
    assert again.filename == "/x/y" and str(again) == "cannot read"


def test_recipient_result_is_frozen_and_comparable():
    import dataclasses

    r = mailtls.RecipientResult("a@x", True, 250, None, "Ok")
    assert r == mailtls.RecipientResult(address="a@x", accepted=True, code=250,
                                        enhanced=None, text="Ok")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.code = 550
    assert dataclasses.astuple(r) == ("a@x", True, 250, None, "Ok")
    assert hash(r) == hash(mailtls.RecipientResult("a@x", True, 250, None, "Ok"))


# ---- arguments (rejected before any connection) -----------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"security": "bogus"},
        {"min_tls": "1.1"},
        {"port": 0},
        {"port": 70000},
        {"port": -1},
        {"timeout": 0},
        {"timeout": -1.0},
        {"timeout": float("nan")},
        {"pin_sha256": "abcd"},
        {"pin_sha256": "zz" * 32},
        {"ca_file": "/nonexistent/ca.pem"},
        {"ca_pem": "not a certificate"},
        {"host": "127.0.0.1\0evil"},
        {"host": "local\udc80host"},
        {"max_message_bytes": 0},
        {"max_message_bytes": 2**64},
    ],
)
def test_invalid_constructor_arguments(kw):
    host = kw.pop("host", "127.0.0.1")
    kw.setdefault("port", 1)
    with pytest.raises(mailtls.InvalidArgument) as info:
        mailtls.POP3(host, **kw)
    assert isinstance(info.value, ValueError)
    assert info.value.code == Result.INVALID_ARGUMENT
    assert info.value.message


@pytest.mark.parametrize("kw", [{"timeout": "10"}, {"port": "110"}, {"trace": 42},
                                {"ca_pem": 42}, {"ca_file": 42},
                                {"max_message_bytes": "1000"}, {"max_message_bytes": True}])
def test_wrongly_typed_constructor_arguments(kw):
    kw.setdefault("port", 1)
    with pytest.raises((TypeError, mailtls.InvalidArgument)):
        mailtls.POP3("127.0.0.1", **kw)


# ---- network failures against local sockets ------------------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connection_refused():
    port = _closed_port()
    with pytest.raises(mailtls.ConnectionError) as info:
        mailtls.POP3("127.0.0.1", port, timeout=5)
    assert info.value.code == Result.CONNECT_FAILED
    assert isinstance(info.value, builtins.ConnectionError)
    # Said once, in the library's words, with the OS's number once.
    assert str(info.value) == (
        f"nothing accepts connections on 127.0.0.1 port {port} "
        f"(connection refused, os error {errno.ECONNREFUSED}): "
        "check the port number, or whether the server is running"
    )


def test_an_unknown_name_is_said_once():
    with pytest.raises(mailtls.ConnectionError) as info:
        mailtls.POP3("no-such-host.invalid", 110, timeout=5)
    assert info.value.code == Result.RESOLVE_FAILED
    assert str(info.value).startswith('could not find the server name "no-such-host.invalid": ')
    assert "lookup" not in str(info.value), str(info.value)


def test_timeout_when_the_server_never_speaks():
    # Listening is enough: the kernel completes the TCP handshake, nobody
    # ever sends a greeting.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(mailtls.TimeoutError) as info:
            mailtls.POP3("127.0.0.1", port, timeout=0.3)
        elapsed = time.monotonic() - start
    assert elapsed < 5, elapsed
    assert info.value.code == Result.TIMEOUT
    assert isinstance(info.value, builtins.TimeoutError)
    assert "greeting" in info.value.message


def _serve_once(handler):
    """A one-connection TCP server on 127.0.0.1 running handler(conn)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run():
        conn, _ = srv.accept()
        with conn:
            handler(conn)
        srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv.getsockname()[1], t


def test_server_closing_at_once_is_a_connection_error():
    port, t = _serve_once(lambda conn: None)
    with pytest.raises(mailtls.ConnectionError) as info:
        mailtls.POP3("127.0.0.1", port, timeout=5)
    t.join(5)
    assert info.value.code == Result.CONNECTION_CLOSED


def test_negative_greeting_is_a_server_error_with_reply():
    def handler(conn):
        conn.sendall(b"-ERR [SYS/TEMP] go away\r\n")
        conn.recv(100)

    port, t = _serve_once(handler)
    with pytest.raises(mailtls.ServerError) as info:
        mailtls.POP3("127.0.0.1", port, timeout=5)
    t.join(5)
    assert info.value.reply == "-ERR [SYS/TEMP] go away"
    assert info.value.response_code == "SYS/TEMP"


def test_starttls_not_offered():
    def handler(conn):
        conn.sendall(b"+OK hello\r\n")
        conn.recv(100)  # CAPA
        conn.sendall(b"+OK\r\nUSER\r\n.\r\n")
        conn.recv(100)

    port, t = _serve_once(handler)
    trace = []
    with pytest.raises(mailtls.StartTlsUnavailable) as info:
        mailtls.POP3("127.0.0.1", port, timeout=5, trace=lambda k, d: trace.append((k, d)))
    t.join(5)
    assert isinstance(info.value, mailtls.TlsError)
    assert ("command", b"CAPA") in trace
    assert all(d != b"STLS" for _, d in trace)


def test_plaintext_session_and_trace_against_a_fake_server():
    """A scripted server: checks the exact commands of a USER login over a
    connection without TLS, and the trace kinds."""
    seen = []

    def handler(conn):
        f = conn.makefile("rwb", buffering=0)
        f.write(b"+OK fake\r\n")
        for line in f:
            seen.append(line)
            cmd = line.split()[0].upper()
            if cmd == b"CAPA":
                f.write(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n")
            elif cmd == b"QUIT":
                f.write(b"+OK bye\r\n")
                return
            elif cmd == b"STAT":
                f.write(b"+OK 2 320\r\n")
            else:
                f.write(b"+OK\r\n")

    port, t = _serve_once(handler)
    trace = []
    with mailtls.POP3("127.0.0.1", port, security="none", allow_plaintext_auth=True,
                      timeout=5, trace=lambda k, d: trace.append((k, d))) as pop:
        assert pop.peer_cert_sha256 is None
        assert pop.capabilities() == {"USER": [], "UIDL": []}
        pop.login("bob", "s3cret")
        assert pop.stat() == (2, 320)
    t.join(5)
    assert seen == [b"CAPA\r\n", b"USER bob\r\n", b"PASS s3cret\r\n", b"STAT\r\n", b"QUIT\r\n"]
    kinds = {k for k, _ in trace}
    assert kinds == {"info", "command", "reply"}
    assert ("command", b"PASS <redacted>") in trace
    assert not any(b"s3cret" in d for _, d in trace)
    assert pop.closed


def test_closed_session_raises_connection_error():
    def handler(conn):
        conn.sendall(b"+OK fake\r\n")
        conn.recv(100)
        conn.sendall(b"+OK\r\n.\r\n")
        conn.recv(100)

    port, t = _serve_once(handler)
    pop = mailtls.POP3("127.0.0.1", port, security="none", timeout=5)
    pop.close()
    pop.close()  # idempotent
    assert pop.closed and "closed" in repr(pop)
    with pytest.raises(mailtls.ConnectionError) as info:
        pop.noop()
    assert info.value.code == Result.NOT_CONNECTED
    t.join(5)
