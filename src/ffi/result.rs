//! The result codes of the C API and how core errors map onto them.

use std::ffi::{CStr, c_char};

use crate::error::{CertificateReason, Error};

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

/// A call on the handle was made while another call on the same handle
/// was still running: from inside one of its callbacks, or from a second
/// thread at the same time. The running call is not disturbed; nothing was
/// done. Handles take one call at a time.
pub const MAILTLS_RESULT_HANDLE_BUSY: mailtls_result = 104;

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

/// The proxy could not be reached: its name did not resolve, or nothing
/// accepted the connection on its address and port. The mail server was
/// not contacted.
pub const MAILTLS_RESULT_PROXY_UNREACHABLE: mailtls_result = 210;

/// The proxy refused the proxy user name and password, or requires
/// authentication and none was given (SOCKS5 method 0xFF or RFC 1929
/// failure, SOCKS4 identd failure, HTTP 407 or 401).
pub const MAILTLS_RESULT_PROXY_AUTH_FAILED: mailtls_result = 211;

/// The proxy could not or would not connect to the mail server: the
/// message gives the SOCKS reply in words ("proxy: connection refused by
/// 192.0.2.1:995") or the HTTP status and reason ("proxy: 403 Forbidden,
/// CONNECT to port 995 not allowed").
pub const MAILTLS_RESULT_PROXY_TARGET_FAILED: mailtls_result = 212;

/// The proxy broke its protocol: an answer that is not SOCKS or HTTP, a
/// method not offered, a reply head over 16 KiB, or a connection dropped
/// during the proxy's handshake.
pub const MAILTLS_RESULT_PROXY_PROTOCOL: mailtls_result = 213;

/// The TLS handshake failed for another reason.
pub const MAILTLS_RESULT_TLS_ERROR: mailtls_result = 300;

/// No TLS version in common (the server only offers versions older than
/// the configured minimum).
pub const MAILTLS_RESULT_TLS_VERSION: mailtls_result = 301;

/// The server certificate is not trusted for a reason that has no result
/// of its own (a bad signature, wrong key usage, unknown revocation
/// status, ...). Expired, not yet valid, self-signed, unknown issuer and
/// revoked certificates have their own results (306 to 310).
pub const MAILTLS_RESULT_CERTIFICATE_UNTRUSTED: mailtls_result = 302;

/// The server certificate does not name the host connected to; the
/// message says the names it does list.
pub const MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH: mailtls_result = 303;

/// The server certificate is not the pinned one.
pub const MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH: mailtls_result = 304;

/// STARTTLS/STLS was required but the server does not offer it or
/// refused it, or the port expects TLS from the first byte (it sent no
/// greeting in clear but answered a TLS handshake: found within a few
/// seconds, not after the I/O timeout). Nothing was sent in clear after
/// that. The fix in both cases: MAILTLS_SECURITY_TLS, on the implicit-TLS
/// port (995, 465) or on this port; the message says which.
pub const MAILTLS_RESULT_STARTTLS_UNAVAILABLE: mailtls_result = 305;

/// The server certificate has expired (or this computer's clock is
/// ahead); the message gives the date.
pub const MAILTLS_RESULT_CERTIFICATE_EXPIRED: mailtls_result = 306;

/// The server certificate is not valid yet (or this computer's clock is
/// behind); the message gives the date.
pub const MAILTLS_RESULT_CERTIFICATE_NOT_YET_VALID: mailtls_result = 307;

/// The server certificate is self-signed and not trusted; the message
/// gives its SHA-256 fingerprint, to pin if the user trusts it.
pub const MAILTLS_RESULT_CERTIFICATE_SELF_SIGNED: mailtls_result = 308;

/// The server certificate was issued by a CA that is not trusted (or the
/// server did not send the certificate of its intermediate CA); the
/// message names the issuer and gives the SHA-256 fingerprint.
pub const MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER: mailtls_result = 309;

/// The server certificate has been revoked by its issuer, as the platform
/// found out (OpenSSL checks no revocation unless asked; SChannel does).
pub const MAILTLS_RESULT_CERTIFICATE_REVOKED: mailtls_result = 310;

/// Credentials would go over an unencrypted connection and
/// `allow_plaintext_auth` is off. Nothing was sent.
pub const MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED: mailtls_result = 400;

/// The server offers no mechanism that the caller allows.
pub const MAILTLS_RESULT_NO_COMMON_MECHANISM: mailtls_result = 401;

/// The server refused the credentials.
pub const MAILTLS_RESULT_AUTH_FAILED: mailtls_result = 402;

/// The server refused the login because this connection is not encrypted:
/// it accepts logins only over TLS. The password was not judged: connect
/// with MAILTLS_SECURITY_TLS or MAILTLS_SECURITY_STARTTLS instead of asking
/// for a new one. See the last reply.
pub const MAILTLS_RESULT_ENCRYPTION_REQUIRED: mailtls_result = 403;

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

/// An address or the message headers are not ASCII (RFC 6531, 6532) and
/// the server does not offer SMTPUTF8. Nothing was sent.
pub const MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE: mailtls_result = 503;

/// The message has 8-bit bytes (over 127) and the server does not offer
/// 8BITMIME: send it with a 7-bit Content-Transfer-Encoding
/// (quoted-printable or base64). Known before MAIL, nothing was sent; found
/// while streaming content not looked at in advance, the transfer was
/// stopped and the connection closed (the server discards the partial
/// message).
pub const MAILTLS_RESULT_EIGHTBITMIME_UNAVAILABLE: mailtls_result = 504;

/// The server gives no unique ids (it refused UIDL), so a sync that leaves
/// messages on the server cannot tell them from new ones. Nothing was
/// done; only MAILTLS_RETENTION_DELETE_AFTER_SAVING works with this server.
pub const MAILTLS_RESULT_UIDL_UNAVAILABLE: mailtls_result = 505;

/// The server sent something that breaks the protocol.
pub const MAILTLS_RESULT_PROTOCOL_ERROR: mailtls_result = 600;

/// A reply line from the server was longer than the library accepts.
pub const MAILTLS_RESULT_REPLY_TOO_LONG: mailtls_result = 601;

/// A callback returned non-zero and the operation was cancelled.
pub const MAILTLS_RESULT_CANCELLED: mailtls_result = 700;

/// A local file could not be written or read.
pub const MAILTLS_RESULT_FILE_ERROR: mailtls_result = 800;

/// The sync state file is in use by another sync of the same account (or
/// its lock file by another program): nothing was done. Not a wait: try
/// again when the other sync has finished.
pub const MAILTLS_RESULT_STATE_LOCKED: mailtls_result = 801;

/// The sync state file cannot be read (not written by mailtls, or damaged
/// before its last record): nothing was done. It is never taken as "every
/// message is new". Restore it, or move it aside to download everything on
/// the server again (a Maildir destination still skips what it has).
pub const MAILTLS_RESULT_STATE_CORRUPT: mailtls_result = 802;

/// An internal error (a bug in mailtls) was caught at the C boundary.
pub const MAILTLS_RESULT_PANIC: mailtls_result = 900;

/// The result code for a core error.
pub(crate) fn result_of(err: &Error) -> mailtls_result {
    match err {
        Error::InvalidArgument(_) => MAILTLS_RESULT_INVALID_ARGUMENT,
        Error::NotConnected(_) => MAILTLS_RESULT_NOT_CONNECTED,
        Error::Resolve { .. } => MAILTLS_RESULT_RESOLVE_FAILED,
        Error::Connect(_) => MAILTLS_RESULT_CONNECT_FAILED,
        Error::Timeout(_) => MAILTLS_RESULT_TIMEOUT,
        Error::ConnectionClosed(_) => MAILTLS_RESULT_CONNECTION_CLOSED,
        Error::ProxyUnreachable(_) => MAILTLS_RESULT_PROXY_UNREACHABLE,
        Error::ProxyAuthFailed(_) => MAILTLS_RESULT_PROXY_AUTH_FAILED,
        Error::ProxyTargetFailed(_) => MAILTLS_RESULT_PROXY_TARGET_FAILED,
        Error::ProxyProtocol(_) => MAILTLS_RESULT_PROXY_PROTOCOL,
        Error::Io { .. } => MAILTLS_RESULT_IO_ERROR,
        Error::Tls { .. } => MAILTLS_RESULT_TLS_ERROR,
        Error::TlsVersion { .. } => MAILTLS_RESULT_TLS_VERSION,
        Error::Certificate(c) => certificate_result(c.reason),
        Error::CertificatePinMismatch { .. } => MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH,
        // The same change fixes both: TLS from the first byte.
        Error::StartTlsUnavailable { .. } | Error::ImplicitTlsPort { .. } => MAILTLS_RESULT_STARTTLS_UNAVAILABLE,
        Error::PlaintextAuthRefused => MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,
        Error::NoCommonMechanism(_) => MAILTLS_RESULT_NO_COMMON_MECHANISM,
        Error::AuthFailed(_) => MAILTLS_RESULT_AUTH_FAILED,
        Error::EncryptionRequired(_) => MAILTLS_RESULT_ENCRYPTION_REQUIRED,
        Error::Server(_) => MAILTLS_RESULT_SERVER_ERROR,
        Error::MessageTooLarge { .. } => MAILTLS_RESULT_MESSAGE_TOO_LARGE,
        Error::RecipientsRefused(..) => MAILTLS_RESULT_RECIPIENTS_REFUSED,
        Error::SmtpUtf8Unavailable(_) => MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE,
        Error::EightBitUnavailable(_) => MAILTLS_RESULT_EIGHTBITMIME_UNAVAILABLE,
        Error::Protocol(_) => MAILTLS_RESULT_PROTOCOL_ERROR,
        Error::ReplyTooLong(_) => MAILTLS_RESULT_REPLY_TOO_LONG,
        Error::Cancelled => MAILTLS_RESULT_CANCELLED,
        Error::LocalFile { .. } => MAILTLS_RESULT_FILE_ERROR,
        Error::StateLocked(_) => MAILTLS_RESULT_STATE_LOCKED,
        Error::StateCorrupt { .. } => MAILTLS_RESULT_STATE_CORRUPT,
        Error::UidlUnavailable(_) => MAILTLS_RESULT_UIDL_UNAVAILABLE,
    }
}

/// The result code for a certificate failure.
pub(crate) fn certificate_result(reason: CertificateReason) -> mailtls_result {
    match reason {
        CertificateReason::HostMismatch => MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH,
        CertificateReason::Expired => MAILTLS_RESULT_CERTIFICATE_EXPIRED,
        CertificateReason::NotYetValid => MAILTLS_RESULT_CERTIFICATE_NOT_YET_VALID,
        CertificateReason::SelfSigned => MAILTLS_RESULT_CERTIFICATE_SELF_SIGNED,
        CertificateReason::UnknownIssuer => MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER,
        CertificateReason::Revoked => MAILTLS_RESULT_CERTIFICATE_REVOKED,
        CertificateReason::Untrusted => MAILTLS_RESULT_CERTIFICATE_UNTRUSTED,
    }
}

/// Every result code with its description: the one table that
/// mailtls_result_str() reads (a test checks it against the header).
const DESCRIPTIONS: &[(mailtls_result, &CStr)] = &[
    (MAILTLS_RESULT_OK, c"success"),
    (MAILTLS_RESULT_NULL_ARGUMENT, c"a required argument was NULL"),
    (MAILTLS_RESULT_INVALID_ARGUMENT, c"invalid argument"),
    (MAILTLS_RESULT_BUFFER_TOO_SMALL, c"the output buffer is too small"),
    (MAILTLS_RESULT_NOT_CONNECTED, c"not connected"),
    (MAILTLS_RESULT_HANDLE_BUSY, c"another call on this handle is still running"),
    (MAILTLS_RESULT_RESOLVE_FAILED, c"the host name could not be resolved"),
    (MAILTLS_RESULT_CONNECT_FAILED, c"could not connect to the server"),
    (MAILTLS_RESULT_TIMEOUT, c"timed out waiting for the server"),
    (MAILTLS_RESULT_CONNECTION_CLOSED, c"the server closed the connection"),
    (MAILTLS_RESULT_IO_ERROR, c"network error"),
    (MAILTLS_RESULT_PROXY_UNREACHABLE, c"the proxy could not be reached"),
    (MAILTLS_RESULT_PROXY_AUTH_FAILED, c"the proxy refused the credentials or requires some"),
    (MAILTLS_RESULT_PROXY_TARGET_FAILED, c"the proxy could not connect to the mail server"),
    (MAILTLS_RESULT_PROXY_PROTOCOL, c"the proxy broke its protocol"),
    (MAILTLS_RESULT_TLS_ERROR, c"TLS handshake failed"),
    (MAILTLS_RESULT_TLS_VERSION, c"no TLS version in common with the server"),
    (MAILTLS_RESULT_CERTIFICATE_UNTRUSTED, c"the server certificate is not trusted"),
    (MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH, c"the server certificate does not match the host name"),
    (MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH, c"the server certificate is not the pinned certificate"),
    (MAILTLS_RESULT_STARTTLS_UNAVAILABLE, c"the server does not offer STARTTLS/STLS"),
    (MAILTLS_RESULT_CERTIFICATE_EXPIRED, c"the server certificate has expired"),
    (MAILTLS_RESULT_CERTIFICATE_NOT_YET_VALID, c"the server certificate is not yet valid"),
    (MAILTLS_RESULT_CERTIFICATE_SELF_SIGNED, c"the server certificate is self-signed and not trusted"),
    (MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER, c"the server certificate's issuer is not trusted"),
    (MAILTLS_RESULT_CERTIFICATE_REVOKED, c"the server certificate has been revoked"),
    (MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED, c"refused to send credentials without encryption"),
    (MAILTLS_RESULT_NO_COMMON_MECHANISM, c"no login method in common with the server"),
    (MAILTLS_RESULT_AUTH_FAILED, c"authentication failed"),
    (MAILTLS_RESULT_ENCRYPTION_REQUIRED, c"the server accepts logins only over an encrypted connection"),
    (MAILTLS_RESULT_SERVER_ERROR, c"the server refused the command"),
    (MAILTLS_RESULT_MESSAGE_TOO_LARGE, c"the message is too large"),
    (MAILTLS_RESULT_RECIPIENTS_REFUSED, c"every recipient was refused"),
    (MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE, c"the server does not offer SMTPUTF8 for non-ASCII addresses or headers"),
    (MAILTLS_RESULT_EIGHTBITMIME_UNAVAILABLE, c"the server does not offer 8BITMIME for 8-bit content"),
    (MAILTLS_RESULT_UIDL_UNAVAILABLE, c"the server gives no unique ids (UIDL)"),
    (MAILTLS_RESULT_PROTOCOL_ERROR, c"the server broke the protocol"),
    (MAILTLS_RESULT_REPLY_TOO_LONG, c"a reply line from the server is too long"),
    (MAILTLS_RESULT_CANCELLED, c"cancelled by a callback"),
    (MAILTLS_RESULT_FILE_ERROR, c"local file error"),
    (MAILTLS_RESULT_STATE_LOCKED, c"the sync state is in use by another sync"),
    (MAILTLS_RESULT_STATE_CORRUPT, c"the sync state file cannot be read"),
    (MAILTLS_RESULT_PANIC, c"internal error in mailtls"),
];

fn describe(code: mailtls_result) -> &'static CStr {
    DESCRIPTIONS.iter().find(|(c, _)| *c == code).map_or(c"unknown result code", |(_, text)| text)
}

/// A static, NUL-terminated English description of a result code; unknown
/// codes give "unknown result code". Never NULL; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_result_str(result: mailtls_result) -> *const c_char {
    describe(result).as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every MAILTLS_RESULT_* the header defines has its description, once;
    /// the mapping from core errors is an exhaustive match (`result_of`),
    /// so a new error variant cannot go without a code.
    #[test]
    fn every_result_code_of_the_header_has_one_description() {
        let header = include_str!("../../include/mailtls.h");
        let defined: Vec<mailtls_result> = header
            .lines()
            .filter_map(|l| l.strip_prefix("#define MAILTLS_RESULT_"))
            .map(|rest| rest.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(defined.len() > 20, "{defined:?}");
        let mut listed: Vec<mailtls_result> = DESCRIPTIONS.iter().map(|(c, _)| *c).collect();
        listed.sort();
        let mut sorted = defined.clone();
        sorted.sort();
        assert_eq!(listed, sorted, "DESCRIPTIONS and the header list the same codes");
        listed.dedup();
        assert_eq!(listed.len(), DESCRIPTIONS.len(), "no code twice");
        assert_eq!(describe(12345).to_str().unwrap(), "unknown result code");
    }
}
