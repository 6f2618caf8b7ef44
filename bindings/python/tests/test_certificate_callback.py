"""CertificateError's certificate and reason, and the on_untrusted_certificate
callback, against the test Dovecot and Postfix with options that trust
another CA (so their certificate comes from an unknown issuer). Users:
certcb01, certcb02 (logins only; their mailboxes are only read)."""

import datetime
import typing

import pytest

import mailtls
from mailtls import Result

UNKNOWN_ISSUER = Result.CERTIFICATE_UNKNOWN_ISSUER


class Asked:
    """A callback that records its calls and answers ``answer``."""

    def __init__(self, answer=True):
        self.answer = answer
        self.calls = []

    def __call__(self, certificate, reason):
        self.calls.append((certificate, reason))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def connect(server, transport, **kw):
    kw.setdefault("ca_file", server.other_ca)
    return server.pop3(**kw) if transport == "stls" else server.pop3s(**kw)


def recorder():
    lines = []
    return lines, lambda kind, data: lines.append((kind, data.decode("utf-8", "replace")))


def commands(lines):
    return [data for kind, data in lines if kind == "command"]


def check_facts(cert, server):
    assert isinstance(cert, mailtls.Certificate)
    assert cert.sha256 == server.sha256
    assert cert.names == ("localhost", "127.0.0.1")
    assert cert.subject == "O=mailtls tests, CN=localhost"
    assert cert.issuer == "O=mailtls tests, CN=mailtls test CA"
    assert not cert.self_signed
    now = datetime.datetime.now(datetime.timezone.utc)
    assert cert.not_before.tzinfo is not None and cert.not_before.utcoffset() == datetime.timedelta(0)
    assert cert.not_before <= now < cert.not_after
    assert cert.der[:1] == b"\x30" and len(cert.der) > 100


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_certificate_error_carries_the_certificate_and_the_reason(server, transport):
    with pytest.raises(mailtls.CertificateError) as info:
        connect(server, transport)
    assert info.value.reason is UNKNOWN_ISSUER
    check_facts(info.value.certificate, server)
    # A pin mismatch keeps the certificate the server sent instead.
    with pytest.raises(mailtls.CertificateError) as info:
        connect(server, transport, pin_sha256="5a" * 32)
    assert info.value.reason is Result.CERTIFICATE_PIN_MISMATCH
    check_facts(info.value.certificate, server)


def test_the_certificate_type_hints_resolve():
    hints = typing.get_type_hints(mailtls.Certificate)
    assert hints["not_before"] is datetime.datetime
    assert hints["names"] == typing.Tuple[str, ...]
    assert hints["self_signed"] is bool


@pytest.mark.parametrize("transport,user", [("stls", "certcb01"), ("tls", "certcb02")])
def test_accepted_once_the_session_logs_in_and_nothing_is_stored(server, transport, user):
    asked = Asked(True)
    lines, trace = recorder()
    with connect(server, transport, on_untrusted_certificate=asked, trace=trace) as pop:
        assert len(asked.calls) == 1
        cert, reason = asked.calls[0]
        check_facts(cert, server)
        assert reason is UNKNOWN_ISSUER
        assert pop.peer_cert_sha256 == server.sha256
        # Only STLS's CAPA and STLS went out before the decision.
        decided = next(i for i, (k, d) in enumerate(lines) if "accepted for this connection" in d)
        assert commands(lines[:decided]) == (["CAPA", "STLS"] if transport == "stls" else [])
        pop.login(user, server.password)
        pop.stat()
    with pytest.raises(mailtls.CertificateError) as info:
        connect(server, transport)
    assert info.value.reason is UNKNOWN_ISSUER


@pytest.mark.parametrize("answer", [False, None, 1, "yes", [True]])
def test_anything_but_true_refuses_and_no_credential_is_sent(server, answer):
    asked = Asked(answer)
    lines, trace = recorder()
    with pytest.raises(mailtls.CertificateError) as info:
        connect(server, "stls", on_untrusted_certificate=asked, trace=trace)
    assert len(asked.calls) == 1
    assert info.value.reason is UNKNOWN_ISSUER
    assert info.value.certificate == asked.calls[0][0]
    assert commands(lines) == ["CAPA", "STLS"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_an_exception_refuses_and_propagates_from_the_certificate_error(server, transport):
    lines, trace = recorder()
    with pytest.raises(Boom) as info:
        connect(server, transport, on_untrusted_certificate=Asked(Boom("no dialog")), trace=trace)
    cause = info.value.__cause__
    assert isinstance(cause, mailtls.CertificateError) and cause.reason is UNKNOWN_ISSUER
    assert not any(c.startswith(("USER", "PASS", "AUTH", "APOP")) for c in commands(lines))
    # The next connect is not haunted by the kept exception.
    with pytest.raises(mailtls.CertificateError):
        connect(server, transport, on_untrusted_certificate=Asked(False))


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_never_asked_for_a_valid_certificate_or_a_pin_mismatch(server, transport):
    asked = Asked(True)
    with connect(server, transport, ca_file=server.ca, on_untrusted_certificate=asked):
        pass
    with pytest.raises(mailtls.CertificateError) as info:
        connect(server, transport, pin_sha256="5a" * 32, on_untrusted_certificate=asked)
    assert info.value.reason is Result.CERTIFICATE_PIN_MISMATCH
    assert asked.calls == []


def test_the_callback_must_be_callable(server):
    with pytest.raises(TypeError):
        connect(server, "tls", on_untrusted_certificate="yes")


def test_smtp_asks_too(smtp_server):
    for connect_smtp in (smtp_server.smtps, smtp_server.smtp):
        asked = Asked(True)
        with connect_smtp(ca_file=smtp_server.other_ca, on_untrusted_certificate=asked) as smtp:
            assert smtp.extensions()
        assert [reason for _, reason in asked.calls] == [UNKNOWN_ISSUER]
        with pytest.raises(mailtls.CertificateError) as info:
            connect_smtp(ca_file=smtp_server.other_ca, on_untrusted_certificate=Asked(False))
        assert info.value.certificate.sha256 == smtp_server.sha256
