"""POP3(proxy=...) and SMTP(proxy=...) through the test proxies that
tests/servers/proxies.sh starts (microsocks for SOCKS5, tinyproxy for HTTP
CONNECT): sessions that work, each proxy failure as a ProxyError with its
code and without the proxy password, bad URLs, and the environment's proxy
read only when asked. User: pyproxy01 (logins only)."""

from __future__ import annotations

import os
import socket
import typing

import pytest

import mailtls
from conftest import _check_env
from mailtls import Result

PROXY_REQUIRED = (
    "MAILTLS_TEST_SOCKS_PORT",
    "MAILTLS_TEST_SOCKS_AUTH_PORT",
    "MAILTLS_TEST_SOCKS_USER",
    "MAILTLS_TEST_SOCKS_PASSWORD",
    "MAILTLS_TEST_HTTP_PROXY_PORT",
    "MAILTLS_TEST_HTTP_PROXY_USER",
    "MAILTLS_TEST_HTTP_PROXY_PASSWORD",
)


class Proxies(typing.NamedTuple):
    socks: str
    socks_auth_port: int
    socks_user: str
    socks_password: str
    http_port: int
    http_user: str
    http_password: str


@pytest.fixture(scope="module")
def proxies() -> Proxies:
    _check_env(
        PROXY_REQUIRED,
        "test proxies",
        "Start them with `bash tests/servers/proxies.sh start DIR` (after the mail servers)",
    )
    e = os.environ
    return Proxies(
        socks=f"socks5h://127.0.0.1:{e['MAILTLS_TEST_SOCKS_PORT']}",
        socks_auth_port=int(e["MAILTLS_TEST_SOCKS_AUTH_PORT"]),
        socks_user=e["MAILTLS_TEST_SOCKS_USER"],
        socks_password=e["MAILTLS_TEST_SOCKS_PASSWORD"],
        http_port=int(e["MAILTLS_TEST_HTTP_PROXY_PORT"]),
        http_user=e["MAILTLS_TEST_HTTP_PROXY_USER"],
        http_password=e["MAILTLS_TEST_HTTP_PROXY_PASSWORD"],
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pop3s_and_stls_through_socks5(smtp_server, proxies):
    for connect in (smtp_server.pop3s, smtp_server.pop3):
        with connect(proxy=proxies.socks) as pop:
            pop.login("pyproxy01", smtp_server.password)
            pop.stat()
            assert pop.peer_cert_sha256 == smtp_server.sha256.lower()


def test_smtp_through_http_connect_keeps_the_proxy_password_out_of_the_trace(smtp_server, proxies):
    lines: list = []
    url = f"http://{proxies.http_user}:{proxies.http_password}@127.0.0.1:{proxies.http_port}"
    with smtp_server.smtp(proxy=url, trace=lambda kind, data: lines.append(data)) as smtp:
        smtp.login("pyproxy01", smtp_server.password)
        smtp.noop()
    assert any(line.startswith(b"CONNECT ") for line in lines)
    assert b"Proxy-Authorization: Basic <redacted>" in lines
    assert not any(proxies.http_password.encode() in line for line in lines)


def test_wrong_socks_credentials_are_a_proxy_auth_failure(smtp_server, proxies):
    url = f"socks5h://{proxies.socks_user}:wrong-pw-5@127.0.0.1:{proxies.socks_auth_port}"
    with pytest.raises(mailtls.ProxyError) as caught:
        smtp_server.pop3s(proxy=url)
    assert caught.value.code == Result.PROXY_AUTH_FAILED
    assert isinstance(caught.value, mailtls.ConnectionError)
    assert isinstance(caught.value, ConnectionError)
    assert "refused the proxy user name and password" in str(caught.value)
    assert "wrong-pw-5" not in str(caught.value)


def test_a_port_the_http_proxy_forbids_is_a_target_failure(smtp_server, proxies):
    url = f"http://{proxies.http_user}:{proxies.http_password}@127.0.0.1:{proxies.http_port}"
    with pytest.raises(mailtls.ProxyError) as caught:
        smtp_server.smtp_plain(proxy=url)
    assert caught.value.code == Result.PROXY_TARGET_FAILED
    assert str(caught.value).startswith("proxy: 403")
    assert proxies.http_password not in str(caught.value)


def test_a_proxy_that_is_not_running_is_unreachable(server):
    closed = closed_port()
    with pytest.raises(mailtls.ProxyError) as caught:
        server.pop3s(proxy=f"socks5h://127.0.0.1:{closed}")
    assert caught.value.code == Result.PROXY_UNREACHABLE
    assert f"127.0.0.1:{closed}" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1:21",
        "https://127.0.0.1:3128#fragment",
        "socks5h://127.0.0.1:99999",
        "127.0.0.1:1080",
        "socks4a://u:p@127.0.0.1",
        "http://127.0.0.1:3128/path",
    ],
)
def test_bad_proxy_urls_are_invalid_arguments_and_nothing_connects(server, url):
    with pytest.raises(mailtls.InvalidArgument):
        server.pop3s(proxy=url)


def test_proxy_must_be_a_string(server):
    with pytest.raises(TypeError):
        server.pop3s(proxy=1080)


def test_the_environment_is_read_only_when_asked(server, monkeypatch):
    for name in ("ALL_PROXY", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("all_proxy", f"socks5h://127.0.0.1:{closed_port()}")
    server.pop3s().close()
    with pytest.raises(mailtls.ProxyError) as caught:
        server.pop3s(proxy_from_environment=True)
    assert caught.value.code == Result.PROXY_UNREACHABLE
    monkeypatch.setenv("no_proxy", server.host)
    server.pop3s(proxy_from_environment=True).close()


def test_the_probe_goes_through_the_proxy(smtp_server, proxies):
    url = f"http://{proxies.http_user}:{proxies.http_password}@127.0.0.1:{proxies.http_port}"
    ports = [("pop3", smtp_server.tls_port, "tls"), ("smtp", smtp_server.submission_port, "starttls")]
    report = mailtls.probe(
        smtp_server.host,
        "pyproxy01",
        smtp_server.password,
        ports=ports,
        ca_file=smtp_server.ca,
        timeout=10.0,
        proxy=url,
    )
    assert [a.login for a in report.attempts] == ["succeeded", "succeeded"], report.attempts
    report = mailtls.probe(
        smtp_server.host, ports=ports, timeout=10.0, proxy=f"socks5h://127.0.0.1:{closed_port()}"
    )
    for attempt in report.attempts:
        assert isinstance(attempt.error, mailtls.ProxyError), attempt.error
        assert attempt.error.code == Result.PROXY_UNREACHABLE
