"""mailtls.probe() against the test Dovecot and Postfix (their ports given
as ``ports``) and a closed port: what works, the TLS version, certificate
and login methods, the login, the recommendation (implicit TLS first), the
refused certificate without the test CA, and bad arguments. User:
pyprobe01 (logins only)."""

import socket
import typing

import pytest

import mailtls
from mailtls import Result


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_ports(smtp_server, closed):
    return [
        ("pop3", smtp_server.tls_port, "tls"),
        ("pop3", smtp_server.port, "starttls"),
        ("smtp", smtp_server.smtps_port, "tls"),
        ("smtp", smtp_server.submission_port, "starttls"),
        ("smtp", closed, "starttls"),
    ]


def test_every_real_combination_works_and_implicit_tls_is_recommended(smtp_server):
    closed = closed_port()
    report = mailtls.probe(
        smtp_server.host,
        "pyprobe01",
        smtp_server.password,
        ports=real_ports(smtp_server, closed),
        ca_file=smtp_server.ca,
        timeout=10.0,
    )
    assert [(a.protocol, a.port) for a in report.attempts][:2] == [
        ("pop3", smtp_server.tls_port),
        ("pop3", smtp_server.port),
    ]
    for attempt in report.attempts[:4]:
        assert attempt.works, attempt.error
        assert attempt.tls_version and attempt.tls_version.startswith("TLSv1.")
        assert "PLAIN" in attempt.mechanisms
        assert attempt.login == "succeeded" and attempt.login_error is None
        assert attempt.certificate.sha256 == smtp_server.sha256.lower()
        assert attempt.certificate.not_after.tzinfo is not None
    failed = report.attempts[4]
    assert not failed.works
    assert isinstance(failed.error, mailtls.ConnectionError)
    assert failed.error.code == Result.CONNECT_FAILED
    assert str(closed) in str(failed.error)
    assert failed.login == "not tried"
    assert report.recommended["pop3"] is report.attempts[0]
    assert report.recommended["smtp"] is report.attempts[2]


def test_a_wrong_password_fails_the_login_not_the_setting(smtp_server):
    report = mailtls.probe(
        smtp_server.host,
        "pyprobe01",
        "not-the-password-42",
        ports=real_ports(smtp_server, closed_port())[:2],
        ca_file=smtp_server.ca,
        timeout=10.0,
    )
    for attempt in report.attempts:
        assert attempt.login == "failed"
        assert isinstance(attempt.login_error, mailtls.AuthError)
        assert "not-the-password-42" not in str(attempt.login_error)
    assert report.recommended == {"pop3": report.attempts[0]}


def test_without_the_ca_the_refused_certificate_is_in_the_error(smtp_server):
    report = mailtls.probe(smtp_server.host, ports=real_ports(smtp_server, closed_port())[:4])
    for attempt in report.attempts:
        assert isinstance(attempt.error, mailtls.CertificateError)
        assert attempt.error.reason == Result.CERTIFICATE_UNKNOWN_ISSUER
        assert attempt.error.certificate == attempt.certificate
        assert attempt.certificate.sha256 in str(attempt.error)
        assert attempt.login == "not asked"
    assert report.recommended == {"pop3": None, "smtp": None}


def test_bad_arguments_are_refused_before_anything_is_tried():
    with pytest.raises(mailtls.InvalidArgument, match="both user and password"):
        mailtls.probe("127.0.0.1", "user")
    with pytest.raises(mailtls.InvalidArgument, match="protocol"):
        mailtls.probe("127.0.0.1", protocols=("imap",))
    with pytest.raises(mailtls.InvalidArgument, match="empty"):
        mailtls.probe("127.0.0.1", protocols=())
    with pytest.raises(mailtls.InvalidArgument, match="only 'tls' and 'starttls'"):
        mailtls.probe("127.0.0.1", ports=[("pop3", 110, "none")])
    with pytest.raises(mailtls.InvalidArgument, match="port must be"):
        mailtls.probe("127.0.0.1", ports=[("pop3", 0, "tls")])
    with pytest.raises(mailtls.InvalidArgument, match="tuple"):
        mailtls.probe("127.0.0.1", ports=[995])
    with pytest.raises(mailtls.InvalidArgument, match="listed twice"):
        mailtls.probe("127.0.0.1", ports=[("pop3", 995, "tls"), ("pop3", 995, "tls")])
    with pytest.raises(mailtls.InvalidArgument):
        mailtls.probe("mail.example\r\nQUIT")
    with pytest.raises(mailtls.InvalidArgument, match="timeout"):
        mailtls.probe("127.0.0.1", timeout=0)


def test_the_report_types_resolve_at_run_time():
    hints = typing.get_type_hints(mailtls.ProbeAttempt)
    assert hints["port"] is int
    assert "recommended" in typing.get_type_hints(mailtls.ProbeReport)
    assert callable(mailtls.probe)
