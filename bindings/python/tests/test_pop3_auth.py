"""Logging in against Dovecot: every mechanism over STLS and over implicit
TLS, refusals, plaintext rules, trace redaction, argument checks."""

from __future__ import annotations

import base64
import hmac

import pytest

import mailtls
from conftest import READONLY_USER, user
from mailtls import Result

MECHANISMS = [None, "USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"]
# What the automatic choice picks against Dovecot over verified TLS.
AUTO_PICK = "PLAIN"


def secrets_of(name: str, password: str) -> list:
    """Byte strings that would reveal the password in a trace."""
    pw = password.encode()
    return [
        pw,
        base64.b64encode(pw),                             # LOGIN's password step
        base64.b64encode(b"\0" + name.encode() + b"\0" + pw),  # PLAIN
        base64.b64encode(name.encode() + b"\0" + name.encode() + b"\0" + pw),
        base64.b64encode(b"\0" + name.encode() + b"\0" + pw)[:-4],  # a prefix of it
    ]


@pytest.mark.parametrize("transport", ["stls", "tls"])
@pytest.mark.parametrize("mechanism", MECHANISMS, ids=lambda m: m or "auto")
def test_login_with_each_mechanism(server, readonly, transport, mechanism):
    trace = []
    connect = server.pop3 if transport == "stls" else server.pop3s
    with connect(trace=lambda kind, data: trace.append((kind, data))) as pop:
        pop.login(READONLY_USER, server.password, mechanism)
        assert pop.stat()[0] == len(readonly)
    used = mechanism or AUTO_PICK
    assert ("info", f"authenticating with {used}".encode()) in trace
    commands = [d for k, d in trace if k == "command"]
    assert commands[0] == b"CAPA"
    assert (b"STLS" in commands) == (transport == "stls")
    assert commands[-1] == b"QUIT"
    assert any(b"<redacted>" in c for c in commands)
    everything = b"\n".join(d for _, d in trace)
    for secret in secrets_of(READONLY_USER, server.password):
        assert secret not in everything
    assert {k for k, _ in trace} <= {"info", "command", "reply"}


def test_mechanism_names_are_case_insensitive(server, readonly):
    with server.pop3() as pop:
        pop.login(READONLY_USER, server.password, "cram-md5")
        pop.noop()


def test_wrong_password_is_auth_error_with_server_reply(server):
    with server.pop3() as pop:
        with pytest.raises(mailtls.AuthError) as info:
            pop.login(user(41), "wrong password")
        e = info.value
        assert e.code == Result.AUTH_FAILED
        assert e.reply and e.reply.startswith("-ERR") and "Authentication failed" in e.reply
        assert e.response_code == "AUTH"
        assert e.reply in e.message
        assert "wrong password" not in e.message
        # The session goes on after a refusal.
        pop.login(user(41), server.password)
        pop.stat()


@pytest.mark.parametrize("mechanism", ["USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"])
def test_wrong_password_with_each_mechanism(server, mechanism):
    with server.pop3s() as pop:
        with pytest.raises(mailtls.AuthError) as info:
            pop.login(user(41), "nope", mechanism)
        assert info.value.code == Result.AUTH_FAILED and info.value.reply


def test_plaintext_auth_refused_without_tls(server):
    trace = []
    with mailtls.POP3(server.host, server.port, security="none", timeout=10,
                      trace=lambda k, d: trace.append((k, d))) as pop:
        assert pop.peer_cert_sha256 is None
        assert "STLS" in pop.capabilities()
        with pytest.raises(mailtls.AuthError) as info:
            pop.login(user(41), server.password)
        assert info.value.code == Result.PLAINTEXT_AUTH_REFUSED
        assert info.value.reply is None
    # Nothing about the login was sent.
    assert not any(k == "command" and (d.startswith(b"AUTH") or d.startswith(b"USER"))
                   for k, d in trace)


def test_plaintext_auth_allowed(server, readonly):
    with mailtls.POP3(server.host, server.port, security="none", timeout=10,
                      allow_plaintext_auth=True) as pop:
        pop.login(READONLY_USER, server.password, "PLAIN")
        assert pop.stat()[0] == len(readonly)


def test_login_oauth2_without_server_support(server):
    with server.pop3() as pop:
        with pytest.raises(mailtls.AuthError) as info:
            pop.login_oauth2(user(41), "token")
        assert info.value.code == Result.NO_COMMON_MECHANISM


def test_forcing_a_token_mechanism_in_login_is_invalid(server):
    with server.pop3() as pop:
        with pytest.raises(mailtls.InvalidArgument):
            pop.login(user(41), server.password, "XOAUTH2")
        with pytest.raises(mailtls.InvalidArgument):
            pop.login(user(41), server.password, "BOGUS")


@pytest.mark.parametrize(
    "name, password",
    [
        ("user41\r\nDELE 1", "x"),        # refused by the library
        ("user41", "pw\nQUIT"),           # refused by the library
        ("user\x0041", "x"),              # NUL: refused in Python
        ("user41", "pw\x00"),
        ("", "x"),                        # empty user name
    ],
)
def test_invalid_login_arguments(server, name, password):
    trace = []
    with server.pop3(trace=lambda k, d: trace.append((k, d))) as pop:
        with pytest.raises(mailtls.InvalidArgument) as info:
            pop.login(name, password)
        assert isinstance(info.value, ValueError)
        assert info.value.code == Result.INVALID_ARGUMENT
        # Nothing was sent, and the session is still usable.
        assert not any(k == "command" and b"AUTH" in d for k, d in trace)
        pop.login(user(41), server.password)
        pop.noop()


def test_mailbox_command_before_login_is_invalid(server):
    with server.pop3() as pop:
        with pytest.raises(mailtls.InvalidArgument):
            pop.stat()


def test_login_twice_is_invalid(server):
    with server.login(user(41)) as pop:
        with pytest.raises(mailtls.InvalidArgument):
            pop.login(user(41), server.password)


def test_trace_callback_exceptions_are_swallowed(server, caplog):
    calls = []

    def bad_trace(kind, data):
        calls.append(kind)
        raise RuntimeError("trace failure")

    with server.pop3(trace=bad_trace) as pop:
        pop.login(user(41), server.password)
        pop.stat()
    assert len(calls) > 5
    # Logged once, not per call.
    assert sum("trace callback" in r.getMessage() for r in caplog.records) == 1


def test_apop_digest_is_not_traced(server):
    # APOP sends "APOP user <md5 hex>": the digest is redacted too.
    trace = []
    with server.pop3(trace=lambda k, d: trace.append((k, d))) as pop:
        pop.login(user(41), server.password, "APOP")
    assert ("command", b"APOP user41 <redacted>") in trace
    commands = [d for k, d in trace if k == "command"]
    assert not any(_looks_like_md5_hex(word) for c in commands for word in c.split())


def _looks_like_md5_hex(word: bytes) -> bool:
    return len(word) == 32 and all(c in b"0123456789abcdef" for c in word)


def test_cram_md5_response_is_not_traced(server):
    trace = []
    with server.pop3(trace=lambda k, d: trace.append((k, d))) as pop:
        pop.login(user(41), server.password, "CRAM-MD5")
    challenges = [d[2:] for k, d in trace if k == "reply" and d.startswith(b"+ ")]
    assert challenges
    challenge = base64.b64decode(challenges[0])
    digest = hmac.new(server.password.encode(), challenge, "md5").hexdigest().encode()
    response = base64.b64encode(b"user41 " + digest)
    everything = b"\n".join(d for _, d in trace)
    assert digest not in everything and response not in everything
