"""Finding and loading libmailtls, and the ctypes prototypes of its C API.

Every C function the package calls is declared in ``_PROTOTYPES`` with its
exact ``restype`` and ``argtypes`` (see ``include/mailtls.h``): handles are
``c_void_p`` so ctypes never truncates a pointer to a C ``int``, result codes
are ``c_uint32``, sizes ``c_size_t``.

The library is loaded on first use, not at import time, so ``import mailtls``
works (and ``help(mailtls)`` reads) even where the library is missing.
"""

from __future__ import annotations

import _thread
import ctypes
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)

# The C API version this binding was written against (the header's
# MAILTLS_VERSION_* constants).
VERSION_MAJOR = 0
VERSION_MINOR = 1
VERSION_PATCH = 0

# Constants of include/mailtls.h.
SECURITY_AUTO = 0
SECURITY_TLS = 1
SECURITY_STARTTLS = 2
SECURITY_NONE = 3
TLS_1_2 = 0
TLS_1_3 = 1
TRACE_INFO = 0
TRACE_COMMAND = 1
TRACE_REPLY = 2
PROTOCOL_POP3 = 1
PROTOCOL_SMTP = 2
PROBE_LOGIN_NOT_ASKED = 0
PROBE_LOGIN_NOT_TRIED = 1
PROBE_LOGIN_SUCCEEDED = 2
PROBE_LOGIN_FAILED = 3
OCTETS_UNKNOWN = 2**64 - 1
# The options' default in-memory message limit (mailtls_options_new()).
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
SIZE_UNKNOWN = 2**64 - 1
RETENTION_LEAVE_ON_SERVER = 0
RETENTION_DELETE_AFTER_SAVING = 1
RETENTION_DELETE_AFTER = 2
SYNC_EVENT_BEGIN = 0
SYNC_EVENT_DATA = 1
SYNC_EVENT_END = 2
SYNC_EVENT_ABANDON = 3
SYNC_OUTCOME_NONE = 0
SYNC_OUTCOME_DOWNLOADED = 1
SYNC_OUTCOME_ALREADY_HAD = 2
SYNC_OUTCOME_TOO_LARGE = 3
SYNC_OUTCOME_MARKED_SEEN = 4
SYNC_OUTCOME_UNAVAILABLE = 5

# Callback types. Data pointers are c_void_p (not c_char_p, which would stop
# at the first NUL and copy); the Python side copies exactly `len` bytes with
# ctypes.string_at.
TRACE_CALLBACK = CFUNCTYPE(None, c_void_p, c_uint32, c_void_p, c_size_t)
DATA_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
MESSAGE_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_uint32, c_void_p, c_size_t)
# mailtls_read_callback: (userdata, buf, len) -> bytes written, 0 at the end,
# negative to cancel.
READ_CALLBACK = CFUNCTYPE(c_int64, c_void_p, c_void_p, c_size_t)
# mailtls_batch_callback(userdata, index, result, results, smtp_code, error)
BATCH_CALLBACK = CFUNCTYPE(None, c_void_p, c_size_t, c_uint32, c_void_p, c_uint32, c_char_p)
# mailtls_sync_progress_callback(userdata, done_messages, total_messages,
# done_bytes, total_bytes) -> non-zero to cancel
SYNC_PROGRESS_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_uint64, c_uint64, c_uint64, c_uint64)
# mailtls_sync_message_callback(userdata, event, uid, size, data, len) ->
# non-zero: not saved
SYNC_MESSAGE_CALLBACK = CFUNCTYPE(c_int, c_void_p, c_uint32, c_char_p, c_uint64, c_void_p, c_size_t)
# mailtls_certificate_callback(userdata, cert, reason) -> a decision
CERTIFICATE_CALLBACK = CFUNCTYPE(c_uint32, c_void_p, c_void_p, c_uint32)

# mailtls_certificate_decision
CERTIFICATE_REFUSE = 0
CERTIFICATE_ACCEPT_ONCE = 1


class SMTP_MESSAGE(ctypes.Structure):
    """struct mailtls_smtp_message."""

    _fields_ = [
        ("from_", c_char_p),
        ("recipients", POINTER(c_char_p)),
        ("recipient_count", c_size_t),
        ("data", c_char_p),
        ("len", c_size_t),
    ]

_RESULT = c_uint32
_HANDLE = c_void_p
_OUT_TEXT = [POINTER(c_char), c_size_t, POINTER(c_size_t)]  # buf, buf_len, len_out

# name -> (restype, argtypes). Functions of a handle type share the
# "mailtls_<type>_" prefix, so an SMTP class adds its "mailtls_smtp_*" rows
# here and reuses the rest.
_PROTOTYPES = {
    # version and results
    "mailtls_version": (c_char_p, []),
    "mailtls_result_str": (c_char_p, [_RESULT]),
    # buffers
    "mailtls_buffer_data": (c_void_p, [_HANDLE]),
    "mailtls_buffer_len": (c_size_t, [_HANDLE]),
    "mailtls_buffer_free": (None, [_HANDLE]),
    # capabilities (borrowed from a connection handle)
    "mailtls_capabilities_count": (c_size_t, [_HANDLE]),
    "mailtls_capabilities_name": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_capabilities_arg_count": (c_size_t, [_HANDLE, c_size_t]),
    "mailtls_capabilities_arg": (c_char_p, [_HANDLE, c_size_t, c_size_t]),
    # options
    "mailtls_options_new": (_HANDLE, []),
    "mailtls_options_free": (None, [_HANDLE]),
    "mailtls_options_set_security": (_RESULT, [_HANDLE, c_uint32]),
    "mailtls_options_set_min_tls_version": (_RESULT, [_HANDLE, c_uint32]),
    "mailtls_options_add_ca_file": (_RESULT, [_HANDLE, c_char_p]),
    "mailtls_options_add_ca_pem": (_RESULT, [_HANDLE, c_char_p, c_size_t]),
    "mailtls_options_set_pin_sha256": (_RESULT, [_HANDLE, c_char_p]),
    "mailtls_options_set_danger_accept_invalid_certs": (_RESULT, [_HANDLE, c_bool]),
    "mailtls_options_set_connect_timeout_ms": (_RESULT, [_HANDLE, c_uint32]),
    "mailtls_options_set_io_timeout_ms": (_RESULT, [_HANDLE, c_uint32]),
    "mailtls_options_set_allow_plaintext_auth": (_RESULT, [_HANDLE, c_bool]),
    "mailtls_options_set_client_name": (_RESULT, [_HANDLE, c_char_p]),
    "mailtls_options_set_max_message_bytes": (_RESULT, [_HANDLE, c_uint64]),
    "mailtls_options_set_trace": (_RESULT, [_HANDLE, TRACE_CALLBACK, c_void_p]),
    "mailtls_options_set_certificate_callback": (_RESULT, [_HANDLE, CERTIFICATE_CALLBACK, c_void_p]),
    "mailtls_options_set_proxy": (_RESULT, [_HANDLE, c_char_p]),
    "mailtls_options_set_proxy_from_environment": (_RESULT, [_HANDLE, c_bool]),
    # certificates (borrowed from a connection handle, or a callback's)
    "mailtls_certificate_sha256": (c_char_p, [_HANDLE]),
    "mailtls_certificate_subject": (c_char_p, [_HANDLE]),
    "mailtls_certificate_issuer": (c_char_p, [_HANDLE]),
    "mailtls_certificate_name_count": (c_size_t, [_HANDLE]),
    "mailtls_certificate_name": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_certificate_not_before": (c_int64, [_HANDLE]),
    "mailtls_certificate_not_after": (c_int64, [_HANDLE]),
    "mailtls_certificate_self_signed": (c_bool, [_HANDLE]),
    "mailtls_certificate_failure": (_RESULT, [_HANDLE]),
    "mailtls_certificate_der": (c_void_p, [_HANDLE, POINTER(c_size_t)]),
    "mailtls_options_last_error": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    # POP3 listings
    "mailtls_pop3_listing_count": (c_size_t, [_HANDLE]),
    "mailtls_pop3_listing_number": (c_uint32, [_HANDLE, c_size_t]),
    "mailtls_pop3_listing_octets": (c_uint64, [_HANDLE, c_size_t]),
    "mailtls_pop3_listing_uid": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_pop3_listing_free": (None, [_HANDLE]),
    # POP3 sessions
    "mailtls_pop3_new": (_HANDLE, [_HANDLE]),
    "mailtls_pop3_free": (None, [_HANDLE]),
    "mailtls_pop3_connect": (_RESULT, [_HANDLE, c_char_p, c_uint16]),
    "mailtls_pop3_login": (_RESULT, [_HANDLE, c_char_p, c_char_p, c_char_p]),
    "mailtls_pop3_login_oauth2": (_RESULT, [_HANDLE, c_char_p, c_char_p]),
    "mailtls_pop3_capabilities": (_HANDLE, [_HANDLE]),
    "mailtls_pop3_stat": (_RESULT, [_HANDLE, POINTER(c_uint32), POINTER(c_uint64)]),
    "mailtls_pop3_list": (_RESULT, [_HANDLE, POINTER(c_void_p)]),
    "mailtls_pop3_uidl": (_RESULT, [_HANDLE, POINTER(c_void_p)]),
    "mailtls_pop3_list_uidl": (_RESULT, [_HANDLE, POINTER(c_void_p)]),
    "mailtls_pop3_list_one": (_RESULT, [_HANDLE, c_uint32, POINTER(c_uint64)]),
    "mailtls_pop3_uidl_one": (_RESULT, [_HANDLE, c_uint32, *_OUT_TEXT]),
    "mailtls_pop3_retr": (_RESULT, [_HANDLE, c_uint32, DATA_CALLBACK, c_void_p]),
    "mailtls_pop3_top": (_RESULT, [_HANDLE, c_uint32, c_uint32, DATA_CALLBACK, c_void_p]),
    "mailtls_pop3_retr_bytes": (_RESULT, [_HANDLE, c_uint32, POINTER(c_void_p)]),
    "mailtls_pop3_retr_to_file": (_RESULT, [_HANDLE, c_uint32, c_char_p]),
    "mailtls_pop3_retr_batch": (
        _RESULT,
        [_HANDLE, POINTER(c_uint32), c_size_t, POINTER(c_void_p), POINTER(c_uint64), POINTER(c_size_t)],
    ),
    "mailtls_pop3_retr_many": (
        _RESULT,
        [_HANDLE, POINTER(c_uint32), c_size_t, MESSAGE_CALLBACK, c_void_p],
    ),
    "mailtls_pop3_dele": (_RESULT, [_HANDLE, c_uint32]),
    "mailtls_pop3_dele_many": (_RESULT, [_HANDLE, POINTER(c_uint32), c_size_t]),
    "mailtls_pop3_rset": (_RESULT, [_HANDLE]),
    "mailtls_pop3_noop": (_RESULT, [_HANDLE]),
    "mailtls_pop3_quit": (_RESULT, [_HANDLE]),
    "mailtls_pop3_peer_cert_sha256": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_pop3_peer_certificate": (_HANDLE, [_HANDLE]),
    "mailtls_pop3_last_error": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_pop3_last_error_detail": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_pop3_last_reply": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_pop3_last_response_code": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    # POP3 sync
    "mailtls_sync_options_new": (_HANDLE, []),
    "mailtls_sync_options_free": (None, [_HANDLE]),
    "mailtls_sync_options_set_state_file": (_RESULT, [_HANDLE, c_char_p]),
    "mailtls_sync_options_set_retention": (_RESULT, [_HANDLE, c_uint32, c_uint64]),
    "mailtls_sync_options_set_max_message_bytes": (_RESULT, [_HANDLE, c_uint64]),
    "mailtls_sync_options_set_mark_seen_only": (_RESULT, [_HANDLE, c_bool]),
    "mailtls_sync_options_set_progress": (_RESULT, [_HANDLE, SYNC_PROGRESS_CALLBACK, c_void_p]),
    "mailtls_sync_options_last_error": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_pop3_sync_maildir": (_RESULT, [_HANDLE, _HANDLE, c_char_p, POINTER(c_void_p)]),
    "mailtls_pop3_sync": (_RESULT, [_HANDLE, _HANDLE, SYNC_MESSAGE_CALLBACK, c_void_p, POINTER(c_void_p)]),
    "mailtls_sync_report_downloaded": (c_uint64, [_HANDLE]),
    "mailtls_sync_report_already_had": (c_uint64, [_HANDLE]),
    "mailtls_sync_report_too_large": (c_uint64, [_HANDLE]),
    "mailtls_sync_report_marked_seen": (c_uint64, [_HANDLE]),
    "mailtls_sync_report_unavailable": (c_uint64, [_HANDLE]),
    "mailtls_sync_report_deleted": (c_uint64, [_HANDLE]),
    "mailtls_sync_report_bytes": (c_uint64, [_HANDLE]),
    "mailtls_sync_report_count": (c_size_t, [_HANDLE]),
    "mailtls_sync_report_uid": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_sync_report_size": (c_uint64, [_HANDLE, c_size_t]),
    "mailtls_sync_report_outcome": (c_uint32, [_HANDLE, c_size_t]),
    "mailtls_sync_report_deleted_at": (c_bool, [_HANDLE, c_size_t]),
    "mailtls_sync_report_free": (None, [_HANDLE]),
    # SMTP per-recipient results
    "mailtls_smtp_results_count": (c_size_t, [_HANDLE]),
    "mailtls_smtp_results_address": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_smtp_results_accepted": (c_bool, [_HANDLE, c_size_t]),
    "mailtls_smtp_results_code": (c_uint32, [_HANDLE, c_size_t]),
    "mailtls_smtp_results_enhanced": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_smtp_results_text": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_smtp_results_free": (None, [_HANDLE]),
    # SMTP sessions. Recipients are a `const char *const *` array; message
    # bytes go as c_char_p (a bytes object is passed without a copy, NULs
    # and all: the length is explicit).
    "mailtls_smtp_new": (_HANDLE, [_HANDLE]),
    "mailtls_smtp_free": (None, [_HANDLE]),
    "mailtls_smtp_connect": (_RESULT, [_HANDLE, c_char_p, c_uint16]),
    "mailtls_smtp_login": (_RESULT, [_HANDLE, c_char_p, c_char_p, c_char_p]),
    "mailtls_smtp_login_oauth2": (_RESULT, [_HANDLE, c_char_p, c_char_p]),
    "mailtls_smtp_extensions": (_HANDLE, [_HANDLE]),
    "mailtls_smtp_set_dsn": (_RESULT, [_HANDLE, c_char_p, c_char_p, c_char_p, c_bool]),
    "mailtls_smtp_send": (
        _RESULT,
        [_HANDLE, c_char_p, POINTER(c_char_p), c_size_t, READ_CALLBACK, c_void_p,
         c_uint64, POINTER(c_void_p)],
    ),
    "mailtls_smtp_send_batch": (
        _RESULT,
        [_HANDLE, POINTER(SMTP_MESSAGE), c_size_t, BATCH_CALLBACK, c_void_p],
    ),
    "mailtls_smtp_send_bytes": (
        _RESULT,
        [_HANDLE, c_char_p, POINTER(c_char_p), c_size_t, c_char_p, c_size_t,
         POINTER(c_void_p)],
    ),
    "mailtls_smtp_send_file": (
        _RESULT,
        [_HANDLE, c_char_p, POINTER(c_char_p), c_size_t, c_char_p, POINTER(c_void_p)],
    ),
    "mailtls_smtp_send_message": (
        _RESULT, [_HANDLE, c_char_p, c_size_t, POINTER(c_void_p)],
    ),
    "mailtls_smtp_noop": (_RESULT, [_HANDLE]),
    "mailtls_smtp_rset": (_RESULT, [_HANDLE]),
    "mailtls_smtp_quit": (_RESULT, [_HANDLE]),
    "mailtls_smtp_peer_cert_sha256": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_smtp_peer_certificate": (_HANDLE, [_HANDLE]),
    "mailtls_smtp_last_error": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_smtp_last_error_detail": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_smtp_last_reply": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_smtp_last_enhanced_code": (_RESULT, [_HANDLE, *_OUT_TEXT]),
    "mailtls_smtp_last_code": (c_uint32, [_HANDLE]),
    # the account probe
    "mailtls_probe_new": (_HANDLE, [_HANDLE]),
    "mailtls_probe_free": (None, [_HANDLE]),
    "mailtls_probe_set_timeout_ms": (_RESULT, [_HANDLE, c_uint32]),
    "mailtls_probe_set_protocols": (_RESULT, [_HANDLE, c_uint32]),
    "mailtls_probe_add_endpoint": (_RESULT, [_HANDLE, c_uint32, c_uint16, c_uint32]),
    "mailtls_probe_run": (_RESULT, [_HANDLE, c_char_p, c_char_p, c_char_p]),
    "mailtls_probe_attempt_count": (c_size_t, [_HANDLE]),
    "mailtls_probe_attempt_protocol": (c_uint32, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_port": (c_uint16, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_security": (c_uint32, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_result": (_RESULT, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_message": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_tls_version": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_mechanisms": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_login": (c_uint32, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_login_result": (_RESULT, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_login_message": (c_char_p, [_HANDLE, c_size_t]),
    "mailtls_probe_attempt_certificate": (_HANDLE, [_HANDLE, c_size_t]),
    "mailtls_probe_recommended": (_RESULT, [_HANDLE, c_uint32, POINTER(c_size_t)]),
    "mailtls_probe_last_error": (_RESULT, [_HANDLE, *_OUT_TEXT]),
}


class LibraryLoadError(ImportError):
    """libmailtls could not be found or loaded, or its version does not fit.

    A subclass of ImportError: the shared library is a missing dependency
    of the package. Set MAILTLS_LIBRARY to the library's path to fix it.
    """


def _package_library_names() -> list[str]:
    if sys.platform == "win32":
        names = ["mailtls.dll", "libmailtls.dll"]
    elif sys.platform == "darwin":
        names = ["libmailtls.dylib", "libmailtls.so"]
    else:
        names = ["libmailtls.so"]
    return names


def _candidates() -> list[tuple[str, str]]:
    """Where to look, in order: (path or name, where it came from)."""
    env = os.environ.get("MAILTLS_LIBRARY")
    if env:
        # An explicit choice is final: no silent fallback to another copy.
        return [(env, "MAILTLS_LIBRARY")]
    found = []
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _package_library_names():
        path = os.path.join(here, name)
        if os.path.exists(path):
            found.append((path, "the package directory"))
    import ctypes.util  # only here: it pulls in shutil and subprocess

    system = ctypes.util.find_library("mailtls")
    if system:
        found.append((system, "the system search path"))
    return found


def _check_version(version: str, origin: str) -> None:
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        raise LibraryLoadError(
            f"libmailtls from {origin} reports an unreadable version {version!r}"
        ) from None
    # Semantic versioning: before 1.0 a minor release may break the ABI.
    compatible = major == VERSION_MAJOR and (
        minor == VERSION_MINOR if major == 0 else minor >= VERSION_MINOR
    )
    if not compatible:
        raise LibraryLoadError(
            f"libmailtls {version} from {origin} is not compatible with this "
            f"binding, written for {VERSION_MAJOR}.{VERSION_MINOR}.x"
        )


def _declare(cdll: ctypes.CDLL, origin: str) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise LibraryLoadError(
                f"libmailtls from {origin} lacks the function {name}"
            ) from None
        fn.restype = restype
        fn.argtypes = argtypes


_lock = _thread.allocate_lock()
_loaded: ctypes.CDLL | None = None
_loaded_path: str | None = None


def load() -> ctypes.CDLL:
    """The loaded library with every prototype declared (loaded once)."""
    global _loaded, _loaded_path
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        candidates = _candidates()
        if not candidates:
            raise LibraryLoadError(
                "libmailtls not found: set MAILTLS_LIBRARY to the path of "
                "libmailtls.so (mailtls.dll, libmailtls.dylib), put the library "
                "in the mailtls package directory, or install it on the "
                "system library path"
            )
        path, origin = candidates[0]
        try:
            cdll = ctypes.CDLL(path)
        except OSError as e:
            raise LibraryLoadError(
                f"could not load libmailtls {path!r} (from {origin}): {e}"
            ) from e
        _declare(cdll, f"{path!r} ({origin})")
        _check_version(cdll.mailtls_version().decode("ascii", "replace"), repr(path))
        _loaded, _loaded_path = cdll, path
        return cdll


def loaded_path() -> str | None:
    """The path (or name) the library was loaded from, once loaded."""
    return _loaded_path
