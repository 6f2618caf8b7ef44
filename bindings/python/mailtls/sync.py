"""Safe mailbox download: the types of :meth:`mailtls.POP3.sync` (its
report, per-message entries and outcomes) and the plumbing it calls.

Imported on first use (``mailtls.SyncReport`` or ``POP3.sync()``), so a
program that never syncs does not pay for dataclasses at start-up.
"""

from __future__ import annotations

import ctypes
import datetime
import enum
import math
from dataclasses import dataclass, field

# At run time too (this module is loaded only when used): the dataclasses'
# annotations resolve with typing.get_type_hints().
from typing import Any, Callable, List, Optional, Tuple, Union

from . import _lib
from ._session import _Pending, c_path, copy_text, invalid
from .errors import MessageTooLarge, Result, make_error

__all__ = ["SyncOutcome", "SyncMessage", "SyncReport"]

Deliver = Callable[[Optional[str], bytes], Any]
ProgressCallback = Callable[[int, int, int, int], Any]
Retention = Union[str, datetime.timedelta]


class SyncOutcome(enum.IntEnum):
    """What a sync did with one message (``MAILTLS_SYNC_OUTCOME_*``)."""

    #: Downloaded and saved by this sync.
    DOWNLOADED = _lib.SYNC_OUTCOME_DOWNLOADED
    #: Saved before: recorded in the state file, or found in the Maildir.
    ALREADY_HAD = _lib.SYNC_OUTCOME_ALREADY_HAD
    #: Larger than ``max_size``: not downloaded, never deleted.
    TOO_LARGE = _lib.SYNC_OUTCOME_TOO_LARGE
    #: Recorded as saved without downloading (``mark_seen=True``).
    MARKED_SEEN = _lib.SYNC_OUTCOME_MARKED_SEEN
    #: The server refused to send it (deleted by another client since the
    #: listing, say): not saved, not deleted; the next sync tries again.
    UNAVAILABLE = _lib.SYNC_OUTCOME_UNAVAILABLE


@dataclass(frozen=True)
class SyncMessage:
    """One message of the server's listing, as a sync dealt with it.

    - ``uid``: its unique id (UIDL), or None from a server without UIDL,
    - ``size``: its size in octets by LIST,
    - ``outcome``: a :class:`SyncOutcome`,
    - ``deleted``: True once the server confirmed its deletion (its +OK to
      QUIT, which is when POP3 deletes).
    """

    uid: Optional[str]
    size: int
    outcome: SyncOutcome
    deleted: bool


@dataclass(frozen=True)
class SyncReport:
    """What a sync did: totals, and one :class:`SyncMessage` per message
    of the server's listing in ``messages`` (in the order the sync went
    through them, not by message number).

    - ``downloaded``: messages downloaded and saved,
    - ``already_had``: messages the destination already had,
    - ``too_large``: messages skipped as larger than ``max_size``,
    - ``marked_seen``: messages recorded without downloading (``mark_seen``),
    - ``unavailable``: messages the server refused to send,
    - ``deleted``: messages deleted on the server, counted only after the
      server's +OK to QUIT,
    - ``bytes``: octets downloaded, as the server sent them.
    """

    downloaded: int
    already_had: int
    too_large: int
    marked_seen: int
    unavailable: int
    deleted: int
    bytes: int
    messages: List[SyncMessage] = field(default_factory=list)


_RETENTION_NAMES = {"leave": _lib.RETENTION_LEAVE_ON_SERVER, "delete": _lib.RETENTION_DELETE_AFTER_SAVING}


def retention_code(retention: Any) -> Tuple[int, int]:
    """``(MAILTLS_RETENTION_*, keep_seconds)`` for a ``retention`` argument:
    "leave", "delete", or a datetime.timedelta (delete that long after the
    first sighting, rounded up to whole seconds: never earlier than asked)."""
    if isinstance(retention, datetime.timedelta):
        seconds = retention.total_seconds()
        if seconds < 0:
            raise invalid(f"retention must not be a negative time, not {retention}")
        return _lib.RETENTION_DELETE_AFTER, math.ceil(seconds)
    key = retention.lower() if isinstance(retention, str) else None
    if key not in _RETENTION_NAMES:
        raise invalid(
            f"unknown retention {retention!r} (expected 'leave', 'delete' or a "
            "datetime.timedelta, e.g. timedelta(days=30))"
        )
    return _RETENTION_NAMES[key], 0


def size_limit(max_size: Any) -> int:
    """``max_size`` as the library's limit (0: none)."""
    if max_size is None:
        return 0
    if isinstance(max_size, bool) or not isinstance(max_size, int):
        raise TypeError(f"max_size must be an int or None, not {type(max_size).__name__}")
    if not 1 <= max_size < 2**64:
        raise invalid(f"max_size must be from 1 to {2**64 - 1} octets, not {max_size}")
    return max_size


class Options:
    """A mailtls_sync_options handle, freed by close()."""

    def __init__(
        self, state: Any, retention: Tuple[int, int], max_bytes: int, mark_seen: bool, progress: Any
    ) -> None:
        lib = self._lib = _lib.load()
        self.handle = lib.mailtls_sync_options_new()
        if not self.handle:
            raise MemoryError("mailtls_sync_options_new failed")
        try:
            self._check(lib.mailtls_sync_options_set_state_file(self.handle, c_path(state, "state")))
            self._check(lib.mailtls_sync_options_set_retention(self.handle, *retention))
            self._check(lib.mailtls_sync_options_set_max_message_bytes(self.handle, max_bytes))
            self._check(lib.mailtls_sync_options_set_mark_seen_only(self.handle, bool(mark_seen)))
            if progress is not None:
                self._check(lib.mailtls_sync_options_set_progress(self.handle, progress, None))
        except BaseException:
            self.close()
            raise

    def _check(self, rc: int) -> None:
        if rc != Result.OK:
            message = copy_text(self._lib.mailtls_sync_options_last_error, self.handle)
            raise make_error(rc, message or "invalid sync options")

    def close(self) -> None:
        handle, self.handle = self.handle, None
        if handle:
            self._lib.mailtls_sync_options_free(handle)


def make_progress(progress: ProgressCallback, pending: _Pending) -> Any:
    """A C progress callback calling ``progress(done_messages,
    total_messages, done_bytes, total_bytes)``: False cancels; an exception
    is kept in ``pending`` and cancels."""

    def callback(_userdata: Optional[int], done_m: int, total_m: int, done_b: int, total_b: int) -> int:
        try:
            return 1 if progress(done_m, total_m, done_b, total_b) is False else 0
        except BaseException as e:  # noqa: B036 - re-raised after the call
            pending.exc = e
            return 1

    return _lib.SYNC_PROGRESS_CALLBACK(callback)


def make_delivery(deliver: Deliver, limit: int, pending: _Pending) -> Any:
    """A C message callback gathering each message (at most ``limit``
    bytes) and handing it whole to ``deliver(uid, message)`` on END; the
    message counts as saved only when that returns. An exception (of
    ``deliver``, or MessageTooLarge for a message longer than the server
    announced and over ``limit``) is kept in ``pending`` and stops the
    sync."""
    chunks: List[bytes] = []
    held = 0

    def callback(
        _userdata: Optional[int],
        event: int,
        uid: Optional[bytes],
        _size: int,
        data: Optional[int],
        length: int,
    ) -> int:
        nonlocal held
        try:
            if event == _lib.SYNC_EVENT_BEGIN or event == _lib.SYNC_EVENT_ABANDON:
                chunks.clear()
                held = 0
            elif event == _lib.SYNC_EVENT_DATA:
                held += length
                if held > limit:
                    raise MessageTooLarge(
                        f"a message is larger than the limit of {limit} bytes held in memory",
                        Result.MESSAGE_TOO_LARGE,
                    )
                if data and length:
                    chunks.append(ctypes.string_at(data, length))
            elif event == _lib.SYNC_EVENT_END:
                message = b"".join(chunks)
                chunks.clear()
                held = 0
                deliver(None if uid is None else uid.decode("utf-8", "replace"), message)
            return 0
        except BaseException as e:  # noqa: B036 - re-raised after the call
            chunks.clear()
            if pending.exc is None:
                pending.exc = e
            return 1

    return _lib.SYNC_MESSAGE_CALLBACK(callback)


def read_report(report: Optional[int]) -> SyncReport:
    """Copy a mailtls_sync_report into a SyncReport (the caller frees it;
    NULL reads as an empty report)."""
    lib = _lib.load()
    messages = []
    for i in range(lib.mailtls_sync_report_count(report)):
        uid = lib.mailtls_sync_report_uid(report, i)
        messages.append(SyncMessage(
            uid=None if uid is None else uid.decode("utf-8", "replace"),
            size=lib.mailtls_sync_report_size(report, i),
            outcome=SyncOutcome(lib.mailtls_sync_report_outcome(report, i)),
            deleted=bool(lib.mailtls_sync_report_deleted_at(report, i)),
        ))
    return SyncReport(
        downloaded=lib.mailtls_sync_report_downloaded(report),
        already_had=lib.mailtls_sync_report_already_had(report),
        too_large=lib.mailtls_sync_report_too_large(report),
        marked_seen=lib.mailtls_sync_report_marked_seen(report),
        unavailable=lib.mailtls_sync_report_unavailable(report),
        deleted=lib.mailtls_sync_report_deleted(report),
        bytes=lib.mailtls_sync_report_bytes(report),
        messages=messages,
    )
