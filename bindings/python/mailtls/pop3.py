"""The POP3 client class."""

from __future__ import annotations

import ctypes

from . import _lib
from ._session import (
    Session,
    _options_error,
    _Pending,
    c_path,
    invalid,
    make_data_sink,
    message_number,
    u32_array,
)
from .errors import (
    ConnectionError,
    Error,
    FileError,
    InternalError,
    MessageTooLarge,
    ProtocolError,
    Result,
    ServerError,
    StateError,
    StateLocked,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (see _session.py)
    from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union, overload

    from ._session import CertificateCallback, PathLike, TraceCallback
    from .sync import Deliver, ProgressCallback, Retention, SyncReport

    Sink = Callable[[bytes], Any]


class POP3(Session):
    """A POP3 session over verified TLS, connected on construction.

    ``POP3(host, port=None, *, security="auto", ca_file=None, ca_pem=None,
    pin_sha256=None, min_tls="1.2", timeout=60.0, allow_plaintext_auth=False,
    danger_accept_invalid_certs=False, max_message_bytes=None, trace=None,
    on_untrusted_certificate=None, proxy=None, proxy_from_environment=False)``

    - ``port``: None means 995 for ``security="tls"`` and 110 otherwise.
    - ``security``: ``"auto"`` (implicit TLS on port 995, required STLS on
      any other port), ``"tls"`` (implicit TLS), ``"starttls"`` (required
      STLS) or ``"none"`` (no encryption; logging in then also needs
      ``allow_plaintext_auth=True``). Nothing ever falls back to a weaker
      mode.
    - ``ca_file`` (path, or a list of paths) and ``ca_pem`` (PEM text as str
      or bytes, or a list of them): CA certificates trusted in addition to
      the system store.
    - ``pin_sha256``: accept exactly the server certificate with this
      SHA-256 fingerprint (hex, colons allowed, any case), whoever signed it.
    - ``min_tls``: ``"1.2"`` or ``"1.3"``.
    - ``timeout``: seconds, for connecting and for each read or write
      (None: the library's defaults, 30 s to connect and 60 s for I/O).
    - ``danger_accept_invalid_certs``: accept any certificate (insecure).
    - ``max_message_bytes``: the most bytes retr(), top() and retr_many()
      hold in memory for one message; a larger one raises MessageTooLarge
      (None: 256 MiB). Streaming to a sink or a file has no limit.
    - ``trace``: ``trace(kind, data)`` with kind ``"info"``, ``"command"`` or
      ``"reply"`` and data the line as bytes; secrets are redacted by the
      library. Exceptions raised by it are ignored.
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

    Use it as a context manager: leaving the block normally sends QUIT
    (committing deletions); leaving it by an exception drops the connection
    without QUIT, so no deletion is committed.

    A session must not be used by a callback (sink, trace) of its own; from
    several threads, calls are serialised.
    """

    _PROTOCOL = "pop3"
    _PORT = 110
    _TLS_PORT = 995
    # retr_many() offers the library up to this many numbers per call; the
    # library takes as many as fit in its byte budget by their LIST sizes
    # (MAILTLS_RETR_BATCH_BUDGET, 16 MiB), and at least one.
    _RETR_MANY_MAX_BATCH = 1024

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
        max_message_bytes: Optional[int] = None,
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
        # Set on the options whatever the value, so that the library's
        # limit (retr, retr_many) and the one applied here (top) agree.
        self._max_message_bytes = _message_limit(max_message_bytes)
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
        rc = self._lib.mailtls_options_set_max_message_bytes(options, self._max_message_bytes)
        if rc != Result.OK:
            raise _options_error(self._lib, options, rc, "max_message_bytes")

    # ---- authentication ------------------------------------------------------

    def login(self, user: str, password: str, mechanism: Optional[str] = None) -> None:
        """Log in with a password.

        ``mechanism`` is None to let the library pick one both sides support
        (SCRAM first: SCRAM-SHA-256-PLUS, SCRAM-SHA-256, SCRAM-SHA-1-PLUS,
        SCRAM-SHA-1, which never send the password; then, to a verified or
        pinned server, PLAIN, CRAM-MD5, LOGIN, APOP, USER; otherwise
        CRAM-MD5 first, so the password itself never goes to a server that
        did not prove who it is), or one of those names to force it
        (``"SCRAM-SHA-256"``, ``"USER"``, ``"APOP"``, ``"PLAIN"``,
        ``"LOGIN"``, ``"CRAM-MD5"``, ...). A server that accepts logins
        only over TLS raises EncryptionRequired (an AuthError).
        Raises AuthError when refused (``reply`` and ``response_code`` say
        why); the session goes on and login may be tried again.
        """
        self._login(user, password, mechanism)

    def login_oauth2(self, user: str, token: str) -> None:
        """Log in with an OAuth 2 bearer token (OAUTHBEARER or XOAUTH2, as
        the server offers)."""
        self._login_oauth2(user, token)

    def capabilities(self) -> Dict[str, List[str]]:
        """The server's capabilities (CAPA; after STLS, those sent over TLS)
        as a dict of upper-case name to list of arguments, e.g.
        ``{"SASL": ["PLAIN", "LOGIN"], "TOP": [], ...}``."""
        return self._capabilities()

    # ---- mailbox -----------------------------------------------------------

    def stat(self) -> Tuple[int, int]:
        """STAT: ``(number of messages, total size in octets)``."""
        count, octets = ctypes.c_uint32(), ctypes.c_uint64()
        self._call(self._fn("stat"), ctypes.byref(count), ctypes.byref(octets))
        return count.value, octets.value

    # Which form a call returns, for type checkers (at run time only the
    # definition below exists: typing is not imported, see _session.py).
    if TYPE_CHECKING:

        @overload
        def list(self) -> List[Tuple[int, int]]: ...

        @overload
        def list(self, n: int) -> int: ...

    def list(self, n: Optional[int] = None) -> Union[List[Tuple[int, int]], int]:
        """LIST: every message as ``(number, octets)``; with ``n``, the size
        of message ``n`` in octets."""
        if n is not None:
            octets = ctypes.c_uint64()
            self._call(self._fn("list_one"), message_number(n), ctypes.byref(octets))
            return octets.value
        return [(num, _size(num, octets)) for num, octets, _ in self._listing("list")]

    if TYPE_CHECKING:

        @overload
        def uidl(self) -> List[Tuple[int, str]]: ...

        @overload
        def uidl(self, n: int) -> str: ...

    def uidl(self, n: Optional[int] = None) -> Union[List[Tuple[int, str]], str]:
        """UIDL: every message as ``(number, unique id)``; with ``n``, the
        unique id of message ``n``."""
        if n is not None:
            buf = ctypes.create_string_buffer(72)  # 71 bytes always suffice
            self._call(self._fn("uidl_one"), message_number(n), buf, len(buf), None)
            return buf.value.decode("utf-8", "replace")
        return [(num, _unique_id(num, uid)) for num, _, uid in self._listing("uidl")]

    def list_uidl(self) -> List[Tuple[int, Optional[int], Optional[str]]]:
        """LIST and UIDL together (pipelined when the server allows): every
        message as ``(number, octets, unique id)``; octets is None for a
        message that UIDL named and LIST did not."""
        return [
            (num, None if octets == _lib.OCTETS_UNKNOWN else octets, uid)
            for num, octets, uid in self._listing("list_uidl")
        ]

    def _listing(self, which: str) -> List[Tuple[int, int, Optional[str]]]:
        """The entries of a listing as the library gives them: octets
        _lib.OCTETS_UNKNOWN and uid None where not known."""
        out = ctypes.c_void_p()
        self._call(self._fn(which), ctypes.byref(out))
        lib, listing = self._lib, out.value
        try:
            entries = []
            for i in range(lib.mailtls_pop3_listing_count(listing)):
                uid = lib.mailtls_pop3_listing_uid(listing, i)
                entries.append((
                    lib.mailtls_pop3_listing_number(listing, i),
                    lib.mailtls_pop3_listing_octets(listing, i),
                    None if uid is None else uid.decode("utf-8", "replace"),
                ))
            return entries
        finally:
            lib.mailtls_pop3_listing_free(listing)

    # ---- messages ------------------------------------------------------------

    if TYPE_CHECKING:

        @overload
        def retr(self, n: int, sink: None = None) -> bytes: ...

        @overload
        def retr(self, n: int, sink: Sink) -> None: ...

    def retr(self, n: int, sink: Optional[Sink] = None) -> Optional[bytes]:
        """RETR: message ``n`` as bytes, exactly as stored (CRLF line ends,
        dot-unstuffed).

        With ``sink``, stream it instead: ``sink(chunk)`` is called for each
        chunk and None is returned. A sink that raises cancels the transfer,
        the connection is dropped without QUIT (deletions not committed),
        and the sink's exception propagates.

        Without a sink the message is held in memory, up to
        ``max_message_bytes`` (256 MiB unless set); a larger one raises
        MessageTooLarge and drops the connection, as a cancelled transfer
        does.
        """
        n = message_number(n)
        if sink is not None:
            self._stream(self._fn("retr"), (n,), sink)
            return None
        out = ctypes.c_void_p()
        self._call(self._fn("retr_bytes"), n, ctypes.byref(out))
        return self._take_buffer(out.value)

    if TYPE_CHECKING:

        @overload
        def top(self, n: int, lines: int, sink: None = None) -> bytes: ...

        @overload
        def top(self, n: int, lines: int, sink: Sink) -> None: ...

    def top(self, n: int, lines: int, sink: Optional[Sink] = None) -> Optional[bytes]:
        """TOP: the headers, the blank line and the first ``lines`` body
        lines of message ``n`` as bytes (or streamed to ``sink`` as in
        retr()), held to ``max_message_bytes`` as retr() is."""
        n = message_number(n)
        if isinstance(lines, bool) or not isinstance(lines, int):
            raise TypeError(f"lines must be an int, not {type(lines).__name__}")
        if not 0 <= lines < 2**32:
            raise invalid(f"lines must be from 0 to {2**32 - 1}, not {lines}")
        if sink is not None:
            self._stream(self._fn("top"), (n, lines), sink)
            return None
        chunks: List[bytes] = []
        limit = self._max_message_bytes
        held = 0

        def gather(chunk: bytes) -> None:
            # The library streams TOP without a limit: hold it to the one
            # retr() has, or a hostile server could fill the memory.
            nonlocal held
            held += len(chunk)
            if held > limit:
                raise MessageTooLarge(
                    f"the message is larger than the limit of {limit} bytes", Result.MESSAGE_TOO_LARGE
                )
            chunks.append(chunk)

        self._stream(self._fn("top"), (n, lines), gather)
        return b"".join(chunks)

    def retr_to_file(self, n: int, path: PathLike) -> None:
        """RETR message ``n`` into the file at ``path`` (str or os.PathLike),
        created or replaced. The library writes a temporary file beside it
        and renames it into place when complete, so a failure leaves no
        partial file. Raises FileError if the file cannot be written."""
        n = message_number(n)
        try:
            self._call(self._fn("retr_to_file"), n, c_path(path, "path"))
        except FileError as e:
            e.filename = path
            raise

    def retr_many(self, numbers: Iterable[int]) -> Iterator[Tuple[int, bytes]]:
        """RETR many messages, pipelined where the server allows: yields
        ``(number, message bytes)`` in the order given.

        Numbers are checked now; messages are fetched as the iterator is
        consumed, a batch at a time (so memory stays bounded). If the server
        refuses one (e.g. no such message), the messages before it are
        yielded and then ServerError is raised. Each message is held to
        ``max_message_bytes`` as in retr().
        """
        numbers = [message_number(n) for n in numbers]
        return self._retr_many(numbers)

    def _retr_many(self, numbers: List[int]) -> Iterator[Tuple[int, bytes]]:
        # One library call per batch fills one buffer with the batch's
        # messages: no Python callback per message or chunk. The library
        # bounds a batch by bytes; each message is copied out of the buffer
        # once, and the buffer is freed before the next batch.
        start = 0
        while start < len(numbers):
            batch = numbers[start:start + self._RETR_MANY_MAX_BATCH]
            buffer = ctypes.c_void_p()
            ends = (ctypes.c_uint64 * len(batch))()
            count = ctypes.c_size_t()
            error = None
            try:
                self._call(self._fn("retr_batch"), (ctypes.c_uint32 * len(batch))(*batch), len(batch),
                           ctypes.byref(buffer), ends, ctypes.byref(count))
            except ServerError as e:
                error = e  # the messages before the refused one came whole
            messages = self._split_buffer(buffer.value, ends[:count.value])
            start += count.value
            yield from zip(batch, messages)
            if error is not None:
                raise error
            if count.value == 0:
                raise InternalError("the library took no message of a batch", Result.PANIC)

    # ---- sync -------------------------------------------------------------------

    def sync(
        self,
        state: PathLike,
        maildir: Optional[PathLike] = None,
        *,
        deliver: Optional[Deliver] = None,
        retention: Retention = "leave",
        max_size: Optional[int] = None,
        mark_seen: bool = False,
        progress: Optional[ProgressCallback] = None,
    ) -> SyncReport:
        """Download what is new in the mailbox, safely, and end the session
        with QUIT. Returns a :class:`~mailtls.SyncReport`.

        The session must be logged in. ``state`` is the account's state
        file (a path; created by the first sync), which remembers what was
        downloaded: one per account and destination. The destination is
        exactly one of:

        - ``maildir``: a Maildir directory (created with tmp/, new/ and cur/
          if missing). Each message is stored as the server sent it,
          dot-unstuffed, with LF line ends, nothing added (as Dovecot, mpop
          and getmail store mail), in a file named after the account (a tag
          from the state file's path), its UID and size;
        - ``deliver``: a callable ``deliver(uid, message)`` given each new
          message whole as bytes (CRLF line ends, as on the wire) and its
          UID (a str; None only from a server without UIDL). The message
          counts as saved when ``deliver`` returns; if it raises, the
          message is not saved, the sync stops, nothing more is deleted and
          the exception propagates as is. A message larger than the
          session's ``max_message_bytes`` (256 MiB unless set) is skipped
          as too large, as with ``max_size``.

        ``retention``: ``"leave"`` (the default: leave every message on the
        server, "leave a copy on the server"), ``"delete"`` (delete each
        message once saved: classic POP3; the only mode for a server
        without UIDL) or a ``datetime.timedelta`` (leave messages on the
        server and delete each that long after this state first saw it, on
        the wall clock, as mpop's ``keep`` does; ``timedelta(0)`` deletes
        once saved). ``max_size``: skip messages larger than this many
        octets (by LIST): reported as too large, never deleted.
        ``mark_seen=True``: download nothing, record every message now on
        the server as already saved (an account added to a program that
        already has its mail); later syncs fetch only newer mail.

        ``progress(done_messages, total_messages, done_bytes, total_bytes)``
        is called before the first download, after each message and every
        256 KiB within a large one (totals of what this sync means to
        download, sizes by LIST); it returns False to cancel (Cancelled is
        raised), anything else (None, True) to go on; an exception raised
        by it cancels too and propagates as is. Callbacks must not use this
        session.

        The guarantees:

        - Nothing is lost: a message is deleted on the server only after
          it is durably saved (Maildir: file flushed, renamed into new/, the
          directory flushed; ``deliver``: it returned) and its UID is
          flushed to the state. Killing the process at any moment, or a
          dropped connection, leaves every message on the server or saved,
          or both.
        - A Maildir never gets a message twice, even after a crash or with
          the state file lost. ``deliver`` is at least once: after a crash a
          message saved but not yet recorded is given again, with the same
          UID to de-duplicate by.
        - The state file is appended to and flushed, and locked
          (``<state>.lock``): a second sync of the same state raises
          StateLocked at once. A state that cannot be read raises
          StateError (never taken for "everything is new").
        - Without UIDL only ``retention="delete"`` works (otherwise
          UidlUnavailable, nothing done). A known UID whose size changed is
          downloaded again and not deleted on the old record's strength.
        - Deletions happen at QUIT: ``deleted`` counts only messages the
          server confirmed with its +OK to QUIT.

        Raises InvalidArgument (before any I/O) for a bad argument,
        neither or both of ``maildir`` and ``deliver``; StateLocked,
        StateError, UidlUnavailable, FileError (the state or the Maildir
        could not be written, e.g. a full disk), Cancelled, and the
        network, server and protocol errors of the other calls. What was
        saved before a failure stays saved and recorded, and the exception
        carries the partial report as ``.report`` (None if the sync did not
        start). After a failure the connection is closed without QUIT, so
        nothing more is deleted.
        """
        from . import sync as _sync

        if (maildir is None) == (deliver is None):
            raise invalid("give exactly one of maildir and deliver")
        if deliver is not None and not callable(deliver):
            raise TypeError("deliver must be callable as deliver(uid, message)")
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable as progress(done_messages, "
                            "total_messages, done_bytes, total_bytes)")
        retention_c = _sync.retention_code(retention)
        limit = _sync.size_limit(max_size)
        state_c = c_path(state, "state")
        maildir_c = None if maildir is None else c_path(maildir, "maildir")
        if deliver is not None:
            # deliver() gets each message whole: hold no more than retr() would.
            limit = min(limit or self._max_message_bytes, self._max_message_bytes)
        pending = _Pending()
        # The C callbacks stay referenced here until the call returns.
        progress_c = None if progress is None else _sync.make_progress(progress, pending)
        options = _sync.Options(state_c, retention_c, limit, mark_seen, progress_c)
        report = ctypes.c_void_p()
        try:
            if maildir_c is not None:
                args: tuple = (self._fn("sync_maildir"), options.handle, maildir_c)
            else:
                assert deliver is not None
                delivery_c = _sync.make_delivery(deliver, limit, pending)
                args = (self._fn("sync"), options.handle, delivery_c, None)
            try:
                self._call(*args, ctypes.byref(report), pending=pending)
            except Error as e:
                if report.value:
                    e.report = _sync.read_report(report.value)
                if isinstance(e, (StateLocked, StateError)):
                    e.filename = state
                raise
            return _sync.read_report(report.value)
        finally:
            options.close()
            if report.value:
                self._lib.mailtls_sync_report_free(report.value)

    def dele(self, n: int) -> None:
        """DELE: mark message ``n`` deleted (QUIT commits, RSET undoes)."""
        self._call(self._fn("dele"), message_number(n))

    def dele_many(self, numbers: Iterable[int]) -> None:
        """DELE for many messages, pipelined where the server allows. Every
        message is attempted: ServerError names the refused ones, and all
        the others stay marked (RSET undoes that)."""
        array = u32_array(numbers)
        self._call(self._fn("dele_many"), array, len(array))

    def rset(self) -> None:
        """RSET: unmark every message marked deleted in this session."""
        self._call(self._fn("rset"))

    def noop(self) -> None:
        """NOOP: keep the session alive."""
        self._call(self._fn("noop"))

    def quit(self) -> None:
        """QUIT: end the session; the server removes the messages marked
        deleted. The connection is closed whatever the outcome (ServerError:
        the server could not remove some). Call close() to free the session,
        or use the context manager."""
        self._call(self._fn("quit"))

    def _quit_if_connected(self) -> None:
        try:
            self.quit()
        except ConnectionError as e:
            if e.code != Result.NOT_CONNECTED:
                raise

    # ---- plumbing --------------------------------------------------------------

    def _stream(self, fn: Callable, args: tuple, sink: Sink) -> None:
        if not callable(sink):
            raise TypeError("sink must be callable as sink(chunk)")
        pending = _Pending()
        callback = make_data_sink(sink, pending)  # alive until the call returns
        self._call(fn, *args, callback, None, pending=pending)

    def _split_buffer(self, buffer: Optional[int], ends: List[int]) -> List[bytes]:
        """The messages of a retr_batch buffer, each copied out once (read
        through a memoryview of the library's buffer, not a copy of the
        whole); the buffer is freed."""
        if not buffer:
            return []
        lib = self._lib
        try:
            length = lib.mailtls_buffer_len(buffer)
            if not length:
                return [b"" for _ in ends]
            data = (ctypes.c_char * length).from_address(lib.mailtls_buffer_data(buffer))
            view = memoryview(data).cast("B")
            messages = []
            begin = 0
            for end in ends:
                messages.append(bytes(view[begin:end]))
                begin = end
            view.release()
            return messages
        finally:
            lib.mailtls_buffer_free(buffer)

    def _take_buffer(self, buffer: Optional[int]) -> bytes:
        lib = self._lib
        try:
            length = lib.mailtls_buffer_len(buffer)
            return ctypes.string_at(lib.mailtls_buffer_data(buffer), length) if length else b""
        finally:
            lib.mailtls_buffer_free(buffer)


# A LIST entry always has a size and a UIDL entry a unique id: the library's
# "not known" markers must never reach the caller as a value (or as None).


def _size(number: int, octets: int) -> int:
    if octets == _lib.OCTETS_UNKNOWN:
        raise ProtocolError(f"LIST gave no size for message {number}", Result.PROTOCOL_ERROR)
    return octets


def _unique_id(number: int, uid: Optional[str]) -> str:
    if uid is None:
        raise ProtocolError(f"UIDL gave no unique id for message {number}", Result.PROTOCOL_ERROR)
    return uid


def _message_limit(value: Optional[int]) -> int:
    if value is None:
        return _lib.DEFAULT_MAX_MESSAGE_BYTES
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_message_bytes must be an int or None, not {type(value).__name__}")
    if not 1 <= value < 2**64:
        raise invalid(f"max_message_bytes must be from 1 to {2**64 - 1}, not {value}")
    return value
