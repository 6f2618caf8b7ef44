"""TLS and certificate checks against Dovecot."""

from __future__ import annotations

import pathlib
import socket
import time

import pytest

import mailtls
from conftest import user
from mailtls import Result

U = user(42)  # log-ins only; nothing in this module changes a mailbox


def colon_upper(hex_digest: str) -> str:
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2)).upper()


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_untrusted_ca_is_certificate_error(server, transport):
    connect = server.pop3 if transport == "stls" else server.pop3s
    with pytest.raises(mailtls.CertificateError) as info:
        connect(ca_file=server.other_ca)
    # Issued by the test CA, which the other CA does not vouch for.
    assert info.value.code == Result.CERTIFICATE_UNKNOWN_ISSUER
    assert isinstance(info.value, mailtls.TlsError)


def test_system_store_alone_does_not_trust_the_test_ca(server):
    with pytest.raises(mailtls.CertificateError):
        mailtls.POP3(server.host, server.tls_port, security="tls", timeout=10)


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_wrong_pin_is_certificate_error(server, transport):
    connect = server.pop3 if transport == "stls" else server.pop3s
    with pytest.raises(mailtls.CertificateError) as info:
        connect(pin_sha256="00" * 32)
    assert info.value.code == Result.CERTIFICATE_PIN_MISMATCH
    assert server.sha256 in info.value.message


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_pin_alone_connects(server, transport):
    connect = mailtls.POP3
    port = server.port if transport == "stls" else server.tls_port
    security = "starttls" if transport == "stls" else "tls"
    with connect(server.host, port, security=security, timeout=10,
                 pin_sha256=colon_upper(server.sha256)) as pop:
        assert pop.peer_cert_sha256 == server.sha256
        pop.login(U, server.password)
        pop.noop()


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_peer_cert_sha256(server, transport):
    connect = server.pop3 if transport == "stls" else server.pop3s
    with connect() as pop:
        assert pop.peer_cert_sha256 == server.sha256.lower()


def _other_name_for(address: str) -> str | None:
    """A host name that resolves only to `address` but is neither
    "localhost" nor the address itself (the names the certificate covers):
    the machine's host name or another alias from /etc/hosts."""
    names = {socket.gethostname()}
    try:
        for line in pathlib.Path("/etc/hosts").read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if fields and fields[0] == address:
                names.update(fields[1:])
    except OSError:
        pass
    names -= {"localhost", "localhost.localdomain", address}
    for name in sorted(names):
        try:
            addrs = {ai[4][0] for ai in socket.getaddrinfo(name, None)}
        except OSError:
            continue
        if addrs == {address}:
            return name
    return None


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_host_name_mismatch_is_certificate_error(server, transport):
    name = _other_name_for(server.host)
    if name is None:
        pytest.skip("no host name other than localhost resolves to the server's "
                    "address only (the Rust tests cover host mismatch)")
    port = server.port if transport == "stls" else server.tls_port
    with pytest.raises(mailtls.CertificateError) as info:
        mailtls.POP3(name, port, security="starttls" if transport == "stls" else "tls",
                     ca_file=server.ca, timeout=10)
    assert info.value.code == Result.CERTIFICATE_HOST_MISMATCH
    assert name in info.value.message


def test_localhost_is_in_the_certificate(server):
    with mailtls.POP3("localhost", server.tls_port, security="tls", ca_file=server.ca,
                      timeout=10) as pop:
        pop.login(U, server.password)


def test_danger_accept_invalid_certs(server):
    with mailtls.POP3(server.host, server.tls_port, security="tls", timeout=10,
                      danger_accept_invalid_certs=True) as pop:
        pop.login(U, server.password)
        assert pop.peer_cert_sha256 == server.sha256


@pytest.mark.parametrize("as_bytes", [False, True])
def test_ca_pem(server, as_bytes):
    pem = pathlib.Path(server.ca).read_text()
    with server.pop3s(ca_file=None, ca_pem=pem.encode() if as_bytes else pem) as pop:
        pop.login(U, server.password)


def test_ca_file_as_path_and_list(server):
    with server.pop3s(ca_file=[pathlib.Path(server.other_ca), pathlib.Path(server.ca)]) as pop:
        pop.login(U, server.password)


def test_security_starttls_on_the_plain_port(server):
    trace = []
    with server.pop3(security="starttls", trace=lambda k, d: trace.append((k, d))) as pop:
        assert pop.peer_cert_sha256 == server.sha256
        pop.login(U, server.password)
    assert ("command", b"STLS") in trace


def test_security_tls_on_the_pop3s_port(server):
    with server.pop3s(security="tls") as pop:
        pop.login(U, server.password)


def test_security_auto_on_a_plain_port_uses_stls(server):
    trace = []
    with server.pop3(security="auto", trace=lambda k, d: trace.append((k, d))) as pop:
        pop.login(U, server.password)
    assert ("command", b"STLS") in trace


def test_capabilities_over_tls(server):
    with server.pop3() as pop:
        caps = pop.capabilities()
    for name in ("UIDL", "TOP", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "USER"):
        assert caps[name] == [], name
    assert caps["SASL"] == ["PLAIN", "LOGIN", "CRAM-MD5"]
    assert "STLS" not in caps  # the CAPA sent again over TLS


def test_capabilities_before_tls(server):
    with mailtls.POP3(server.host, server.port, security="none", timeout=10) as pop:
        caps = pop.capabilities()
    assert caps["STLS"] == [] and caps["SASL"] == ["PLAIN", "LOGIN", "CRAM-MD5"]


@pytest.mark.parametrize("transport", ["stls", "tls"])
def test_min_tls_1_3(server, transport):
    connect = server.pop3 if transport == "stls" else server.pop3s
    with connect(min_tls="1.3") as pop:
        pop.login(U, server.password)
        pop.noop()


def test_implicit_tls_on_the_plain_port_fails(server):
    # The server's plaintext greeting breaks the handshake: the message
    # says what to choose, the TLS library's words are in .detail only.
    with pytest.raises(mailtls.TlsError) as info:
        mailtls.POP3(server.host, server.port, security="tls", ca_file=server.ca, timeout=5)
    error = info.value
    assert error.code == Result.TLS_ERROR
    assert f"{server.host}:{server.port} answered without TLS" in error.message
    assert "choose STARTTLS" in error.message
    assert "SSL" not in error.message.replace("SSL/TLS", "")
    assert error.detail is not None and "does not speak TLS" in error.detail


def test_a_refused_login_has_no_tls_detail(server):
    with server.pop3() as pop:
        with pytest.raises(mailtls.AuthError) as info:
            pop.login(U, "wrong password")
    assert info.value.detail is None


def test_stls_on_the_implicit_tls_port_is_named_within_seconds(server):
    # No greeting in clear; a TLS probe on a second connection tells why,
    # long before the 60 s timeout runs out.
    started = time.monotonic()
    with pytest.raises(mailtls.StartTlsUnavailable) as info:
        mailtls.POP3(server.host, server.tls_port, security="starttls", ca_file=server.ca,
                     timeout=60)
    assert time.monotonic() - started < 15
    assert "expects TLS from the first byte" in info.value.message
    assert "choose SSL/TLS" in info.value.message
