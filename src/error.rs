//! The one error type of the protocol core, shared by POP3 and SMTP.
//!
//! Messages are written for a person who has to act on them. They never
//! contain a password, token or SASL payload: only our own words and the
//! server's status lines end up here.

use std::fmt;

/// A status reply from the server that was not a success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerReply {
    /// The reply line(s) as the server sent them, without the final CRLF
    /// (lossy UTF-8).
    pub text: String,
    /// SMTP's three-digit reply code; `None` for POP3.
    pub status: Option<u16>,
    /// POP3's bracketed response code (RFC 2449/3206, e.g. `SYS/TEMP`), or
    /// SMTP's enhanced status code (e.g. `5.1.1`).
    pub response_code: Option<String>,
}

impl fmt::Display for ServerReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("not connected: {0}")]
    NotConnected(&'static str),
    #[error("could not resolve host name {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("could not connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("the server closed the connection {0}")]
    ConnectionClosed(&'static str),
    #[error("network error: {0}")]
    Io(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("no TLS version in common with the server (this client requires {required} or newer): {detail}")]
    TlsVersion { required: &'static str, detail: String },
    #[error("the server's certificate is not trusted: {0}")]
    CertificateUntrusted(String),
    #[error("the server's certificate does not match the host name {host:?}: {detail}")]
    CertificateHostMismatch { host: String, detail: String },
    #[error("the server's certificate (SHA-256 {actual}) is not the pinned certificate (SHA-256 {expected})")]
    CertificatePinMismatch { expected: String, actual: String },
    #[error("the server does not offer {command}; refusing to continue without encryption ({detail})")]
    StartTlsUnavailable { command: &'static str, detail: String },
    #[error("refusing to send credentials over an unencrypted connection (enable allow_plaintext_auth to permit it)")]
    PlaintextAuthRefused,
    #[error("no authentication mechanism in common with the server: {0}")]
    NoCommonMechanism(String),
    #[error("authentication failed: {0}")]
    AuthFailed(ServerReply),
    #[error("the server refused the command: {0}")]
    Server(ServerReply),
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    #[error("a reply line from the server is longer than {0} bytes")]
    ReplyTooLong(usize),
    #[error("every recipient was refused: {}", summarize_refusals(.0))]
    RecipientsRefused(Vec<crate::smtp::RecipientResult>),
    #[error("{0}")]
    SmtpUtf8Unavailable(String),
    #[error("the message is larger than the limit of {limit} bytes")]
    MessageTooLarge { limit: u64 },
    #[error("cancelled by the callback")]
    Cancelled,
    #[error("local file error: {0}")]
    LocalFile(String),
}

fn summarize_refusals(results: &[crate::smtp::RecipientResult]) -> String {
    let parts: Vec<String> =
        results.iter().map(|r| format!("{}: {}", r.address, r.reply.to_server_reply().text)).collect();
    parts.join("; ")
}

impl Error {
    /// The server reply this error carries, if any.
    pub fn reply(&self) -> Option<&ServerReply> {
        match self {
            Error::AuthFailed(r) | Error::Server(r) => Some(r),
            _ => None,
        }
    }

    /// Whether the connection can no longer be used after this error: the
    /// stream is in an unknown position (timeout, drop, protocol break,
    /// cancelled transfer), so the client closes it rather than guess.
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Error::Timeout(_)
                | Error::ConnectionClosed(_)
                | Error::Io(_)
                | Error::Tls(_)
                | Error::TlsVersion { .. }
                | Error::CertificateUntrusted(_)
                | Error::CertificateHostMismatch { .. }
                | Error::CertificatePinMismatch { .. }
                | Error::StartTlsUnavailable { .. }
                | Error::Protocol(_)
                | Error::ReplyTooLong(_)
                | Error::Cancelled
        )
    }

    /// A timeout while waiting for a greeting in clear usually means the
    /// port expects TLS from the first byte: say so.
    pub(crate) fn hint_implicit_tls(self) -> Error {
        match self {
            Error::Timeout(_) => Error::Timeout(
                "no greeting from the server; if this port expects TLS from the start, use security TLS".into(),
            ),
            e => e,
        }
    }

    /// Map an I/O error of the socket into the error a person can act on.
    pub(crate) fn from_io(err: std::io::Error, doing: &str) -> Error {
        use std::io::ErrorKind::*;
        match err.kind() {
            WouldBlock | TimedOut => Error::Timeout(format!("no answer from the server while {doing}")),
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => Error::ConnectionClosed("unexpectedly"),
            _ => Error::Io(format!("{doing}: {err}")),
        }
    }
}
