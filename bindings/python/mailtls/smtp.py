"""The SMTP submission client class and its per-recipient result type."""

from __future__ import annotations

import collections.abc
import ctypes
import io
import os
import stat
import sys
from dataclasses import dataclass

from . import _lib
from ._session import (
    Session,
    _options_error,
    _Pending,
    c_path,
    c_string,
    invalid,
)
from .errors import ConnectionError, Error, FileError, RecipientsRefused, Result, make_error

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see _session.py); email is imported only when a Message object is sent
    import email.message
    from typing import Any, BinaryIO, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

    from ._session import CertificateCallback, PathLike, TraceCallback

    Message = Union[bytes, bytearray, memoryview, str, email.message.Message, BinaryIO]
    Addresses = Union[str, Iterable[str]]

_DSN_KEYS = ("notify", "ret", "envid", "orcpt")


@dataclass(frozen=True)
class RecipientResult:
    """The server's answer to one recipient (its ``RCPT TO``).

    - ``address``: the address as given to the send call,
    - ``accepted``: True when the server accepted it (a 2xx reply); the
      message went to every accepted recipient,
    - ``code``: the reply code, e.g. 250, 450 (temporary refusal) or 550
      (permanent refusal),
    - ``enhanced``: the enhanced status code, e.g. ``"5.1.1"``, or None when
      the server sent none,
    - ``text``: the text of the reply, without the codes.
    """

    address: str
    accepted: bool
    code: int
    enhanced: Optional[str]
    text: str


class SMTP(Session):
    """An SMTP submission session over verified TLS, connected on
    construction (greeting, EHLO, and TLS as ``security`` says).

    ``SMTP(host, port=None, *, security="auto", ca_file=None, ca_pem=None,
    pin_sha256=None, min_tls="1.2", timeout=60.0, allow_plaintext_auth=False,
    danger_accept_invalid_certs=False, client_name=None, trace=None,
    on_untrusted_certificate=None, proxy=None, proxy_from_environment=False)``

    - ``port``: None means 465 for ``security="tls"`` and 587 otherwise.
    - ``security``: ``"auto"`` (implicit TLS on port 465, required STARTTLS
      on any other port: 587, 25, ...), ``"tls"`` (implicit TLS),
      ``"starttls"`` (required STARTTLS) or ``"none"`` (no encryption;
      logging in then also needs ``allow_plaintext_auth=True``). Nothing
      ever falls back to a weaker mode.
    - ``ca_file`` (path, or a list of paths) and ``ca_pem`` (PEM text as str
      or bytes, or a list of them): CA certificates trusted in addition to
      the system store.
    - ``pin_sha256``: accept exactly the server certificate with this
      SHA-256 fingerprint (hex, colons allowed, any case), whoever signed it.
    - ``min_tls``: ``"1.2"`` or ``"1.3"``.
    - ``timeout``: seconds, for connecting and for each read or write
      (None: the library's defaults, 30 s to connect and 60 s for I/O).
    - ``danger_accept_invalid_certs``: accept any certificate (insecure).
    - ``client_name``: the name given in EHLO (a domain name or an address
      literal such as ``"[192.0.2.1]"``); None: this host's name when it is
      a valid domain name, else ``"localhost"``.
    - ``trace``: ``trace(kind, data)`` with kind ``"info"``, ``"command"`` or
      ``"reply"`` and data the line as bytes; passwords, tokens and AUTH
      payloads are redacted by the library, message content is not traced.
      Exceptions raised by it are ignored.
    - ``on_untrusted_certificate``: ``f(certificate, reason)``, called when
      the server's certificate fails verification (never when it verifies,
      is pinned, or with ``danger_accept_invalid_certs``; not for a pin
      mismatch), after the TLS handshake and before any credential, with a
      :class:`mailtls.Certificate` and the ``CERTIFICATE_*``
      :class:`Result`. Returning exactly True trusts that certificate for
      this connection only (nothing is stored: pass ``certificate.sha256``
      as ``pin_sha256`` next time to keep trusting it); anything else
      refuses, and the connect raises CertificateError. An exception it
      raises refuses too and is re-raised once the connect has failed, with
      the CertificateError as its ``__cause__``. It runs on the connecting
      thread. With the native-tls backend (Windows, macOS) the certificate
      is read on a second connection that stops after the handshake, and
      the callable is asked then.
    - ``proxy``: connect through this proxy, a URL
      ``scheme://[user[:password]@]host[:port]`` with scheme ``socks5h``
      or ``socks5`` (both: the proxy resolves the server's name; nothing
      is looked up here), ``socks4a``, ``http`` (CONNECT, Basic
      authentication) or ``https`` (the same over TLS to the proxy,
      verified with ``ca_file``/``ca_pem`` and ``min_tls``); port 1080 when
      none is given (443 for https). TLS still runs with
      the mail server and is checked against ``host`` as without a proxy.
      Proxy failures raise :class:`mailtls.ProxyError`; the proxy password
      never appears in messages or traces.
    - ``proxy_from_environment``: with no ``proxy``, use the one
      ``all_proxy``/``ALL_PROXY`` names, except for hosts
      ``no_proxy``/``NO_PROXY`` lists (as curl reads them). Off by default.

    Use it as a context manager: leaving the block normally sends QUIT;
    leaving it by an exception drops the connection without QUIT.

    After a refusal (ServerError and its subclasses, AuthError) the session
    goes on and the next message can be sent. After an error that leaves
    the connection in an unknown state (timeout, dropped connection,
    protocol violation, TLS failure, a cancelled send, a 421 reply) the
    connection is closed and later calls raise ConnectionError
    (``code == Result.NOT_CONNECTED``).

    A session must not be used by a callback (message reader, trace) of its
    own; from several threads, calls are serialised.
    """

    _PROTOCOL = "smtp"
    _PORT = 587
    _TLS_PORT = 465
    _CAPABILITIES_FN = "extensions"
    _RESPONSE_CODE_FN = "last_enhanced_code"

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
        client_name: Optional[str] = None,
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
        self._client_name = (
            None if client_name is None else c_string(client_name, "client_name")
        )
        super().__init__(
            host,
            port,
            security=security,
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

    def _configure(self, options: int, **kw: Any) -> None:
        super()._configure(options, **kw)
        if self._client_name is not None:
            rc = self._lib.mailtls_options_set_client_name(options, self._client_name)
            if rc != Result.OK:
                raise _options_error(self._lib, options, rc, "client_name")

    def _error(self, rc: int) -> Error:
        error = super()._error(rc)
        error.smtp_code = self._lib.mailtls_smtp_last_code(self._handle) or None
        return error

    # ---- authentication ------------------------------------------------------

    def login(self, user: str, password: str, mechanism: Optional[str] = None) -> None:
        """AUTH with a password.

        ``mechanism`` is None to let the library pick one both sides support
        (SCRAM first: SCRAM-SHA-256-PLUS, SCRAM-SHA-256, SCRAM-SHA-1-PLUS,
        SCRAM-SHA-1; then, to a verified or pinned server, PLAIN, CRAM-MD5,
        LOGIN; otherwise CRAM-MD5 first; if the server turns a mechanism
        itself down, the next one is tried), or one of those names to force
        it (``"SCRAM-SHA-256"``, ``"PLAIN"``, ``"LOGIN"``, ``"CRAM-MD5"``,
        ...). Raises AuthError when the
        credentials are refused (``smtp_code`` e.g. 535, ``response_code``
        e.g. ``"5.7.8"``; not retried with another mechanism), when no
        common mechanism exists, or when the connection is not encrypted
        and ``allow_plaintext_auth`` is off (nothing is sent then).
        """
        self._login(user, password, mechanism)

    def login_oauth2(self, user: str, token: str) -> None:
        """AUTH with an OAuth 2 bearer token (OAUTHBEARER, else XOAUTH2, as
        the server offers)."""
        self._login_oauth2(user, token)

    def extensions(self) -> Dict[str, List[str]]:
        """The server's EHLO extensions (after STARTTLS, those announced
        over TLS) as a dict of upper-case name to list of arguments, e.g.
        ``{"SIZE": ["1048576"], "AUTH": ["PLAIN", "LOGIN"], "PIPELINING":
        [], ...}``."""
        return self._capabilities()

    # ---- sending -------------------------------------------------------------

    def send(
        self,
        from_addr: str,
        to_addrs: Addresses,
        message: Message,
        *,
        dsn: Optional[Mapping[str, Any]] = None,
    ) -> List[RecipientResult]:
        """Send ``message`` from ``from_addr`` (the envelope sender; ``""``
        for none) to ``to_addrs`` (one address as a str, or an iterable of
        them). Returns one :class:`RecipientResult` per recipient, in order.

        ``message`` is the whole RFC 5322 message (headers, blank line,
        body) as bytes, as str (encoded UTF-8), as an
        ``email.message.Message``, or as a readable binary file object
        (anything with ``readinto`` or ``read``), which is streamed from its
        current position: only a chunk at a time is held in memory. Line
        ends are made CRLF (bare LF and CR too), leading dots are doubled
        and a final line end is added by the library.

        If some recipients are refused, the message goes to the others and
        their entries say why (``accepted`` False, ``code``, ``enhanced``,
        ``text``). If all are refused, RecipientsRefused is raised with the
        entries as ``.results``; nothing was sent.

        ``dsn`` asks for delivery status notifications (RFC 3461) when the
        server offers DSN: a dict with any of ``"notify"`` (``"NEVER"`` or a
        list of ``"SUCCESS"``, ``"FAILURE"``, ``"DELAY"``), ``"ret"``
        (``"FULL"`` or ``"HDRS"``), ``"envid"`` (an identifier of the
        message) and ``"orcpt"`` (True: send each recipient's original
        address). It applies to this send only.

        Raises MessageTooLarge when the message's size is known (bytes, str,
        a regular file, io.BytesIO) and over the server's SIZE, before any
        byte is sent; SmtpUtf8Unavailable for a non-ASCII address when the
        server lacks SMTPUTF8; ServerError (``smtp_code``, ``transient``,
        ``permanent``) when the server refuses the sender or the message;
        InvalidArgument for an address with a line break, NUL, space or
        angle bracket, or no recipient. An exception raised while reading a
        file object cancels the send, closes the connection (the server got
        a partial message and no end, so it discards it) and propagates.
        """
        from_c = c_string(from_addr, "from_addr")
        recipients, count = _recipients(to_addrs)
        dsn_args = _dsn_args(dsn)
        data = _message_bytes(message)
        if data is not None:
            return self._send(
                self._fn("send_bytes"),
                (from_c, recipients, count, data, len(data)),
                dsn_args,
            )
        if not hasattr(message, "read"):
            raise TypeError(
                "message must be bytes, str, an email.message.Message or a readable "
                f"binary file object, not {type(message).__name__}"
            )
        if isinstance(message, io.TextIOBase):
            raise TypeError("a message file object must be opened in binary mode ('rb')")
        pending = _Pending()
        callback = _make_reader(message, pending)  # alive until the call returns
        return self._send(
            self._fn("send"),
            (from_c, recipients, count, callback, None, _stream_size(message)),
            dsn_args,
            pending,
        )

    def send_file(
        self,
        from_addr: str,
        to_addrs: Addresses,
        path: PathLike,
        *,
        dsn: Optional[Mapping[str, Any]] = None,
    ) -> List[RecipientResult]:
        """Send the file at ``path`` (str, bytes or os.PathLike) as the
        message, streamed by the library; otherwise as send(). Raises
        FileError (``filename`` set) if the file cannot be read."""
        from_c = c_string(from_addr, "from_addr")
        recipients, count = _recipients(to_addrs)
        dsn_args = _dsn_args(dsn)
        try:
            return self._send(
                self._fn("send_file"),
                (from_c, recipients, count, c_path(path, "path")),
                dsn_args,
            )
        except FileError as e:
            e.filename = path
            raise

    def send_message(
        self,
        message: Message,
        *,
        dsn: Optional[Mapping[str, Any]] = None,
    ) -> List[RecipientResult]:
        """Send a whole RFC 5322 message with the envelope taken from its
        headers: the sender from ``Sender``, else the first ``From``
        address; a recipient for every ``To``, ``Cc`` and ``Bcc`` address.
        ``Bcc`` header lines are removed from what is sent.

        ``message`` is bytes, str (encoded UTF-8), an
        ``email.message.Message`` or a readable binary file object (read
        whole: the headers decide the envelope). Raises InvalidArgument
        when the headers give no usable sender or recipient; otherwise as
        send().
        """
        dsn_args = _dsn_args(dsn)
        data = _message_bytes(message)
        if data is None:
            if not hasattr(message, "read") or isinstance(message, io.TextIOBase):
                raise TypeError(
                    "message must be bytes, str, an email.message.Message or a "
                    f"readable binary file object, not {type(message).__name__}"
                )
            data = _message_bytes(message.read())
            if data is None:
                raise TypeError("a message file object must return bytes from read()")
        return self._send(self._fn("send_message"), (data, len(data)), dsn_args)

    def send_many(
        self,
        messages: Iterable[Tuple[str, Addresses, Message]],
        *,
        dsn: Optional[Mapping[str, Any]] = None,
    ) -> List[Union[List[RecipientResult], Error]]:
        """Send several messages on this session: the fast way to empty an
        outbox. Each item is ``(from_addr, to_addrs, message)`` as for
        send(), with ``message`` in memory (bytes, str or
        ``email.message.Message``). When the server offers PIPELINING, one
        write carries a message's content with the next message's envelope,
        so each message costs a single round trip.

        Returns one entry per message, in order: its list of
        :class:`RecipientResult` when it was sent, or the exception send()
        would have raised for it (returned, not raised: one refused message
        does not stop the others). A failure of the session itself (timeout,
        dropped connection, 421) is raised, with the entries of the
        messages done so far as its ``outcomes``; the messages after those
        may or may not have been delivered.
        """
        dsn_args = _dsn_args(dsn)
        outcomes: List[Union[List[RecipientResult], Error]] = []
        batch: list = []
        for item in messages:
            batch.append(_batch_item(item))
            if len(batch) == self._BATCH:
                self._send_batch(batch, dsn_args, outcomes)
                batch = []
        if batch:
            self._send_batch(batch, dsn_args, outcomes)
        return outcomes

    #: Messages handed to the library per call of send_many().
    _BATCH = 256

    def _send_batch(self, batch: list, dsn: Optional[tuple], outcomes: list) -> None:
        array = (_lib.SMTP_MESSAGE * len(batch))()
        for slot, (from_c, recipients, count, data) in zip(array, batch):
            slot.from_, slot.recipients, slot.recipient_count = from_c, recipients, count
            slot.data, slot.len = data, len(data)
        done: list = []

        def report(_userdata: Optional[int], index: int, rc: int, results: Optional[int],
                   smtp_code: int, error: Optional[bytes]) -> None:
            # Runs inside the library: never let an exception escape.
            try:
                rows = self._take_results(results, free=False)
                if rc == Result.OK:
                    done.append(rows)
                else:
                    exc = make_error(rc, _text(error) or "", smtp_code=smtp_code or None)
                    if isinstance(exc, RecipientsRefused):
                        exc.results = rows
                    done.append(exc)
            except BaseException as e:  # pragma: no cover - defensive
                done.append(e if isinstance(e, Error) else Error(repr(e), Result.PANIC))

        callback = _lib.BATCH_CALLBACK(report)
        with self._lock:
            if dsn is not None:
                self._call(self._fn("set_dsn"), *dsn)
            try:
                self._call(self._fn("send_batch"), array, len(batch), callback, None)
            except Error as e:
                outcomes.extend(done)
                e.outcomes = list(outcomes)
                raise
            finally:
                if dsn is not None:
                    self._clear_dsn()
        outcomes.extend(done)

    def _send(
        self,
        fn: Any,
        args: tuple,
        dsn: Optional[tuple],
        pending: Optional[_Pending] = None,
    ) -> List[RecipientResult]:
        out = ctypes.c_void_p()
        # One lock for the DSN request, the send and clearing the request,
        # so another thread's send cannot slip in between.
        with self._lock:
            if dsn is not None:
                self._call(self._fn("set_dsn"), *dsn)
            try:
                try:
                    self._call(fn, *args, ctypes.byref(out), pending=pending)
                finally:
                    results = self._take_results(out.value)
            except RecipientsRefused as e:
                e.results = results
                raise
            finally:
                if dsn is not None:
                    self._clear_dsn()
        return results

    def _clear_dsn(self) -> None:
        handle = self._handle
        if handle is not None and not self._busy:
            self._fn("set_dsn")(handle, None, None, None, False)

    def _take_results(self, results: Optional[int], free: bool = True) -> List[RecipientResult]:
        """The per-recipient results as RecipientResult rows; the C object is
        freed unless it is borrowed (``free`` False)."""
        if not results:
            return []
        lib = self._lib
        # Called once per message of an outbox, inside the library's send
        # loop: the accessors are bound once, and their restypes already
        # give bool, int and bytes.
        address, accepted, code, enhanced, text = (
            lib.mailtls_smtp_results_address,
            lib.mailtls_smtp_results_accepted,
            lib.mailtls_smtp_results_code,
            lib.mailtls_smtp_results_enhanced,
            lib.mailtls_smtp_results_text,
        )
        try:
            rows = []
            for i in range(lib.mailtls_smtp_results_count(results)):
                status = enhanced(results, i)
                rows.append(RecipientResult(
                    (address(results, i) or b"").decode("utf-8", "replace"),
                    accepted(results, i),
                    code(results, i),
                    None if status is None else status.decode("utf-8", "replace"),
                    (text(results, i) or b"").decode("utf-8", "replace"),
                ))
            return rows
        finally:
            if free:
                lib.mailtls_smtp_results_free(results)

    # ---- session ---------------------------------------------------------------

    def noop(self) -> None:
        """NOOP: keep the session alive (and check it still is)."""
        self._call(self._fn("noop"))

    def rset(self) -> None:
        """RSET: abandon any transaction in progress."""
        self._call(self._fn("rset"))

    def quit(self) -> None:
        """QUIT: end the session. The connection is closed whatever the
        outcome. Call close() to free the session, or use the context
        manager."""
        self._call(self._fn("quit"))

    def _quit_if_connected(self) -> None:
        try:
            self.quit()
        except ConnectionError as e:
            if e.code != Result.NOT_CONNECTED:
                raise


# ---- helpers ----------------------------------------------------------------


def _text(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else value.decode("utf-8", "replace")


def _recipients(to_addrs: Addresses) -> Tuple[ctypes.Array[ctypes.c_char_p], int]:
    """The recipients as a C array of strings (the array keeps the encoded
    strings alive) and their count."""
    if isinstance(to_addrs, (str, bytes, bytearray)):
        items: Sequence[Any] = [to_addrs]
    else:
        try:
            items = list(to_addrs)
        except TypeError:
            raise TypeError(
                "to_addrs must be an address (str) or an iterable of addresses, "
                f"not {type(to_addrs).__name__}"
            ) from None
    if not items:
        raise invalid("no recipients")
    encoded = [c_string(a, "a recipient address") for a in items]
    return (ctypes.c_char_p * len(encoded))(*encoded), len(encoded)


def _optional_text(dsn: Mapping[str, Any], key: str) -> Optional[bytes]:
    value = dsn.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"dsn[{key!r}] must be a str, not {type(value).__name__}")
    return c_string(value, f"dsn[{key!r}]")


def _batch_item(item: Any) -> tuple:
    """One send_many() item as (from, recipients array, count, data)."""
    try:
        from_addr, to_addrs, message = item
    except (TypeError, ValueError):
        raise TypeError("each message is a (from_addr, to_addrs, message) tuple") from None
    data = _message_bytes(message)
    if data is None:
        raise TypeError(
            "send_many() takes messages in memory (bytes, str or email.message.Message), "
            f"not {type(message).__name__}"
        )
    recipients, count = _recipients(to_addrs)
    return c_string(from_addr, "from_addr"), recipients, count, data


def _dsn_args(dsn: Optional[Mapping[str, Any]]) -> Optional[tuple]:
    """The arguments of mailtls_smtp_set_dsn for a ``dsn`` dict (None: no
    DSN request). Keys and types are checked here, the values by the
    library when sending."""
    if dsn is None:
        return None
    if not isinstance(dsn, collections.abc.Mapping):
        raise TypeError(f"dsn must be a dict, not {type(dsn).__name__}")
    unknown = [k for k in dsn if k not in _DSN_KEYS]
    if unknown:
        raise invalid(
            f"unknown DSN key(s) {', '.join(repr(k) for k in unknown)} "
            f"(expected {', '.join(repr(k) for k in _DSN_KEYS)})"
        )
    notify = dsn.get("notify")
    if notify is not None and not isinstance(notify, str):
        try:
            words = list(notify)
        except TypeError:
            raise TypeError(
                "dsn['notify'] must be \"NEVER\" or a list of \"SUCCESS\", \"FAILURE\", "
                f"\"DELAY\", not {type(notify).__name__}"
            ) from None
        if not words:
            raise invalid("dsn['notify'] is an empty list (use \"NEVER\" for no notification)")
        for w in words:
            if not isinstance(w, str):
                raise TypeError(f"dsn['notify'] items must be str, not {type(w).__name__}")
        notify = ",".join(words)
    notify_c = None if notify is None else c_string(notify, "dsn['notify']")
    orcpt = dsn.get("orcpt", False)
    if not isinstance(orcpt, bool):
        raise TypeError(f"dsn['orcpt'] must be a bool, not {type(orcpt).__name__}")
    return (notify_c, _optional_text(dsn, "ret"), _optional_text(dsn, "envid"), orcpt)


def _message_bytes(message: Any) -> Optional[bytes]:
    """A message given in memory as bytes; None for anything else (a file
    object)."""
    if isinstance(message, bytes):
        return message
    if isinstance(message, (bytearray, memoryview)):
        return bytes(message)
    if isinstance(message, str):
        try:
            return message.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid("the message is not valid Unicode text") from None
    # A Message object means its module is loaded already: no import here.
    email_message = sys.modules.get("email.message")
    if email_message is not None and isinstance(message, email_message.Message):
        return message.as_bytes()
    return None


def _stream_size(f: Any) -> int:
    """The number of bytes left in a file object when that is knowable (a
    regular file, io.BytesIO), else SIZE_UNKNOWN."""
    try:
        if isinstance(f, io.BytesIO):
            with f.getbuffer() as view:
                total = view.nbytes
            return max(0, total - f.tell())
        if not isinstance(f, io.IOBase):
            # tempfile.NamedTemporaryFile & co. wrap the real file object.
            inner = getattr(f, "file", None)
            if not isinstance(inner, io.IOBase):
                return _lib.SIZE_UNKNOWN
            f = inner
        # Only a plain file: a wrapper such as gzip.GzipFile has the
        # fileno() of the compressed file, whose size is not the content's.
        raw = f if isinstance(f, io.FileIO) else getattr(f, "raw", None)
        if not isinstance(f, (io.FileIO, io.BufferedReader, io.BufferedRandom)) or not (
            isinstance(raw, io.FileIO)
        ):
            return _lib.SIZE_UNKNOWN
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return _lib.SIZE_UNKNOWN
        return max(0, st.st_size - f.tell())
    except (OSError, ValueError, AttributeError):
        return _lib.SIZE_UNKNOWN


def _make_reader(f: Any, pending: _Pending) -> Any:
    """A C read callback copying from the file object ``f`` into the
    library's buffer (``readinto`` when ``f`` has it, else ``read``). An
    exception, or a read that returns something other than bytes, is kept
    in ``pending`` and the send cancelled."""
    readinto = getattr(f, "readinto", None)
    read = f.read

    # `buf` is the library's buffer: never NULL.
    def callback(_userdata: Optional[int], buf: int, length: int) -> int:
        try:
            if readinto is not None:
                n = readinto((ctypes.c_ubyte * length).from_address(buf))
                if n is None:
                    raise BlockingIOError("the message file object has no data ready "
                                          "(non-blocking); use a blocking one")
            else:
                data = read(length)
                if data is None:
                    raise BlockingIOError("the message file object has no data ready "
                                          "(non-blocking); use a blocking one")
                if isinstance(data, str):
                    raise TypeError("a message file object must return bytes, not str "
                                    "(open it in binary mode)")
                if not isinstance(data, bytes):
                    data = bytes(data)
                n = len(data)
                if n > length:
                    raise ValueError(f"read({length}) returned {n} bytes")
                if n:
                    ctypes.memmove(buf, data, n)
            if not 0 <= n <= length:
                raise ValueError(f"readinto() of {length} bytes returned {n}")
            return n
        except BaseException as e:  # noqa: B036 - re-raised after the call
            pending.exc = e
            return -1

    return _lib.READ_CALLBACK(callback)
