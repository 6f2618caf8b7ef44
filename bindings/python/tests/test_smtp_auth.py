"""SMTP connections, TLS and authentication against Postfix (SASL through
Dovecot). Log-ins only: nothing in this module changes a mailbox."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

import mailtls
from conftest import smtp_user
from mailtls import Result

U = smtp_user(66)  # logs in; never a recipient
SENDER = "pytest@example.org"

MECHANISMS = [None, "PLAIN", "LOGIN", "CRAM-MD5"]


class Trace(list):
    """A trace callback keeping (kind, data) pairs."""

    def __call__(self, kind, data):
        self.append((kind, data))

    def commands(self) -> list:
        return [d for k, d in self if k == "command"]

    def replies(self) -> list:
        return [d for k, d in self if k == "reply"]

    def auth_commands(self) -> list:
        return [c for c in self.commands() if c.upper().startswith(b"AUTH")]


def _connect(smtp_server, transport, **kw):
    return {
        "submission": smtp_server.smtp,
        "smtps": smtp_server.smtps,
        "plain-starttls": smtp_server.smtp_plain,
    }[transport](**kw)


TRANSPORTS = ["submission", "smtps", "plain-starttls"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_every_mechanism_on_every_transport(smtp_server, transport, mechanism):
    trace = Trace()
    with _connect(smtp_server, transport, trace=trace) as smtp:
        assert smtp.peer_cert_sha256 == smtp_server.sha256
        smtp.login(U, smtp_server.password, mechanism)
        smtp.noop()
    expected = mechanism or "PLAIN"  # the automatic choice over verified TLS
    auths = trace.auth_commands()
    assert len(auths) == 1, auths
    assert auths[0].split()[1] == expected.encode()
    assert b"235 2.7.0 Authentication successful" in trace.replies()
    if transport == "smtps":
        assert b"STARTTLS" not in trace.commands()
    else:
        assert trace.commands()[:3] == [trace.commands()[0], b"STARTTLS", trace.commands()[0]]
        assert trace.commands()[0].startswith(b"EHLO ")
    assert trace.commands()[-1] == b"QUIT"


@pytest.mark.parametrize("transport", ["smtps", "plain-starttls"])
def test_authenticated_send_is_accepted(smtp_server, transport):
    # Every recipient refused (an unknown local user): nothing is delivered,
    # but the RCPT reply shows the session is authorised to send (on smtps
    # without AUTH it would be "554 5.7.1 ... Access denied").
    with _connect(smtp_server, transport) as smtp:
        smtp.login(U, smtp_server.password)
        with pytest.raises(mailtls.RecipientsRefused) as info:
            smtp.send(SENDER, "nobody-here@localhost", b"Subject: x\n\nx\n")
        (result,) = info.value.results
        assert (result.code, result.enhanced) == (550, "5.1.1")


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_wrong_password_is_auth_error_and_not_retried(smtp_server, mechanism):
    trace = Trace()
    with smtp_server.smtp(trace=trace) as smtp:
        with pytest.raises(mailtls.AuthError) as info:
            smtp.login(U, "wrong password", mechanism)
        e = info.value
        assert e.code == Result.AUTH_FAILED
        assert e.smtp_code == 535
        assert e.permanent and not e.transient
        assert e.response_code == "5.7.8"
        assert e.reply.startswith("535 5.7.8")
        assert len(trace.auth_commands()) == 1, trace.auth_commands()
        # The session goes on: the right password works afterwards.
        smtp.login(U, smtp_server.password, mechanism)
        smtp.noop()


def test_login_twice_is_invalid(smtp_server):
    with smtp_server.smtp_login(U) as smtp:
        with pytest.raises(mailtls.InvalidArgument):
            smtp.login(U, smtp_server.password)
        smtp.noop()


@pytest.mark.parametrize("mechanism", ["USER", "APOP", "XOAUTH2", "BOGUS", "PLAIN\0X"])
def test_mechanisms_that_do_not_fit_smtp_login(smtp_server, mechanism):
    trace = Trace()
    with smtp_server.smtp(trace=trace) as smtp:
        with pytest.raises(mailtls.InvalidArgument):
            smtp.login(U, smtp_server.password, mechanism)
        assert trace.auth_commands() == []
        smtp.login(U, smtp_server.password)


def test_oauth2_not_offered_is_auth_error(smtp_server):
    trace = Trace()
    with smtp_server.smtp(trace=trace) as smtp:
        with pytest.raises(mailtls.AuthError) as info:
            smtp.login_oauth2(U, "token")
        assert info.value.code == Result.NO_COMMON_MECHANISM
        assert trace.auth_commands() == []


def _secret_forms(user: str, password: str) -> list:
    pw = password.encode()
    forms = [
        pw,
        base64.b64encode(pw),
        base64.b64encode(b"\0" + user.encode() + b"\0" + pw),  # PLAIN
        base64.b64encode(user.encode() + b"\0" + user.encode() + b"\0" + pw),
    ]
    # Base64 of the password at every alignment inside a longer payload.
    for pad in (b"\0", b"\0\0"):
        forms.append(base64.b64encode(pad + pw)[4:-4])
    return forms


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_trace_never_shows_the_password(smtp_server, mechanism):
    trace = Trace()
    with smtp_server.smtp(trace=trace) as smtp:
        with pytest.raises(mailtls.AuthError):
            smtp.login(U, smtp_server.password + "x", mechanism)
        smtp.login(U, smtp_server.password, mechanism)
    forms = _secret_forms(U, smtp_server.password) + _secret_forms(U, smtp_server.password + "x")
    # CRAM-MD5: the responses to the challenges seen in the trace.
    for reply in trace.replies():
        if reply.startswith(b"334 ") and len(reply) > 20:
            challenge = base64.b64decode(reply[4:])
            for pw in (smtp_server.password, smtp_server.password + "x"):
                digest = hmac.new(pw.encode(), challenge, hashlib.md5).hexdigest()
                forms.append(base64.b64encode(f"{U} {digest}".encode()))
                forms.append(digest.encode())
    everything = b"\n".join(d for _, d in trace)
    for form in forms:
        assert form not in everything, form
    assert b"<redacted>" in everything


def test_extensions(smtp_server):
    with smtp_server.smtp() as smtp:
        ext = smtp.extensions()
    assert ext["SIZE"] == [str(smtp_server.size_limit)]
    for name in ("PIPELINING", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES"):
        assert ext[name] == [], name
    assert set(ext["AUTH"]) == {"PLAIN", "LOGIN", "CRAM-MD5"}
    # The ones announced over TLS: STARTTLS is no longer offered.
    assert "STARTTLS" not in ext
    assert all(name == name.upper() for name in ext)


def test_extensions_before_tls_with_security_none(smtp_server):
    with smtp_server.smtp(security="none") as smtp:
        ext = smtp.extensions()
        assert smtp.peer_cert_sha256 is None
    assert "STARTTLS" in ext
    assert "AUTH" not in ext  # Postfix offers AUTH only over TLS


def test_plaintext_login_refused_without_allow_plaintext_auth(smtp_server):
    trace = Trace()
    with smtp_server.smtp_plain(security="none", trace=trace) as smtp:
        with pytest.raises(mailtls.AuthError) as info:
            smtp.login(U, smtp_server.password)
        assert info.value.code == Result.PLAINTEXT_AUTH_REFUSED
        assert info.value.smtp_code is None
        assert trace.auth_commands() == []
        smtp.noop()
    assert not any(smtp_server.password.encode() in d for _, d in trace)


def test_no_login_before_starttls_by_construction(smtp_server):
    """Without TLS the submission port offers no AUTH, so logging in is
    impossible, and sending is refused with 530."""
    trace = Trace()
    with smtp_server.smtp(security="none", allow_plaintext_auth=True, trace=trace) as smtp:
        with pytest.raises(mailtls.AuthError) as info:
            smtp.login(U, smtp_server.password)
        assert info.value.code == Result.NO_COMMON_MECHANISM
        with pytest.raises(mailtls.ServerError) as info:
            smtp.send(SENDER, "user66@localhost", b"Subject: x\n\nx\n")
        e = info.value
        assert type(e) is mailtls.ServerError
        assert e.code == Result.SERVER_ERROR
        assert e.smtp_code == 530
        assert e.response_code == "5.7.0"
        assert e.permanent and not e.transient
        assert "STARTTLS" in e.reply
        assert "choose STARTTLS or SSL/TLS and log in" in e.message
        smtp.noop()  # the session goes on
    assert trace.auth_commands() == []


@pytest.mark.parametrize("transport", ["submission", "smtps"])
def test_untrusted_ca_is_certificate_error(smtp_server, transport):
    with pytest.raises(mailtls.CertificateError) as info:
        _connect(smtp_server, transport, ca_file=smtp_server.other_ca)
    assert info.value.code == Result.CERTIFICATE_UNKNOWN_ISSUER
    assert info.value.smtp_code is None


def test_wrong_pin_is_certificate_error(smtp_server):
    with pytest.raises(mailtls.CertificateError) as info:
        smtp_server.smtps(pin_sha256="00" * 32)
    assert info.value.code == Result.CERTIFICATE_PIN_MISMATCH


def test_pin_alone_connects(smtp_server):
    with mailtls.SMTP(smtp_server.host, smtp_server.smtps_port, security="tls",
                      pin_sha256=smtp_server.sha256.upper(), timeout=10) as smtp:
        smtp.login(U, smtp_server.password)


def test_implicit_tls_port_with_starttls_fails_cleanly(smtp_server):
    # Found by a TLS probe on a second connection: named, not a timeout.
    with pytest.raises(mailtls.StartTlsUnavailable) as info:
        mailtls.SMTP(smtp_server.host, smtp_server.smtps_port, security="starttls",
                     ca_file=smtp_server.ca, timeout=10)
    assert "expects TLS from the first byte" in info.value.message


def test_context_manager_quits(smtp_server):
    trace = Trace()
    with smtp_server.smtp(trace=trace) as smtp:
        smtp.noop()
    assert trace.commands()[-1] == b"QUIT"
    assert trace.replies()[-1].startswith(b"221")
    assert smtp.closed
    with pytest.raises(mailtls.ConnectionError):
        smtp.noop()


def test_context_manager_with_exception_does_not_quit(smtp_server):
    trace = Trace()
    with pytest.raises(KeyError):
        with smtp_server.smtp(trace=trace) as smtp:
            smtp.noop()
            raise KeyError("boom")
    assert b"QUIT" not in trace.commands()
    assert smtp.closed


def test_quit_then_calls_are_not_connected(smtp_server):
    smtp = smtp_server.smtp()
    try:
        smtp.quit()
        with pytest.raises(mailtls.ConnectionError) as info:
            smtp.noop()
        assert info.value.code == Result.NOT_CONNECTED
        assert not smtp.closed
    finally:
        smtp.close()
    with smtp:  # QUIT again on exit is skipped
        pass


def test_client_name_in_ehlo(smtp_server):
    trace = Trace()
    with smtp_server.smtp(client_name="client.example.org", trace=trace):
        pass
    assert trace.commands()[0] == b"EHLO client.example.org"


@pytest.mark.parametrize("name", ["bad name", "", "a\r\nMAIL", "x" * 300])
def test_bad_client_name_is_invalid(smtp_server, name):
    with pytest.raises(mailtls.InvalidArgument):
        smtp_server.smtp(client_name=name)


def test_noop_and_rset(smtp_server):
    trace = Trace()
    with smtp_server.smtp_login(U, trace=trace) as smtp:
        smtp.noop()
        smtp.rset()
    assert b"NOOP" in trace.commands() and b"RSET" in trace.commands()
