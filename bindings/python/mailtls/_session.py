"""Plumbing shared by the session classes (POP3 and SMTP).

A session class sets ``_PROTOCOL`` (the C prefix, e.g. ``"pop3"`` for
``mailtls_pop3_*``) and its default ports; this module builds the options,
creates and connects the handle, serialises calls on it, turns result codes
into exceptions with the handle's error detail, and runs Python callbacks so
that no exception ever unwinds into C.
"""

from __future__ import annotations

import _thread
import ctypes
import math
import os

from . import _lib
from .errors import CertificateError, ConnectionError, Error, InvalidArgument, Result, make_error

# typing, logging and threading are not imported at run time: together they
# cost a short-lived program (a mail check from cron) ~15 ms of start-up.
# Annotations are strings (the __future__ import), for type checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Callable, Dict, Iterable, List, Optional, Union

    from typing_extensions import Self

    from .certificate import Certificate

    PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
    TraceCallback = Callable[[str, bytes], Any]
    CertificateCallback = Callable[[Certificate, Result], Any]

_SECURITY = {
    "auto": _lib.SECURITY_AUTO,
    "tls": _lib.SECURITY_TLS,
    "starttls": _lib.SECURITY_STARTTLS,
    "none": _lib.SECURITY_NONE,
}
_MIN_TLS = {"1.2": _lib.TLS_1_2, "1.3": _lib.TLS_1_3}
_TRACE_KINDS = {
    _lib.TRACE_INFO: "info",
    _lib.TRACE_COMMAND: "command",
    _lib.TRACE_REPLY: "reply",
}
_MAX_U32 = 2**32 - 1


# ---- arguments ----------------------------------------------------------


def invalid(message: str) -> InvalidArgument:
    """An InvalidArgument raised on the Python side (no library call made)."""
    return InvalidArgument(message, Result.INVALID_ARGUMENT)


def c_string(value: Union[str, bytes], what: str) -> bytes:
    """`value` as the bytes of a C string: str is encoded UTF-8; a NUL is
    refused here, since a C string cannot carry it (the library itself
    refuses CR and LF where they matter)."""
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{what} is not valid Unicode text") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if b"\0" in data:
        raise invalid(f"{what} contains a NUL character")
    return data


def c_path(value: PathLike, what: str) -> bytes:
    """A filesystem path (str, bytes or os.PathLike) as a C string."""
    try:
        path = os.fspath(value)
    except TypeError:
        raise TypeError(
            f"{what} must be str, bytes or os.PathLike, not {type(value).__name__}"
        ) from None
    return c_string(path, what)


def message_number(n: Any, what: str = "message number") -> int:
    """A POP3 message number: an int from 1 to 2**32-1 (checked here, since
    ctypes would silently wrap a negative or too large number)."""
    try:
        n = n.__index__()
    except AttributeError:
        raise TypeError(f"a {what} must be an int, not {type(n).__name__}") from None
    if isinstance(n, bool) or not 1 <= n <= _MAX_U32:
        raise invalid(f"a {what} must be from 1 to {_MAX_U32}, not {n}")
    return n


def u32_array(numbers: Iterable[Any]) -> ctypes.Array[ctypes.c_uint32]:
    """Validated message numbers as a C uint32_t array."""
    checked = [message_number(n) for n in numbers]
    return (ctypes.c_uint32 * len(checked))(*checked)


def _timeout_ms(timeout: Optional[float]) -> Optional[int]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout <= 0:
        raise invalid(f"timeout must be a positive number of seconds, not {timeout}")
    return min(_MAX_U32, max(1, math.ceil(timeout * 1000)))


def _choice(value: Any, table: dict, what: str) -> int:
    key = value.lower() if isinstance(value, str) else value
    if key not in table:
        names = ", ".join(repr(k) for k in table)
        raise invalid(f"unknown {what} {value!r} (expected one of {names})")
    return table[key]


def _many(value: Any) -> list:
    """One item or a list/tuple of them (for ca_file and ca_pem)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


# ---- reading text out of the library ---------------------------------------


def copy_text(fn: Callable, handle: Optional[int]) -> str:
    """Call a ``(handle, buf, buf_len, len_out)`` accessor; grow the buffer
    when the text does not fit. Returns "" when the call fails otherwise
    (a NULL handle included)."""
    size = 256
    for _ in range(3):
        buf = ctypes.create_string_buffer(size)
        needed = ctypes.c_size_t(0)
        rc = fn(handle, buf, size, ctypes.byref(needed))
        if rc == Result.OK:
            return buf.value.decode("utf-8", "replace")
        if rc != Result.BUFFER_TOO_SMALL:
            return ""
        size = needed.value + 1
    return buf.value.decode("utf-8", "replace")


def _options_error(lib: ctypes.CDLL, options: int, rc: int, what: str) -> Error:
    message = copy_text(lib.mailtls_options_last_error, options)
    return make_error(rc, message or f"{what}: {result_str(rc)}")


def result_str(code: int) -> str:
    """The library's static description of a result code."""
    return _lib.load().mailtls_result_str(code).decode("utf-8", "replace")


def configure_tls(
    lib: ctypes.CDLL,
    options: int,
    *,
    ca_file: Union[PathLike, list, tuple, None],
    ca_pem: Union[str, bytes, list, tuple, None],
    pin_sha256: Optional[str],
    min_tls: str,
) -> None:
    """Set the TLS settings a session and the probe share on ``options``;
    raises the library's error for a bad one."""

    def check(rc: int, what: str) -> None:
        if rc != Result.OK:
            raise _options_error(lib, options, rc, what)

    check(
        lib.mailtls_options_set_min_tls_version(
            options, _choice(min_tls, _MIN_TLS, "minimum TLS version")
        ),
        "min_tls",
    )
    for path in _many(ca_file):
        check(lib.mailtls_options_add_ca_file(options, c_path(path, "ca_file")), "ca_file")
    for pem in _many(ca_pem):
        if isinstance(pem, str):
            pem = pem.encode("utf-8")
        if not isinstance(pem, (bytes, bytearray, memoryview)):
            raise TypeError(f"ca_pem must be str or bytes, not {type(pem).__name__}")
        pem = bytes(pem)
        check(lib.mailtls_options_add_ca_pem(options, pem, len(pem)), "ca_pem")
    if pin_sha256 is not None:
        check(
            lib.mailtls_options_set_pin_sha256(options, c_string(pin_sha256, "pin_sha256")),
            "pin_sha256",
        )


# ---- callbacks ----------------------------------------------------------------


class _Pending:
    """An exception raised inside a callback, kept to be raised once the C
    call has returned (never propagated through C)."""

    __slots__ = ("exc",)

    def __init__(self) -> None:
        self.exc: Optional[BaseException] = None


def _make_trace(trace: TraceCallback, pending: _Pending) -> Any:
    """A C trace callback calling ``trace(kind, data)``.

    Exceptions from ``trace`` are swallowed (the first one of a session is
    logged on the "mailtls" logger): a trace cannot cancel anything.
    KeyboardInterrupt and SystemExit are kept and raised when the library
    call returns.
    """
    state = {"logged": False}

    def callback(_userdata: Optional[int], kind: int, data: Optional[int], length: int) -> None:
        try:
            name = _TRACE_KINDS.get(kind, f"unknown({kind})")
            trace(name, ctypes.string_at(data, length) if data and length else b"")
        except Exception:
            if not state["logged"]:
                state["logged"] = True
                import logging

                logging.getLogger("mailtls").warning(
                    "exception in a mailtls trace callback (ignored)", exc_info=True
                )
        except BaseException as e:  # noqa: B036 - KeyboardInterrupt, SystemExit
            if pending.exc is None:
                pending.exc = e

    return _lib.TRACE_CALLBACK(callback)


def _make_certificate_check(decide: CertificateCallback, pending: _Pending) -> Any:
    """A C certificate callback calling ``decide(certificate, reason)``:
    exactly True accepts this connection; anything else refuses, and so
    does an exception, which is kept in ``pending`` to be raised once the
    connect has failed."""

    def callback(_userdata: Optional[int], cert: Optional[int], reason: int) -> int:
        try:
            from .certificate import read

            certificate = read(_lib.load(), cert)
            # The library passes a certificate and a CERTIFICATE_* result.
            if certificate is not None and decide(certificate, Result(reason)) is True:
                return _lib.CERTIFICATE_ACCEPT_ONCE
        except BaseException as e:  # noqa: B036 - re-raised after the connect
            pending.exc = e
        return _lib.CERTIFICATE_REFUSE

    return _lib.CERTIFICATE_CALLBACK(callback)


def make_data_sink(sink: Callable[[bytes], Any], pending: _Pending) -> Any:
    """A C data callback calling ``sink(chunk)``; if the sink raises, its
    exception is kept in ``pending`` and the transfer is cancelled."""

    def callback(_userdata: Optional[int], data: Optional[int], length: int) -> int:
        try:
            sink(ctypes.string_at(data, length) if data and length else b"")
            return 0
        except BaseException as e:  # noqa: B036 - re-raised after the call
            pending.exc = e
            return 1

    return _lib.DATA_CALLBACK(callback)


# ---- the session base class ---------------------------------------------------


class Session:
    """Base of the protocol classes: owns one library handle.

    Subclasses set ``_PROTOCOL`` ("pop3", "smtp"), ``_PORT`` and ``_TLS_PORT``, and
    name the accessors that differ between protocols (SMTP:
    ``_CAPABILITIES_FN = "extensions"``, ``_RESPONSE_CODE_FN =
    "last_enhanced_code"``). A subclass with options of its own (e.g. an SMTP
    client name) stores them before calling ``super().__init__`` and extends
    ``_configure``; one with more error detail (SMTP's reply code) extends
    ``_error``.
    """

    _PROTOCOL = ""
    _PORT = 0
    _TLS_PORT = 0
    _CAPABILITIES_FN = "capabilities"
    _RESPONSE_CODE_FN = "last_response_code"

    # Set before anything can fail, so __del__ and close() always work.
    _handle: Optional[int] = None

    def __init__(
        self,
        host: str,
        port: Optional[int] = None,
        *,
        security: str = "auto",
        ca_file: Union[PathLike, list, tuple, None] = None,
        ca_pem: Union[str, bytes, list, tuple, None] = None,
        pin_sha256: Optional[str] = None,
        min_tls: str = "1.2",
        timeout: Optional[float] = 60.0,
        allow_plaintext_auth: bool = False,
        danger_accept_invalid_certs: bool = False,
        trace: Optional[TraceCallback] = None,
        on_untrusted_certificate: Optional[CertificateCallback] = None,
        proxy: Optional[str] = None,
        proxy_from_environment: bool = False,
    ) -> None:
        """Connect to ``host`` (see the class docstring for the options).

        Raises InvalidArgument for a bad option, and ConnectionError,
        TimeoutError, TlsError/CertificateError/StartTlsUnavailable or
        ServerError (negative greeting) when connecting fails.
        """
        self._lock = _thread.RLock()
        self._busy = False
        self._pending = _Pending()
        self._trace_cb = None  # the C trace callback, alive as long as the handle
        # The C certificate callback (alive as long as the handle) and what
        # it raised.
        self._certificate_cb = None
        self._certificate_pending = _Pending()
        self.peer_cert_sha256: Optional[str] = None
        self.host = host
        lib = self._lib = _lib.load()
        self._free = getattr(lib, f"mailtls_{self._PROTOCOL}_free")

        security_n = _choice(security, _SECURITY, "security")
        if port is None:
            port = self._TLS_PORT if security_n == _lib.SECURITY_TLS else self._PORT
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise invalid(f"port must be an int from 1 to 65535, not {port!r}")
        self.port = port
        host_c = c_string(host, "host")

        options = lib.mailtls_options_new()
        if not options:
            raise MemoryError("mailtls_options_new failed")
        try:
            self._configure(
                options,
                security=security_n,
                ca_file=ca_file,
                ca_pem=ca_pem,
                pin_sha256=pin_sha256,
                min_tls=min_tls,
                timeout=timeout,
                allow_plaintext_auth=allow_plaintext_auth,
                danger_accept_invalid_certs=danger_accept_invalid_certs,
                trace=trace,
                on_untrusted_certificate=on_untrusted_certificate,
                proxy=proxy,
                proxy_from_environment=proxy_from_environment,
            )
            handle = getattr(lib, f"mailtls_{self._PROTOCOL}_new")(options)
        finally:
            # The handle keeps its own copy of the options.
            lib.mailtls_options_free(options)
        if not handle:
            raise MemoryError(f"mailtls_{self._PROTOCOL}_new failed")
        self._handle = handle
        try:
            try:
                self._call(self._fn("connect"), host_c, port)
            except CertificateError as e:
                # The callback's own exception refused the certificate.
                raised, self._certificate_pending.exc = self._certificate_pending.exc, None
                if raised is not None:
                    raise raised from e
                raise
            self.peer_cert_sha256 = self._peer_cert_sha256()
        except BaseException:
            self.close()
            raise

    def _configure(
        self,
        options: int,
        *,
        security: int,
        ca_file: Union[PathLike, list, tuple, None],
        ca_pem: Union[str, bytes, list, tuple, None],
        pin_sha256: Optional[str],
        min_tls: str,
        timeout: Optional[float],
        allow_plaintext_auth: bool,
        danger_accept_invalid_certs: bool,
        trace: Optional[TraceCallback],
        on_untrusted_certificate: Optional[CertificateCallback] = None,
        proxy: Optional[str] = None,
        proxy_from_environment: bool = False,
    ) -> None:
        lib = self._lib

        def check(rc: int, what: str) -> None:
            if rc != Result.OK:
                raise _options_error(lib, options, rc, what)

        check(lib.mailtls_options_set_security(options, security), "security")
        configure_tls(
            lib, options, ca_file=ca_file, ca_pem=ca_pem, pin_sha256=pin_sha256, min_tls=min_tls
        )
        ms = _timeout_ms(timeout)
        if ms is not None:
            check(lib.mailtls_options_set_connect_timeout_ms(options, ms), "timeout")
            check(lib.mailtls_options_set_io_timeout_ms(options, ms), "timeout")
        check(
            lib.mailtls_options_set_allow_plaintext_auth(options, bool(allow_plaintext_auth)),
            "allow_plaintext_auth",
        )
        check(
            lib.mailtls_options_set_danger_accept_invalid_certs(
                options, bool(danger_accept_invalid_certs)
            ),
            "danger_accept_invalid_certs",
        )
        if trace is not None:
            if not callable(trace):
                raise TypeError("trace must be callable as trace(kind, data)")
            # Kept on the session: the handle's copy of the options calls it.
            self._trace_cb = _make_trace(trace, self._pending)
            check(lib.mailtls_options_set_trace(options, self._trace_cb, None), "trace")
        if on_untrusted_certificate is not None:
            if not callable(on_untrusted_certificate):
                raise TypeError(
                    "on_untrusted_certificate must be callable as f(certificate, reason)"
                )
            self._certificate_cb = _make_certificate_check(
                on_untrusted_certificate, self._certificate_pending
            )
            check(
                lib.mailtls_options_set_certificate_callback(options, self._certificate_cb, None),
                "on_untrusted_certificate",
            )
        if proxy is not None:
            check(lib.mailtls_options_set_proxy(options, c_string(proxy, "proxy")), "proxy")
        check(
            lib.mailtls_options_set_proxy_from_environment(options, bool(proxy_from_environment)),
            "proxy_from_environment",
        )

    # ---- calls --------------------------------------------------------------

    def _fn(self, name: str) -> Any:
        return getattr(self._lib, f"mailtls_{self._PROTOCOL}_{name}")

    def _enter(self) -> int:
        """Take the session for one library call; returns the handle."""
        self._lock.acquire()
        if self._busy:
            # Only the thread holding the lock gets here: a callback calling
            # back into its own session, which the library does not allow.
            self._lock.release()
            raise invalid("a callback must not call methods of its own session")
        if self._handle is None:
            self._lock.release()
            raise ConnectionError("the session is closed", Result.NOT_CONNECTED)
        self._busy = True
        return self._handle

    def _leave(self) -> None:
        self._busy = False
        self._lock.release()

    def _call(self, fn: Callable, *args: Any, pending: Optional[_Pending] = None) -> None:
        """Call ``fn(handle, *args)``; raise the matching exception on failure.

        An exception kept by a callback (``pending``, or the trace's) is
        raised instead of the library's CANCELLED.
        """
        handle = self._enter()
        try:
            rc = fn(handle, *args)
            error = self._error(rc) if rc != Result.OK else None
        finally:
            self._leave()
        for keeper in (pending, self._pending):
            if keeper is not None and keeper.exc is not None:
                exc, keeper.exc = keeper.exc, None
                raise exc
        if error is not None:
            raise error

    def _login(self, user: str, password: str, mechanism: Optional[str]) -> None:
        mech = None if mechanism is None else c_string(mechanism, "mechanism")
        self._call(self._fn("login"), c_string(user, "user"), c_string(password, "password"), mech)

    def _login_oauth2(self, user: str, token: str) -> None:
        self._call(self._fn("login_oauth2"), c_string(user, "user"), c_string(token, "token"))

    def _error(self, rc: int) -> Error:
        """The exception for `rc`, with the handle's detail (call it before
        the next call on the handle replaces the detail)."""
        h = self._handle
        message = copy_text(self._fn("last_error"), h) or result_str(rc)
        reply = copy_text(self._fn("last_reply"), h)
        code = copy_text(self._fn(self._RESPONSE_CODE_FN), h)
        error = make_error(rc, message, reply, code)
        error.detail = copy_text(self._fn("last_error_detail"), h) or None
        if isinstance(error, CertificateError):
            cert = self._fn("peer_certificate")(h)
            # Only the certificate this failure was about (not one kept from
            # an earlier connect: a connect clears it).
            if cert and self._lib.mailtls_certificate_failure(cert) == rc:
                from .certificate import read

                error.certificate = read(self._lib, cert)
        return error

    def _peer_cert_sha256(self) -> Optional[str]:
        handle = self._enter()
        try:
            text = copy_text(self._fn("peer_cert_sha256"), handle)
        finally:
            self._leave()
        return text or None

    def _capabilities(self) -> Dict[str, List[str]]:
        handle = self._enter()
        try:
            # Borrowed from the handle: convert before anything else runs.
            caps = self._fn(self._CAPABILITIES_FN)(handle)
            lib = self._lib
            result: Dict[str, List[str]] = {}
            if caps:
                for i in range(lib.mailtls_capabilities_count(caps)):
                    name = lib.mailtls_capabilities_name(caps, i)
                    if name is None:
                        continue
                    args = []
                    for j in range(lib.mailtls_capabilities_arg_count(caps, i)):
                        arg = lib.mailtls_capabilities_arg(caps, i, j)
                        if arg is not None:
                            args.append(arg.decode("utf-8", "replace"))
                    result[name.decode("utf-8", "replace")] = args
        finally:
            self._leave()
        if not caps:
            raise ConnectionError("the session has no capabilities (not connected)",
                                  Result.NOT_CONNECTED)
        return result

    # ---- lifetime -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once close() freed the handle."""
        return self._handle is None

    def close(self) -> None:
        """Free the session without QUIT: the connection is dropped and the
        server commits no deletion. Idempotent."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed before the lock existed
            return
        with lock:
            if self._busy:
                raise invalid("a callback must not close its own session")
            handle, self._handle = self._handle, None
            if handle:
                self._free(handle)

    def __del__(self) -> None:
        """Free the handle (without QUIT) if close() was not called."""
        handle = self._handle
        if handle:
            self._handle = None
            try:
                self._free(handle)
            except Exception:
                pass

    def __enter__(self) -> Self:
        """The session itself."""
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """QUIT (committing deletions) if the block ended normally; then, or
        if it ended by an exception, close() without QUIT."""
        try:
            if exc_type is None:
                self._quit_if_connected()
        finally:
            self.close()

    def _quit_if_connected(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<mailtls.{type(self).__name__} {self.host}:{self.port} {state}>"
