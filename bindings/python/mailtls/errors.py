"""The exceptions of mailtls and the one table that maps result codes to them.

Every exception raised for a failed library call is an :class:`Error` with

- ``code``: the library's result code (a :class:`Result` member, or a plain
  ``int`` for a code newer than this binding),
- ``message``: the library's description of the failure (its "last error"),
- ``reply``: the server's reply line (e.g. ``"-ERR [AUTH] Authentication
  failed."``) or ``None``,
- ``response_code``: POP3: the reply's RFC 2449/3206 response code without
  brackets (e.g. ``"AUTH"``, ``"SYS/TEMP"``); SMTP: the enhanced status code
  (e.g. ``"5.7.8"``); ``None`` when the reply carried none,
- ``smtp_code``: SMTP's three-digit reply code (e.g. ``535``) of the reply
  that caused the failure, or ``None`` (POP3, or no server reply), with
  the properties ``transient`` (a 4xx reply: try again later) and
  ``permanent`` (5xx); both are False when ``smtp_code`` is None,
- ``detail``: for a TLS failure (certificate, TLS version, handshake), the
  TLS library's own code and words, which ``message`` leaves out: for a log
  or a bug report, not for the user; ``None`` otherwise,
- ``report``: on the exception a failed :meth:`POP3.sync` raises, the
  :class:`~mailtls.SyncReport` of what the sync did before it failed (what
  it saved stays saved and recorded); ``None`` otherwise, and when the sync
  failed before it started.

Hierarchy::

    Error
    +-- AuthError            AUTH_FAILED, NO_COMMON_MECHANISM, PLAINTEXT_AUTH_REFUSED
    |   +-- EncryptionRequired ENCRYPTION_REQUIRED (logins only over TLS: not a wrong password)
    +-- TlsError             TLS_ERROR, TLS_VERSION
    |   +-- CertificateError CERTIFICATE_UNTRUSTED, _HOST_MISMATCH, _PIN_MISMATCH,
    |   |                    _EXPIRED, _NOT_YET_VALID, _SELF_SIGNED, _UNKNOWN_ISSUER, _REVOKED
    |   +-- StartTlsUnavailable  STARTTLS_UNAVAILABLE
    +-- TimeoutError         TIMEOUT              (also builtins.TimeoutError)
    +-- ConnectionError      RESOLVE_FAILED, CONNECT_FAILED, CONNECTION_CLOSED,
    |   |                    IO_ERROR, NOT_CONNECTED (also builtins.ConnectionError)
    |   +-- ProxyError       PROXY_UNREACHABLE, _AUTH_FAILED, _TARGET_FAILED, _PROTOCOL
    +-- ServerError          SERVER_ERROR
    |   +-- MessageTooLarge  MESSAGE_TOO_LARGE
    |   +-- RecipientsRefused RECIPIENTS_REFUSED (SMTP; ``results``)
    |   +-- SmtpUtf8Unavailable SMTPUTF8_UNAVAILABLE (SMTP)
    |   +-- EightBitMimeUnavailable EIGHTBITMIME_UNAVAILABLE (SMTP)
    |   +-- UidlUnavailable  UIDL_UNAVAILABLE     (POP3 sync)
    +-- ProtocolError        PROTOCOL_ERROR, REPLY_TOO_LONG
    +-- InvalidArgument      NULL_ARGUMENT, INVALID_ARGUMENT, HANDLE_BUSY (also ValueError)
    +-- Cancelled            CANCELLED
    +-- FileError            FILE_ERROR           (also OSError)
    |   +-- StateError       STATE_CORRUPT        (POP3 sync)
    +-- StateLocked          STATE_LOCKED         (POP3 sync)
    +-- InternalError        PANIC (a bug in libmailtls)

Any other code (BUFFER_TOO_SMALL, codes added to the library later) gives a
plain :class:`Error`. ``TimeoutError``, ``ConnectionError`` and ``FileError``
are also ``OSError`` subclasses, so ``except OSError`` catches network and
file failures as it does for the standard library; their ``errno`` is None.

``TimeoutError`` and ``ConnectionError`` are named after the builtins they
extend, so they are not in ``__all__`` (here or in :mod:`mailtls`): ``from
mailtls import *`` leaves the builtins in place, and since these classes
subclass them, ``except TimeoutError:`` still catches mailtls's timeouts.
Name them as ``mailtls.TimeoutError`` and ``mailtls.ConnectionError``.
"""

from __future__ import annotations

import builtins
import enum

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see _session.py)
    from typing import Any, Iterable, List, Union

    from .certificate import Certificate
    from .smtp import RecipientResult
    from .sync import SyncReport

# Not TimeoutError and ConnectionError: see the module docstring.
__all__ = [
    "Result",
    "Error",
    "AuthError",
    "EncryptionRequired",
    "TlsError",
    "CertificateError",
    "StartTlsUnavailable",
    "ServerError",
    "MessageTooLarge",
    "RecipientsRefused",
    "SmtpUtf8Unavailable",
    "EightBitMimeUnavailable",
    "UidlUnavailable",
    "ProtocolError",
    "InvalidArgument",
    "Cancelled",
    "FileError",
    "StateError",
    "StateLocked",
    "InternalError",
]


class Result(enum.IntEnum):
    """The library's result codes (``MAILTLS_RESULT_*`` in mailtls.h)."""

    OK = 0
    NULL_ARGUMENT = 100
    INVALID_ARGUMENT = 101
    BUFFER_TOO_SMALL = 102
    NOT_CONNECTED = 103
    HANDLE_BUSY = 104
    RESOLVE_FAILED = 200
    CONNECT_FAILED = 201
    TIMEOUT = 202
    CONNECTION_CLOSED = 203
    IO_ERROR = 204
    PROXY_UNREACHABLE = 210
    PROXY_AUTH_FAILED = 211
    PROXY_TARGET_FAILED = 212
    PROXY_PROTOCOL = 213
    TLS_ERROR = 300
    TLS_VERSION = 301
    CERTIFICATE_UNTRUSTED = 302
    CERTIFICATE_HOST_MISMATCH = 303
    CERTIFICATE_PIN_MISMATCH = 304
    STARTTLS_UNAVAILABLE = 305
    CERTIFICATE_EXPIRED = 306
    CERTIFICATE_NOT_YET_VALID = 307
    CERTIFICATE_SELF_SIGNED = 308
    CERTIFICATE_UNKNOWN_ISSUER = 309
    CERTIFICATE_REVOKED = 310
    PLAINTEXT_AUTH_REFUSED = 400
    NO_COMMON_MECHANISM = 401
    AUTH_FAILED = 402
    ENCRYPTION_REQUIRED = 403
    SERVER_ERROR = 500
    MESSAGE_TOO_LARGE = 501
    RECIPIENTS_REFUSED = 502
    SMTPUTF8_UNAVAILABLE = 503
    EIGHTBITMIME_UNAVAILABLE = 504
    UIDL_UNAVAILABLE = 505
    PROTOCOL_ERROR = 600
    REPLY_TOO_LONG = 601
    CANCELLED = 700
    FILE_ERROR = 800
    STATE_LOCKED = 801
    STATE_CORRUPT = 802
    PANIC = 900


class Error(Exception):
    """Base class of every mailtls failure; see the module docstring."""

    # Set only on the exception SMTP.send_many() raises: the outcomes of the
    # messages done before it.
    outcomes: List[Union[List[RecipientResult], Error]]
    # Set on the exception POP3.sync() raises once the sync had started.
    report: SyncReport | None = None
    # The TLS library's code and words for a TLS failure (see the module
    # docstring); None for other failures.
    detail: str | None = None

    def __init__(
        self,
        message: str,
        code: int = Result.INVALID_ARGUMENT,
        reply: str | None = None,
        response_code: str | None = None,
        smtp_code: int | None = None,
    ) -> None:
        """An error with ``message`` and the result ``code`` (a
        :class:`Result` member or int), and the server's ``reply``,
        ``response_code`` and ``smtp_code`` when there was one. The library
        calls raise these; a program may create one too (in tests, say)."""
        super().__init__(message)
        try:
            code = Result(code)
        except ValueError:
            code = int(code)
        self.code = code
        self.message = message
        self.reply = reply or None
        self.response_code = response_code or None
        self.smtp_code = int(smtp_code) if smtp_code else None

    @property
    def transient(self) -> bool:
        """True when the server's SMTP reply was 4xx: a temporary failure,
        worth trying again later. False otherwise, also when there was no
        SMTP reply (``smtp_code`` None)."""
        return self.smtp_code is not None and 400 <= self.smtp_code < 500

    @property
    def permanent(self) -> bool:
        """True when the server's SMTP reply was 5xx: a permanent failure,
        do not retry as is. False otherwise, also when there was no SMTP
        reply (``smtp_code`` None)."""
        return self.smtp_code is not None and 500 <= self.smtp_code < 600

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        code = self.code.name if isinstance(self.code, Result) else self.code
        return f"{type(self).__name__}({self.message!r}, code={code})"

    def __reduce__(self) -> tuple:
        # The attribute dict goes along, so subclass attributes (e.g.
        # RecipientsRefused.results) survive pickling; so does OSError's
        # filename (FileError), which is not in __dict__.
        state = dict(self.__dict__)
        if isinstance(self, OSError) and self.filename is not None:
            state["filename"] = self.filename
        return (
            type(self),
            (self.message, int(self.code), self.reply, self.response_code, self.smtp_code),
            state,
        )


class AuthError(Error):
    """Logging in failed: credentials refused, no usable mechanism, or
    plaintext authentication not allowed."""


class EncryptionRequired(AuthError):
    """The server accepts logins only over an encrypted connection: connect
    with ``security="tls"`` or ``"starttls"``; the password was not judged,
    so do not ask for a new one."""


class TlsError(Error):
    """The TLS handshake failed (including no common TLS version)."""


class CertificateError(TlsError):
    """The server certificate is untrusted, names another host, or is not
    the pinned one.

    ``reason`` is the :class:`Result` member that says which (the same as
    ``code``); ``certificate`` the server's :class:`mailtls.Certificate`
    (fingerprint, names, issuer, dates) when the library kept it: after a
    failed verification with the OpenSSL backend, not after a pin mismatch
    nor with native-tls (Windows, macOS), where it is None."""

    certificate: Certificate | None = None

    @property
    def reason(self) -> Union[Result, int]:
        """Why the certificate was refused: the ``CERTIFICATE_*`` member."""
        return self.code


class StartTlsUnavailable(TlsError):
    """STLS/STARTTLS was required but the server does not offer it or
    refused it. Nothing was sent in clear after that."""


class TimeoutError(Error, builtins.TimeoutError):
    """The server did not answer within the timeout."""


class ConnectionError(Error, builtins.ConnectionError):
    """Name resolution, connecting or the connection failed, or the session
    is not connected (closed by QUIT, close(), or an earlier error)."""


class ProxyError(ConnectionError):
    """The proxy failed; ``code`` says how: ``Result.PROXY_UNREACHABLE`` (its
    name did not resolve or nothing accepted the connection),
    ``PROXY_AUTH_FAILED`` (it refused the proxy user name and password, or
    wants some), ``PROXY_TARGET_FAILED`` (it could not or would not connect
    to the mail server: the message gives the SOCKS reply or HTTP status)
    or ``PROXY_PROTOCOL`` (it broke its protocol). A proxy that stalls
    raises TimeoutError."""


class ServerError(Error):
    """The server refused a command (POP3 ``-ERR``, SMTP 4xx/5xx); see
    ``reply``, and for SMTP ``smtp_code``, ``transient``/``permanent`` and
    ``response_code`` (the enhanced status code)."""


class MessageTooLarge(ServerError):
    """A message is larger than a limit: POP3's in-memory limit
    (``max_message_bytes``) of retr(), top() and retr_many() (stream it with
    a sink or ``retr_to_file`` instead), or
    an SMTP server's SIZE (checked before any byte of the message is sent;
    the SMTP session goes on)."""


class RecipientsRefused(ServerError):
    """SMTP: every recipient was refused, so the message was sent to no
    one. ``results`` lists each recipient's
    :class:`~mailtls.RecipientResult` (address, accepted, code, enhanced,
    text), in the order given. The session goes on."""

    def __init__(self, *args: Any, results: Iterable[RecipientResult] | None = None, **kwargs: Any) -> None:
        """As :class:`Error`, with ``results``: the recipients' answers."""
        super().__init__(*args, **kwargs)
        self.results = list(results) if results is not None else []


class SmtpUtf8Unavailable(ServerError):
    """SMTP: an address or the message headers are not ASCII and the server
    does not offer SMTPUTF8, so nothing was sent. The session goes on."""


class EightBitMimeUnavailable(ServerError):
    """SMTP: the message has bytes over 127 and the server does not offer
    8BITMIME; a message known to be 8-bit is not sent at all, a streamed
    one is stopped at its first such byte and the connection closed."""


class UidlUnavailable(ServerError):
    """POP3 sync: the server does not support UIDL, without which a sync
    cannot tell which messages it already has; only
    ``retention="delete"`` works with such a server. Nothing was done."""


class ProtocolError(Error):
    """The server broke the protocol, or sent a too long reply line."""


class InvalidArgument(Error, ValueError):
    """An argument is invalid (line break or NUL in a string, a number out
    of range, an unknown name) or the call does not fit the session's state
    (e.g. a mailbox command before login)."""


class Cancelled(Error):
    """A callback cancelled the operation."""


class FileError(Error, OSError):
    """A local file could not be written or read."""


class StateError(FileError):
    """POP3 sync: the state file cannot be read as one (not a mailtls
    state file, or damaged beyond a torn last record). The sync did
    nothing: it never takes an unreadable state for "everything is new".
    ``filename`` is the state file's path."""


class StateLocked(Error):
    """POP3 sync: another sync of the same state file (account) is running,
    in this process or another; it holds the lock file
    ``<state>.lock``. Raised at once, without waiting; nothing was done.
    ``filename`` is the state file's path."""

    filename: object = None


class InternalError(Error):
    """An internal error of libmailtls (a bug) was caught at the C boundary;
    the session should be closed."""


# The one map from result codes to exception classes.
_CLASS_BY_CODE: dict[int, type[Error]] = {
    Result.NULL_ARGUMENT: InvalidArgument,
    Result.INVALID_ARGUMENT: InvalidArgument,
    # A call on a session from inside one of its own callbacks.
    Result.HANDLE_BUSY: InvalidArgument,
    Result.NOT_CONNECTED: ConnectionError,
    Result.RESOLVE_FAILED: ConnectionError,
    Result.CONNECT_FAILED: ConnectionError,
    Result.TIMEOUT: TimeoutError,
    Result.CONNECTION_CLOSED: ConnectionError,
    Result.IO_ERROR: ConnectionError,
    Result.PROXY_UNREACHABLE: ProxyError,
    Result.PROXY_AUTH_FAILED: ProxyError,
    Result.PROXY_TARGET_FAILED: ProxyError,
    Result.PROXY_PROTOCOL: ProxyError,
    Result.TLS_ERROR: TlsError,
    Result.TLS_VERSION: TlsError,
    Result.CERTIFICATE_UNTRUSTED: CertificateError,
    Result.CERTIFICATE_HOST_MISMATCH: CertificateError,
    Result.CERTIFICATE_PIN_MISMATCH: CertificateError,
    Result.CERTIFICATE_EXPIRED: CertificateError,
    Result.CERTIFICATE_NOT_YET_VALID: CertificateError,
    Result.CERTIFICATE_SELF_SIGNED: CertificateError,
    Result.CERTIFICATE_UNKNOWN_ISSUER: CertificateError,
    Result.CERTIFICATE_REVOKED: CertificateError,
    Result.STARTTLS_UNAVAILABLE: StartTlsUnavailable,
    Result.PLAINTEXT_AUTH_REFUSED: AuthError,
    Result.NO_COMMON_MECHANISM: AuthError,
    Result.AUTH_FAILED: AuthError,
    Result.ENCRYPTION_REQUIRED: EncryptionRequired,
    Result.SERVER_ERROR: ServerError,
    Result.MESSAGE_TOO_LARGE: MessageTooLarge,
    Result.RECIPIENTS_REFUSED: RecipientsRefused,
    Result.SMTPUTF8_UNAVAILABLE: SmtpUtf8Unavailable,
    Result.EIGHTBITMIME_UNAVAILABLE: EightBitMimeUnavailable,
    Result.UIDL_UNAVAILABLE: UidlUnavailable,
    Result.PROTOCOL_ERROR: ProtocolError,
    Result.REPLY_TOO_LONG: ProtocolError,
    Result.CANCELLED: Cancelled,
    Result.FILE_ERROR: FileError,
    Result.STATE_LOCKED: StateLocked,
    Result.STATE_CORRUPT: StateError,
    Result.PANIC: InternalError,
}


def error_class(code: int) -> type[Error]:
    """The exception class for a result code (``Error`` when unknown)."""
    return _CLASS_BY_CODE.get(code, Error)


def make_error(
    code: int,
    message: str,
    reply: str | None = None,
    response_code: str | None = None,
    smtp_code: int | None = None,
) -> Error:
    """An exception of the right class for a failed call."""
    return error_class(code)(message, code, reply, response_code, smtp_code)
