"""mailtls: blocking POP3 and SMTP submission clients over verified TLS
(Python binding of libmailtls, through ctypes).

Example::

    import mailtls

    with mailtls.POP3("pop.example.org", security="tls") as pop:
        pop.login("alice", password)
        for number, octets in pop.list():
            data = pop.retr(number)

    with mailtls.POP3("pop.example.org", security="tls") as pop:
        pop.login("alice", password)
        report = pop.sync("alice.state", "Maildir")   # new mail only; leaves it on the server

    with mailtls.SMTP("smtp.example.org") as smtp:     # 587, STARTTLS
        smtp.login("alice", password)
        results = smtp.send("alice@example.org", ["bob@example.org"], message)

    report = mailtls.probe("mail.example.org", "alice", password)
    best = report.recommended["smtp"]      # e.g. port 465, security "tls"

The shared library is found through the ``MAILTLS_LIBRARY`` environment
variable (a path), then next to this package (``libmailtls.so``,
``mailtls.dll`` or ``libmailtls.dylib`` in the package directory), then the
system search path (``ctypes.util.find_library("mailtls")``). It is loaded on
first use; :class:`LibraryLoadError` (an ImportError) says why it could not
be.

Errors are :class:`Error` subclasses carrying ``code``, ``message``,
``reply``, ``response_code`` and ``smtp_code``; see :mod:`mailtls.errors` for the mapping
of the library's result codes to classes.
"""

from . import _lib
from ._lib import LibraryLoadError
from .errors import (
    AuthError,
    Cancelled,
    CertificateError,
    EightBitMimeUnavailable,
    EncryptionRequired,
    Error,
    FileError,
    InternalError,
    InvalidArgument,
    MessageTooLarge,
    ProtocolError,
    ProxyError,
    RecipientsRefused,
    Result,
    ServerError,
    SmtpUtf8Unavailable,
    StartTlsUnavailable,
    StateError,
    StateLocked,
    TlsError,
    UidlUnavailable,
)

# Named after builtins, so not in __all__ (see there); the redundant aliases
# mark them as exported for type checkers all the same.
from .errors import ConnectionError as ConnectionError
from .errors import TimeoutError as TimeoutError
from .pop3 import POP3

# The SMTP and sync modules (and the dataclasses module they need) are
# imported on first use of their names, so a program that only fetches mail
# does not pay for them at start-up (PEP 562). Type checkers see them
# imported.
_LAZY = {
    "SMTP": "smtp",
    "RecipientResult": "smtp",
    "SyncReport": "sync",
    "SyncMessage": "sync",
    "SyncOutcome": "sync",
    "Certificate": "certificate",
    "probe": "_probe",
    "ProbeReport": "_probe",
    "ProbeAttempt": "_probe",
}
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._probe import ProbeAttempt, ProbeReport, probe
    from .certificate import Certificate
    from .smtp import SMTP, RecipientResult
    from .sync import SyncMessage, SyncOutcome, SyncReport


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module("." + _LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

# What `from mailtls import *` binds. TimeoutError and ConnectionError are
# left out on purpose: they carry the names of builtins, and a star import
# must not rebind `TimeoutError` in the importer's namespace. They stay
# reachable as mailtls.TimeoutError and mailtls.ConnectionError, and since
# they subclass the builtins of the same name, `except TimeoutError:`
# after a star import still catches them.
__all__ = [
    "POP3",
    "SMTP",
    "RecipientResult",
    "SyncReport",
    "SyncMessage",
    "SyncOutcome",
    "Certificate",
    "probe",
    "ProbeReport",
    "ProbeAttempt",
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
    "ProxyError",
    "InvalidArgument",
    "Cancelled",
    "FileError",
    "StateError",
    "StateLocked",
    "InternalError",
    "LibraryLoadError",
    "Result",
    "library_version",
    "library_path",
    "__version__",
]


def library_version() -> str:
    """The version string of the loaded libmailtls (e.g. "0.1.0"); loads the
    library if needed."""
    return _lib.load().mailtls_version().decode("ascii", "replace")


def library_path() -> str:
    """The path (or name) libmailtls was loaded from; loads it if needed."""
    _lib.load()
    return _lib.loaded_path() or ""  # set by load()
