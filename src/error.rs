//! The one error type of the protocol core, shared by POP3 and SMTP.
//!
//! Messages are written for a person who has to act on them. They never
//! contain a password, token or SASL payload: only our own words and the
//! server's status lines end up here.

use crate::reply::RecipientResult;
pub use crate::reply::ServerReply;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("not connected: {0}")]
    NotConnected(&'static str),
    #[error("could not find the server name {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    /// No address of the host gave a connection: what happened to each,
    /// said once (the host, port and addresses included).
    #[error("{0}")]
    Connect(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("the server closed the connection {0}")]
    ConnectionClosed(&'static str),
    #[error("network error while {doing}: {source}")]
    Io {
        doing: &'static str,
        #[source]
        source: std::io::Error,
    },
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
    /// STARTTLS/STLS was required and the server did not offer or accept
    /// it: nothing else was sent (no password, no mail).
    #[error(
        "the server does not offer {command} ({detail}), so nothing was sent: no password, no mail. Choose SSL/TLS with port {tls_port} if the provider offers it, or ask the provider for an encrypted port"
    )]
    StartTlsUnavailable { command: &'static str, detail: String, tls_port: u16 },
    /// A port asked for STARTTLS greeted nothing in clear but answered a
    /// TLS handshake: it expects TLS from the first byte.
    #[error(
        "{host_port} expects TLS from the first byte (it sent no greeting, and answered a TLS handshake): choose SSL/TLS for port {port}, or STARTTLS with port {starttls_port}"
    )]
    ImplicitTlsPort { host_port: String, port: u16, starttls_port: u16 },
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
    RecipientsRefused(Vec<RecipientResult>),
    #[error("{0}")]
    SmtpUtf8Unavailable(String),
    #[error("{0}")]
    EightBitUnavailable(String),
    #[error("the message is larger than the limit of {limit} bytes")]
    MessageTooLarge { limit: u64 },
    #[error("cancelled by the callback")]
    Cancelled,
    /// Another sync of the same state file is running (or the lock file
    /// is held by another program): nothing was done.
    #[error(
        "the sync state {0} is in use by another sync of the same account; nothing was done, try again when it has finished"
    )]
    StateLocked(String),
    /// The sync state file is not one mailtls wrote, or damaged before its
    /// last record: nothing was done (it is never taken as "all new").
    #[error(
        "the sync state {path} cannot be read ({detail}); nothing was done. Restore it, or move it aside to download every message on the server again (a Maildir destination still skips what it has)"
    )]
    StateCorrupt { path: String, detail: String },
    /// The server refused UIDL, and messages left on the server cannot be
    /// told from new ones without it.
    #[error(
        "the server gives no unique ids (UIDL refused: {0}), so messages left on the server cannot be told from new ones; nothing was done. Only delete-after-saving works with this server"
    )]
    UidlUnavailable(String),
    #[error("local file error: {what}: {source}")]
    LocalFile {
        /// The file, or what was being done with it.
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn summarize_refusals(results: &[RecipientResult]) -> String {
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
                | Error::Io { .. }
                | Error::Tls(_)
                | Error::TlsVersion { .. }
                | Error::CertificateUntrusted(_)
                | Error::CertificateHostMismatch { .. }
                | Error::CertificatePinMismatch { .. }
                | Error::StartTlsUnavailable { .. }
                | Error::ImplicitTlsPort { .. }
                | Error::Protocol(_)
                | Error::ReplyTooLong(_)
                | Error::Cancelled
        )
    }

    /// Whether the session is over after this error: the stream is in an
    /// unknown state ([`Self::breaks_connection`]), the connection is gone,
    /// or the server said 421 (it is closing, RFC 5321 section 3.8). The
    /// session core closes the connection on these.
    pub fn ends_session(&self) -> bool {
        self.breaks_connection()
            || matches!(self, Error::NotConnected(_))
            || self.reply().is_some_and(|reply| reply.code == Some(421))
    }

    /// Map an I/O error of the socket into the error a person can act on.
    /// A local file failed: `what` names the file or the step.
    pub(crate) fn local_file(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.to_string();
        move |source| Error::LocalFile { what, source }
    }

    pub(crate) fn from_io(err: std::io::Error, doing: &'static str) -> Error {
        use std::io::ErrorKind::*;
        match err.kind() {
            WouldBlock | TimedOut => Error::Timeout(format!("no answer from the server while {doing}")),
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe => Error::ConnectionClosed("unexpectedly"),
            _ => Error::Io { doing, source: err },
        }
    }
}
