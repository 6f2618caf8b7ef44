"""The server's certificate as :class:`mailtls.CertificateError` and the
``on_untrusted_certificate`` callback show it.

Imported on first use (a certificate failure, the callback, or
``mailtls.Certificate``), so a program whose servers verify does not pay
for dataclasses and datetime at start-up.
"""

from __future__ import annotations

import ctypes
import datetime
from dataclasses import dataclass

# At run time too (this module is loaded only when used): the dataclass's
# annotations resolve with typing.get_type_hints().
from typing import Any, Optional, Tuple

__all__ = ["Certificate"]


@dataclass(frozen=True)
class Certificate:
    """A server certificate (the chain's leaf): what a person checks before
    trusting it, and the fingerprint to pin (``POP3(..., pin_sha256=...)``)."""

    #: SHA-256 of the DER, 64 lowercase hex digits (the form pin_sha256 takes).
    sha256: str
    #: The subject's distinguished name, e.g. ``"O=Example, CN=mail.example"``.
    subject: str
    #: The issuer's distinguished name (the subject's, when self-signed).
    issuer: str
    #: The host names and addresses it is valid for (subject alternative
    #: names, or the common name when it has none).
    names: Tuple[str, ...]
    #: Validity, as timezone-aware datetimes in UTC.
    not_before: datetime.datetime
    not_after: datetime.datetime
    #: Issued by itself.
    self_signed: bool
    #: The certificate, DER-encoded.
    der: bytes


def _utc(seconds: int) -> datetime.datetime:
    # From the epoch by addition: fromtimestamp() fails before 1970 on some
    # platforms and after 3000 on others.
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    try:
        return epoch + datetime.timedelta(seconds=seconds)
    except OverflowError:
        edge = datetime.datetime.max if seconds > 0 else datetime.datetime.min
        return edge.replace(tzinfo=datetime.timezone.utc)


def read(lib: Any, cert: Optional[int]) -> Optional[Certificate]:
    """A copy of the borrowed ``mailtls_certificate`` at ``cert`` (None for
    NULL); call it while the certificate is valid."""
    if not cert:
        return None

    def text(raw: Optional[bytes]) -> str:
        return (raw or b"").decode("utf-8", "replace")

    names = []
    for i in range(lib.mailtls_certificate_name_count(cert)):
        name = lib.mailtls_certificate_name(cert, i)
        if name is not None:
            names.append(text(name))
    length = ctypes.c_size_t(0)
    der = lib.mailtls_certificate_der(cert, ctypes.byref(length))
    return Certificate(
        sha256=text(lib.mailtls_certificate_sha256(cert)),
        subject=text(lib.mailtls_certificate_subject(cert)),
        issuer=text(lib.mailtls_certificate_issuer(cert)),
        names=tuple(names),
        not_before=_utc(lib.mailtls_certificate_not_before(cert)),
        not_after=_utc(lib.mailtls_certificate_not_after(cert)),
        self_signed=bool(lib.mailtls_certificate_self_signed(cert)),
        der=ctypes.string_at(der, length.value) if der and length.value else b"",
    )
