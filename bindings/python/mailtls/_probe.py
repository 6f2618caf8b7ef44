"""The account probe: :func:`mailtls.probe` tries a host's standard POP3
and SMTP ports and security modes at once and tells what works, with the
setting to recommend per protocol (implicit TLS before STARTTLS).

Imported on first use of ``mailtls.probe`` (a private module, so that the
name ``mailtls.probe`` stays the function).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

# At run time too (this module is loaded only when used): the dataclasses'
# annotations resolve with typing.get_type_hints().
from typing import Any, Dict, Iterable, Optional, Tuple, Union

from . import _lib
from . import certificate as _certificate
from ._session import _options_error, _timeout_ms, c_string, configure_tls, copy_text, invalid
from .certificate import Certificate
from .errors import CertificateError, Error, Result, make_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._session import PathLike

__all__ = ["probe", "ProbeAttempt", "ProbeReport"]

_PROTOCOLS = {"pop3": _lib.PROTOCOL_POP3, "smtp": _lib.PROTOCOL_SMTP}
_SECURITIES = {"tls": _lib.SECURITY_TLS, "starttls": _lib.SECURITY_STARTTLS}
_LOGINS = {
    _lib.PROBE_LOGIN_NOT_ASKED: "not asked",
    _lib.PROBE_LOGIN_NOT_TRIED: "not tried",
    _lib.PROBE_LOGIN_SUCCEEDED: "succeeded",
    _lib.PROBE_LOGIN_FAILED: "failed",
}


@dataclass(frozen=True)
class ProbeAttempt:
    """One combination the probe tried."""

    #: ``"pop3"`` or ``"smtp"``.
    protocol: str
    port: int
    #: ``"tls"`` (implicit TLS) or ``"starttls"``.
    security: str
    #: Why it does not work, what to change in its message (the exception a
    #: connect would have raised); None when it works.
    error: Optional[Error]
    #: The TLS version agreed (e.g. ``"TLSv1.3"``); None when TLS did not
    #: come up, and with native-tls (Windows, macOS).
    tls_version: Optional[str]
    #: The server's certificate: the session's, or the one refused.
    certificate: Optional[Certificate]
    #: The login methods offered over the encrypted connection.
    mechanisms: Tuple[str, ...]
    #: ``"not asked"`` (no credentials), ``"not tried"`` (the combination
    #: failed: no password was sent), ``"succeeded"`` or ``"failed"``.
    login: str
    #: Why the login failed (an :class:`mailtls.AuthError` mostly).
    login_error: Optional[Error]

    @property
    def works(self) -> bool:
        """Connected, TLS up, certificate verified (or pinned)."""
        return self.error is None


@dataclass(frozen=True)
class ProbeReport:
    """Every combination's outcome, in order of preference."""

    attempts: Tuple[ProbeAttempt, ...]
    #: Per protocol probed, the setting to use: the first combination whose
    #: login succeeded, else the first that works; None if none works.
    recommended: Dict[str, Optional[ProbeAttempt]]


def probe(
    host: str,
    user: Optional[str] = None,
    password: Optional[str] = None,
    *,
    protocols: Iterable[str] = ("pop3", "smtp"),
    ports: Optional[Iterable[Tuple[str, int, str]]] = None,
    timeout: float = 5.0,
    ca_file: Union[PathLike, list, tuple, None] = None,
    ca_pem: Union[str, bytes, list, tuple, None] = None,
    pin_sha256: Optional[str] = None,
    min_tls: str = "1.2",
    proxy: Optional[str] = None,
) -> ProbeReport:
    """Try ``host``'s standard combinations at once (POP3: 995 TLS, 110
    STARTTLS; SMTP: 465 TLS, 587, 26 and 25 STARTTLS) and return within about
    ``timeout`` seconds. ``ports`` replaces that list with
    ``(protocol, port, security)`` tuples, in order of preference, e.g.
    ``[("pop3", 1995, "tls")]``. With ``user`` and ``password`` it logs in
    where the connection is encrypted and the certificate verified, never
    elsewhere, and says goodbye. ``ca_file``, ``ca_pem``, ``pin_sha256``
    and ``min_tls`` are as for :class:`mailtls.POP3`; a certificate that
    fails verification is reported, never accepted. ``proxy`` (a URL, as
    for :class:`mailtls.POP3`) is the proxy every combination goes
    through.

    Raises InvalidArgument for a bad argument (nothing is tried then); the
    outcome of each combination is in the report, not raised.
    """
    if (user is None) != (password is None):
        raise invalid("give both user and password, or neither")
    ms = _timeout_ms(timeout)
    wanted = _protocol_mask(protocols)
    endpoints = None if ports is None else [_endpoint(p) for p in ports]
    host_c = c_string(host, "host")
    user_c = None if user is None else c_string(user, "user")
    password_c = None if password is None else c_string(password, "password")

    lib = _lib.load()
    options = lib.mailtls_options_new()
    if not options:
        raise MemoryError("mailtls_options_new failed")
    try:
        configure_tls(
            lib, options, ca_file=ca_file, ca_pem=ca_pem, pin_sha256=pin_sha256, min_tls=min_tls
        )
        if proxy is not None:
            rc = lib.mailtls_options_set_proxy(options, c_string(proxy, "proxy"))
            if rc != Result.OK:
                raise _options_error(lib, options, rc, "proxy")
        handle = lib.mailtls_probe_new(options)
    finally:
        lib.mailtls_options_free(options)
    if not handle:
        raise MemoryError("mailtls_probe_new failed")
    try:

        def check(rc: int) -> None:
            if rc != Result.OK:
                message = copy_text(lib.mailtls_probe_last_error, handle)
                raise make_error(rc, message or f"the probe failed: result {rc}")

        if ms is not None:
            check(lib.mailtls_probe_set_timeout_ms(handle, ms))
        check(lib.mailtls_probe_set_protocols(handle, wanted))
        for protocol, port, security in endpoints or []:
            check(lib.mailtls_probe_add_endpoint(handle, protocol, port, security))
        check(lib.mailtls_probe_run(handle, host_c, user_c, password_c))
        attempts = tuple(
            _attempt(lib, handle, i) for i in range(lib.mailtls_probe_attempt_count(handle))
        )
        probed = {a.protocol for a in attempts}
        recommended: Dict[str, Optional[ProbeAttempt]] = {}
        for name, number in _PROTOCOLS.items():
            if name not in probed:
                continue
            index = ctypes.c_size_t(0)
            rc = lib.mailtls_probe_recommended(handle, number, ctypes.byref(index))
            recommended[name] = attempts[index.value] if rc == Result.OK else None
        return ProbeReport(attempts=attempts, recommended=recommended)
    finally:
        lib.mailtls_probe_free(handle)


def _protocol_mask(protocols: Iterable[str]) -> int:
    if isinstance(protocols, str):
        protocols = (protocols,)
    mask = 0
    for name in protocols:
        number = _PROTOCOLS.get(name.lower() if isinstance(name, str) else name)
        if number is None:
            raise invalid(f"unknown protocol {name!r} (expected 'pop3' or 'smtp')")
        mask |= number
    if not mask:
        raise invalid("protocols is empty: name 'pop3', 'smtp' or both")
    return mask


def _endpoint(entry: Any) -> Tuple[int, int, int]:
    try:
        protocol, port, security = entry
    except (TypeError, ValueError):
        raise invalid(f"each port is a (protocol, port, security) tuple, not {entry!r}") from None
    number = _PROTOCOLS.get(protocol.lower() if isinstance(protocol, str) else protocol)
    if number is None:
        raise invalid(f"unknown protocol {protocol!r} (expected 'pop3' or 'smtp')")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise invalid(f"port must be an int from 1 to 65535, not {port!r}")
    mode = _SECURITIES.get(security.lower() if isinstance(security, str) else security)
    if mode is None:
        raise invalid(f"the probe tries only 'tls' and 'starttls', not {security!r}")
    return number, port, mode


def _text(raw: Optional[bytes]) -> Optional[str]:
    return None if raw is None else raw.decode("utf-8", "replace")


def _attempt(lib: Any, handle: int, i: int) -> ProbeAttempt:
    certificate = _certificate.read(lib, lib.mailtls_probe_attempt_certificate(handle, i))
    error = None
    rc = lib.mailtls_probe_attempt_result(handle, i)
    if rc != Result.OK:
        error = make_error(rc, _text(lib.mailtls_probe_attempt_message(handle, i)) or "")
        if isinstance(error, CertificateError):
            error.certificate = certificate
    login = _LOGINS.get(lib.mailtls_probe_attempt_login(handle, i), "not tried")
    login_error = None
    if login == "failed":
        login_error = make_error(
            lib.mailtls_probe_attempt_login_result(handle, i),
            _text(lib.mailtls_probe_attempt_login_message(handle, i)) or "",
        )
    protocol = lib.mailtls_probe_attempt_protocol(handle, i)
    security = lib.mailtls_probe_attempt_security(handle, i)
    return ProbeAttempt(
        protocol="pop3" if protocol == _lib.PROTOCOL_POP3 else "smtp",
        port=lib.mailtls_probe_attempt_port(handle, i),
        security="tls" if security == _lib.SECURITY_TLS else "starttls",
        error=error,
        tls_version=_text(lib.mailtls_probe_attempt_tls_version(handle, i)),
        certificate=certificate,
        mechanisms=tuple((_text(lib.mailtls_probe_attempt_mechanisms(handle, i)) or "").split()),
        login=login,
        login_error=login_error,
    )
