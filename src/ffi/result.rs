//! The result codes of the C API and how core errors map onto them.

use std::ffi::c_char;

use crate::error::Error;

/// The result of every fallible mailtls function: one of the
/// MAILTLS_RESULT_* constants.
///
/// The numbers are stable: they are grouped by cause (1xx arguments and
/// state, 2xx network, 3xx TLS and certificates, 4xx authentication, 5xx
/// server refusals, 6xx protocol violations, 7xx cancellation, 8xx local
/// files, 9xx internal) and are never reused or removed. New codes may be
/// added, so treat unknown values as generic failures.
pub type mailtls_result = u32;

/// Success.
pub const MAILTLS_RESULT_OK: mailtls_result = 0;

/// A required pointer argument was NULL.
pub const MAILTLS_RESULT_NULL_ARGUMENT: mailtls_result = 100;

/// An argument is invalid: not UTF-8, contains CR, LF or NUL, out of
/// range, unknown name, unreadable CA file, or the call does not fit the
/// session's state (e.g. a mailbox command before login).
pub const MAILTLS_RESULT_INVALID_ARGUMENT: mailtls_result = 101;

/// The output buffer was too small; what fitted was written, truncated
/// and NUL-terminated.
pub const MAILTLS_RESULT_BUFFER_TOO_SMALL: mailtls_result = 102;

/// The handle has no open connection (never connected, closed after
/// QUIT, or closed after an error that left the stream unusable).
pub const MAILTLS_RESULT_NOT_CONNECTED: mailtls_result = 103;

/// The host name could not be resolved.
pub const MAILTLS_RESULT_RESOLVE_FAILED: mailtls_result = 200;

/// No address of the host accepted the connection in time.
pub const MAILTLS_RESULT_CONNECT_FAILED: mailtls_result = 201;

/// The server did not answer within the I/O timeout.
pub const MAILTLS_RESULT_TIMEOUT: mailtls_result = 202;

/// The server closed the connection unexpectedly.
pub const MAILTLS_RESULT_CONNECTION_CLOSED: mailtls_result = 203;

/// Another network error.
pub const MAILTLS_RESULT_IO_ERROR: mailtls_result = 204;

/// The TLS handshake failed for another reason.
pub const MAILTLS_RESULT_TLS_ERROR: mailtls_result = 300;

/// No TLS version in common (the server only offers versions older than
/// the configured minimum).
pub const MAILTLS_RESULT_TLS_VERSION: mailtls_result = 301;

/// The server certificate is not trusted (unknown CA, self-signed,
/// expired).
pub const MAILTLS_RESULT_CERTIFICATE_UNTRUSTED: mailtls_result = 302;

/// The server certificate does not name the host connected to.
pub const MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH: mailtls_result = 303;

/// The server certificate is not the pinned one.
pub const MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH: mailtls_result = 304;

/// STARTTLS/STLS was required but the server does not offer it or
/// refused it. Nothing was sent in clear after that.
pub const MAILTLS_RESULT_STARTTLS_UNAVAILABLE: mailtls_result = 305;

/// Credentials would go over an unencrypted connection and
/// `allow_plaintext_auth` is off. Nothing was sent.
pub const MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED: mailtls_result = 400;

/// The server offers no mechanism that the caller allows.
pub const MAILTLS_RESULT_NO_COMMON_MECHANISM: mailtls_result = 401;

/// The server refused the credentials.
pub const MAILTLS_RESULT_AUTH_FAILED: mailtls_result = 402;

/// The server refused a command (POP3 -ERR, SMTP 4xx/5xx); see the last
/// reply.
pub const MAILTLS_RESULT_SERVER_ERROR: mailtls_result = 500;

/// The message is larger than a limit: the server's SIZE (checked before
/// any byte is sent), or the in-memory limit of the whole-message
/// conveniences.
pub const MAILTLS_RESULT_MESSAGE_TOO_LARGE: mailtls_result = 501;

/// Every recipient of the message was refused; nothing was sent. The
/// per-recipient replies are in the send results.
pub const MAILTLS_RESULT_RECIPIENTS_REFUSED: mailtls_result = 502;

/// An address is not ASCII and the server does not offer SMTPUTF8.
pub const MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE: mailtls_result = 503;

/// The message has 8-bit bytes (over 127) and the server does not offer
/// 8BITMIME: send it with a 7-bit Content-Transfer-Encoding
/// (quoted-printable or base64). Known before MAIL, nothing was sent; found
/// while streaming content not looked at in advance, the transfer was
/// stopped and the connection closed (the server discards the partial
/// message).
pub const MAILTLS_RESULT_8BITMIME_UNAVAILABLE: mailtls_result = 504;

/// The server sent something that breaks the protocol.
pub const MAILTLS_RESULT_PROTOCOL_ERROR: mailtls_result = 600;

/// A reply line from the server was longer than the library accepts.
pub const MAILTLS_RESULT_REPLY_TOO_LONG: mailtls_result = 601;

/// A callback returned non-zero and the operation was cancelled.
pub const MAILTLS_RESULT_CANCELLED: mailtls_result = 700;

/// A local file could not be written or read.
pub const MAILTLS_RESULT_FILE_ERROR: mailtls_result = 800;

/// An internal error (a bug in mailtls) was caught at the C boundary.
pub const MAILTLS_RESULT_PANIC: mailtls_result = 900;

/// The result code for a core error.
pub(crate) fn result_of(err: &Error) -> mailtls_result {
    match err {
        Error::InvalidArgument(_) => MAILTLS_RESULT_INVALID_ARGUMENT,
        Error::NotConnected(_) => MAILTLS_RESULT_NOT_CONNECTED,
        Error::Resolve { .. } => MAILTLS_RESULT_RESOLVE_FAILED,
        Error::Connect { .. } => MAILTLS_RESULT_CONNECT_FAILED,
        Error::Timeout(_) => MAILTLS_RESULT_TIMEOUT,
        Error::ConnectionClosed(_) => MAILTLS_RESULT_CONNECTION_CLOSED,
        Error::Io { .. } => MAILTLS_RESULT_IO_ERROR,
        Error::Tls(_) => MAILTLS_RESULT_TLS_ERROR,
        Error::TlsVersion { .. } => MAILTLS_RESULT_TLS_VERSION,
        Error::CertificateUntrusted(_) => MAILTLS_RESULT_CERTIFICATE_UNTRUSTED,
        Error::CertificateHostMismatch { .. } => MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH,
        Error::CertificatePinMismatch { .. } => MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH,
        Error::StartTlsUnavailable { .. } => MAILTLS_RESULT_STARTTLS_UNAVAILABLE,
        Error::PlaintextAuthRefused => MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,
        Error::NoCommonMechanism(_) => MAILTLS_RESULT_NO_COMMON_MECHANISM,
        Error::AuthFailed(_) => MAILTLS_RESULT_AUTH_FAILED,
        Error::Server(_) => MAILTLS_RESULT_SERVER_ERROR,
        Error::MessageTooLarge { .. } => MAILTLS_RESULT_MESSAGE_TOO_LARGE,
        Error::RecipientsRefused(_) => MAILTLS_RESULT_RECIPIENTS_REFUSED,
        Error::SmtpUtf8Unavailable(_) => MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE,
        Error::EightBitUnavailable(_) => MAILTLS_RESULT_8BITMIME_UNAVAILABLE,
        Error::Protocol(_) => MAILTLS_RESULT_PROTOCOL_ERROR,
        Error::ReplyTooLong(_) => MAILTLS_RESULT_REPLY_TOO_LONG,
        Error::Cancelled => MAILTLS_RESULT_CANCELLED,
        Error::LocalFile { .. } => MAILTLS_RESULT_FILE_ERROR,
    }
}

fn describe(code: mailtls_result) -> &'static str {
    match code {
        MAILTLS_RESULT_OK => "success\0",
        MAILTLS_RESULT_NULL_ARGUMENT => "a required argument was NULL\0",
        MAILTLS_RESULT_INVALID_ARGUMENT => "invalid argument\0",
        MAILTLS_RESULT_BUFFER_TOO_SMALL => "the output buffer is too small\0",
        MAILTLS_RESULT_NOT_CONNECTED => "not connected\0",
        MAILTLS_RESULT_RESOLVE_FAILED => "the host name could not be resolved\0",
        MAILTLS_RESULT_CONNECT_FAILED => "could not connect to the server\0",
        MAILTLS_RESULT_TIMEOUT => "timed out waiting for the server\0",
        MAILTLS_RESULT_CONNECTION_CLOSED => "the server closed the connection\0",
        MAILTLS_RESULT_IO_ERROR => "network error\0",
        MAILTLS_RESULT_TLS_ERROR => "TLS handshake failed\0",
        MAILTLS_RESULT_TLS_VERSION => "no TLS version in common with the server\0",
        MAILTLS_RESULT_CERTIFICATE_UNTRUSTED => "the server certificate is not trusted\0",
        MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH => "the server certificate does not match the host name\0",
        MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH => "the server certificate is not the pinned certificate\0",
        MAILTLS_RESULT_STARTTLS_UNAVAILABLE => "the server does not offer STARTTLS/STLS\0",
        MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED => "refused to send credentials without encryption\0",
        MAILTLS_RESULT_NO_COMMON_MECHANISM => "no authentication mechanism in common with the server\0",
        MAILTLS_RESULT_AUTH_FAILED => "authentication failed\0",
        MAILTLS_RESULT_SERVER_ERROR => "the server refused the command\0",
        MAILTLS_RESULT_MESSAGE_TOO_LARGE => "the message is too large\0",
        MAILTLS_RESULT_RECIPIENTS_REFUSED => "every recipient was refused\0",
        MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE => "the server does not offer SMTPUTF8 for non-ASCII addresses\0",
        MAILTLS_RESULT_8BITMIME_UNAVAILABLE => "the server does not offer 8BITMIME for 8-bit content\0",
        MAILTLS_RESULT_PROTOCOL_ERROR => "the server broke the protocol\0",
        MAILTLS_RESULT_REPLY_TOO_LONG => "a reply line from the server is too long\0",
        MAILTLS_RESULT_CANCELLED => "cancelled by a callback\0",
        MAILTLS_RESULT_FILE_ERROR => "local file error\0",
        MAILTLS_RESULT_PANIC => "internal error in mailtls\0",
        _ => "unknown result code\0",
    }
}

/// A static, NUL-terminated English description of a result code; unknown
/// codes give "unknown result code". Never NULL; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_result_str(result: mailtls_result) -> *const c_char {
    describe(result).as_ptr().cast()
}
