//! The one error type of the protocol core, shared by POP3 and SMTP.
//!
//! Messages are written for a person who has to act on them. They never
//! contain a password, token or SASL payload: only our own words and the
//! server's status lines end up here.

use crate::certificate::{Certificate, and_list, span, utc, utc_date};
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
    /// The proxy could not be found or connected to.
    #[error("{0}")]
    ProxyUnreachable(String),
    /// The proxy refused our credentials, or wants credentials none were
    /// given for.
    #[error("{0}")]
    ProxyAuthFailed(String),
    /// The proxy could not (or would not) connect to the mail server: the
    /// SOCKS reply or HTTP status in words.
    #[error("{0}")]
    ProxyTargetFailed(String),
    /// The proxy answered something its protocol does not allow, or
    /// dropped the connection during its handshake.
    #[error("the proxy broke its protocol: {0}")]
    ProxyProtocol(String),
    #[error("the server closed the connection {0}")]
    ConnectionClosed(&'static str),
    #[error("network error while {doing}: {source}")]
    Io {
        doing: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed for a reason other than the certificate
    /// or the TLS version: what happened and what to check, with the TLS
    /// library's code and words apart ([`Error::detail`]).
    #[error("{message}")]
    Tls { message: String, detail: String },
    /// The server offers no TLS version (or cipher) this client accepts:
    /// `required` is the minimum the options set.
    #[error("{message}")]
    TlsVersion { required: &'static str, message: String, detail: String },
    /// The server's certificate failed verification: why, the host and
    /// port, the certificate's facts when it could be read, and the TLS
    /// library's own words apart from the message ([`Error::detail`]).
    #[error("{}", .0.message)]
    Certificate(Box<CertificateError>),
    /// The certificate is not the pinned one; `certificate` is the one the
    /// server sent, when it could be read.
    #[error("the server's certificate (SHA-256 {actual}) is not the pinned certificate (SHA-256 {expected})")]
    CertificatePinMismatch { expected: String, actual: String, certificate: Option<Box<Certificate>> },
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
    #[error(
        "refusing to send the password over an unencrypted connection, where others on the network could read it: choose SSL/TLS or STARTTLS (only on a network you trust, allow_plaintext_auth permits it)"
    )]
    PlaintextAuthRefused,
    #[error("no login method in common with the server: {0}")]
    NoCommonMechanism(String),
    /// The server refused the login: the message tells a wrong user name
    /// or password from a refusal for another reason (mailbox in use, too
    /// many logins, a temporary failure), from the reply's codes.
    #[error("{}", login_refusal(.0))]
    AuthFailed(ServerReply),
    /// The server refused a login over this unencrypted connection because
    /// it accepts logins only over an encrypted one; the credentials may be
    /// right.
    #[error(
        "the server accepts logins only over an encrypted connection ({0}): choose SSL/TLS or STARTTLS; the user name and password were not judged"
    )]
    EncryptionRequired(ServerReply),
    #[error("the server refused the command: {}", with_advice(.0))]
    Server(ServerReply),
    #[error("the server broke the protocol: {0}")]
    Protocol(String),
    #[error("a reply line from the server is longer than {0} bytes")]
    ReplyTooLong(usize),
    /// Every recipient was refused: each one's answer, and what that
    /// means for the person (see [`ServerReply`]'s advice).
    #[error("every recipient was refused: {}{}", summarize_refusals(.0), advice_suffix(*.1))]
    RecipientsRefused(Vec<RecipientResult>, Option<&'static str>),
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

/// Why a server's certificate was refused, as a person acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateReason {
    /// Valid, but for other host names or addresses.
    HostMismatch,
    Expired,
    NotYetValid,
    /// Issued by itself, and not trusted.
    SelfSigned,
    /// Issued by a CA that is not trusted (or whose certificate the server
    /// did not send).
    UnknownIssuer,
    /// Withdrawn by its issuer, as the platform found out.
    Revoked,
    /// Not trusted for another reason (a bad signature, wrong key usage,
    /// unknown revocation status, ...).
    Untrusted,
}

/// A certificate that failed verification (see [`Error::Certificate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateError {
    pub reason: CertificateReason,
    /// The host and port as the caller gave them.
    pub host: String,
    pub port: u16,
    /// The server's certificate, when the TLS library handed it over.
    pub certificate: Option<Certificate>,
    /// What is wrong, then what to change.
    pub message: String,
    /// The TLS library's code and words.
    pub detail: String,
    /// The TLS library's reason in plain words (e.g. "the certificate's
    /// revocation status is unknown"): what an `Untrusted` message says,
    /// also when it is rewritten once the certificate is known.
    pub why: &'static str,
}

impl CertificateError {
    /// The failure with its message, written for the time `now` (Unix
    /// seconds). `why` is the reason in the TLS library's terms, for the
    /// reasons that have no words of their own here.
    pub(crate) fn new(
        reason: CertificateReason,
        host: &str,
        port: u16,
        certificate: Option<Certificate>,
        why: &'static str,
        detail: String,
        now: i64,
    ) -> CertificateError {
        let message = certificate_message(reason, host, port, certificate.as_ref(), why, now);
        CertificateError { reason, host: host.to_string(), port, certificate, message, detail, why }
    }

    /// The same failure once its certificate is known (native-tls keeps
    /// none of a refused handshake; see `session::second_look`), its
    /// message rewritten with the certificate's facts.
    pub(crate) fn with_certificate(self, certificate: Certificate, now: i64) -> CertificateError {
        let CertificateError { reason, host, port, detail, why, .. } = self;
        CertificateError::new(reason, &host, port, Some(certificate), why, detail, now)
    }
}

fn certificate_message(
    reason: CertificateReason,
    host: &str,
    port: u16,
    cert: Option<&Certificate>,
    why: &str,
    now: i64,
) -> String {
    use CertificateReason::*;
    let at = format!("{host}:{port}");
    let today = format!("today is {} here", utc_date(now));
    let pin = |c: &Certificate| format!("pin its SHA-256 fingerprint {}", c.sha256_hex());
    match (reason, cert) {
        (HostMismatch, Some(c)) if !c.names.is_empty() => {
            let which = if c.names.len() == 1 { "use that" } else { "use one of those" };
            format!("the certificate of {at} is for {}, not {host}: {which} as the server name", and_list(&c.names))
        }
        (HostMismatch, _) => {
            format!(
                "the certificate of {at} is for another host name or address, not {host}: use a name the \
                 certificate lists as the server name"
            )
        }
        (Expired, Some(c)) => format!(
            "the server's certificate has expired: {at} sent a certificate valid until {}, {} ago ({today}): \
             the server's provider must renew it, or this computer's clock is wrong",
            utc(c.not_after),
            span(now - c.not_after)
        ),
        (Expired, None) => format!(
            "the server's certificate has expired: {at} sent a certificate that is no longer valid ({today}): \
             the server's provider must renew it, or this computer's clock is wrong"
        ),
        (NotYetValid, Some(c)) => format!(
            "the server's certificate is not yet valid: {at} sent a certificate valid only from {}, in {} \
             ({today}): this computer's clock is wrong, or the server's provider installed it too early",
            utc(c.not_before),
            span(c.not_before - now)
        ),
        (NotYetValid, None) => format!(
            "the server's certificate is not yet valid: {at} sent a certificate not valid yet ({today}): \
             this computer's clock is wrong, or the server's provider installed it too early"
        ),
        (SelfSigned, Some(c)) => format!(
            "the server's certificate is not trusted: {at} sent a self-signed certificate (\"{}\"), which no \
             trusted CA vouches for: if you trust this server, {}",
            c.subject,
            pin(c)
        ),
        (SelfSigned, None) => format!(
            "the server's certificate is not trusted: {at} sent a self-signed certificate, which no trusted \
             CA vouches for: if you trust this server, pin its certificate"
        ),
        (UnknownIssuer, Some(c)) => format!(
            "the server's certificate is not trusted: {at} sent a certificate issued by \"{}\", which is not \
             a trusted CA here: add that CA's certificate to the trusted ones, or, if you trust this server, {}",
            c.issuer_short().unwrap_or_else(|| c.issuer.clone()),
            pin(c)
        ),
        (UnknownIssuer, None) => format!(
            "the server's certificate is not trusted: {at} sent a certificate from an issuer that is not a \
             trusted CA here: add that CA's certificate to the trusted ones"
        ),
        (Revoked, _) => format!(
            "the server's certificate has been revoked: its issuer withdrew the certificate {at} sent, so it \
             must not be trusted: the server's provider must replace it"
        ),
        (Untrusted, Some(c)) => format!(
            "the server's certificate is not trusted: {at} sent a certificate that failed verification \
             ({why}); if you trust this server, {}",
            pin(c)
        ),
        (Untrusted, None) => {
            format!("the server's certificate is not trusted: {at} sent a certificate that failed verification ({why})")
        }
    }
}

/// A refused login, said as what the person should change. The codes
/// decide: POP3's response codes (RFC 2449, 3206) and SMTP's reply and
/// enhanced codes (RFC 4954).
fn login_refusal(reply: &ServerReply) -> String {
    let text = &reply.text;
    let response = reply.response_code.as_deref().unwrap_or("").to_ascii_uppercase();
    let enhanced = reply.enhanced_code.as_deref().unwrap_or("");
    let temporary = reply.code.is_some_and(|c| (400..500).contains(&c)) || enhanced.starts_with("4.");
    match () {
        _ if response == "IN-USE" => format!(
            "the server did not log in because the mailbox is in use by another program or computer ({text}): \
             close the other mail program, or wait a few minutes and try again; the user name and password \
             were not judged"
        ),
        _ if response == "LOGIN-DELAY" => format!(
            "the server allows logins to this mailbox only every so often ({text}): check mail less often, \
             or wait and try again; the user name and password were not judged"
        ),
        _ if response.starts_with("SYS/TEMP") || temporary => format!(
            "the server could not log in now, a temporary problem on its side ({text}): try again later; the \
             user name and password were not judged"
        ),
        _ if response.starts_with("SYS/PERM") => format!(
            "the server could not log in because of a problem on its side ({text}): ask the provider; trying \
             again will not help; the user name and password were not judged"
        ),
        _ if enhanced == "5.7.9" || reply.code == Some(534) => format!(
            "the server refused this login method as too weak ({text}): let mailtls choose the method, or \
             choose SSL/TLS or STARTTLS"
        ),
        _ => format!(
            "the server refused this user name or password ({text}): check both, as the provider gives them \
             (the user name is often the whole e-mail address)"
        ),
    }
}

fn with_advice(reply: &ServerReply) -> String {
    format!("{}{}", reply.text, advice_suffix(reply.advice))
}

fn advice_suffix(advice: Option<&str>) -> String {
    advice.map(|a| format!(": {a}")).unwrap_or_default()
}

fn summarize_refusals(results: &[RecipientResult]) -> String {
    let parts: Vec<String> =
        results.iter().map(|r| format!("{}: {}", r.address, r.reply.to_server_reply().text)).collect();
    parts.join("; ")
}

impl Error {
    /// The TLS library's code and words for this failure (OpenSSL's error
    /// stack, SChannel's HRESULT), kept out of the message: for a bug
    /// report or the trace, not for the person at the keyboard.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Certificate(c) => Some(&c.detail),
            Error::Tls { detail, .. } | Error::TlsVersion { detail, .. } => Some(detail),
            _ => None,
        }
    }

    /// The server reply this error carries, if any.
    pub fn reply(&self) -> Option<&ServerReply> {
        match self {
            Error::AuthFailed(r) | Error::EncryptionRequired(r) | Error::Server(r) => Some(r),
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
                | Error::ProxyUnreachable(_)
                | Error::ProxyAuthFailed(_)
                | Error::ProxyTargetFailed(_)
                | Error::ProxyProtocol(_)
                | Error::ConnectionClosed(_)
                | Error::Io { .. }
                | Error::Tls { .. }
                | Error::TlsVersion { .. }
                | Error::Certificate(_)
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_083_200; // 2026-12-01 00:00 UTC

    fn cert(names: &[&str], not_before: i64, not_after: i64, self_signed: bool) -> Certificate {
        Certificate {
            der: vec![0x30],
            sha256: [0xab; 32],
            subject: "O=Hosting, CN=server1.hosting.example".into(),
            issuer: if self_signed { "O=Hosting, CN=server1.hosting.example" } else { "O=Corp, CN=Corp CA" }.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
            not_before,
            not_after,
            self_signed,
        }
    }

    fn message(reason: CertificateReason, c: Option<Certificate>) -> String {
        CertificateError::new(reason, "mail.customer.example", 995, c, "why", "detail".into(), NOW).message
    }

    #[test]
    fn a_name_mismatch_lists_the_names_of_the_certificate() {
        let c = cert(&["server1.hosting.example", "*.hosting.example"], 0, NOW + 86_400, false);
        assert_eq!(
            message(CertificateReason::HostMismatch, Some(c)),
            "the certificate of mail.customer.example:995 is for server1.hosting.example and *.hosting.example, \
             not mail.customer.example: use one of those as the server name"
        );
        let one = cert(&["server1.hosting.example"], 0, NOW + 86_400, false);
        assert!(message(CertificateReason::HostMismatch, Some(one)).ends_with("use that as the server name"));
    }

    #[test]
    fn dates_are_given_with_today_and_both_remedies() {
        let expired = message(CertificateReason::Expired, Some(cert(&[], 0, NOW - 31 * 86_400, false)));
        assert!(expired.contains("valid until 2026-10-31 00:00 UTC, 31 days ago"), "{expired}");
        assert!(expired.contains("today is 2026-12-01"), "{expired}");
        assert!(expired.contains("must renew it") && expired.contains("clock is wrong"), "{expired}");
        let early = message(CertificateReason::NotYetValid, Some(cert(&[], NOW + 5 * 3600, NOW + 86_400 * 90, false)));
        assert!(early.contains("valid only from 2026-12-01 05:00 UTC, in 5 hours"), "{early}");
        assert!(early.contains("clock is wrong"), "{early}");
    }

    #[test]
    fn untrusted_certificates_say_who_issued_them_and_the_fingerprint() {
        let pin = format!("pin its SHA-256 fingerprint {}", "ab".repeat(32));
        let own = message(CertificateReason::SelfSigned, Some(cert(&[], 0, NOW + 1, true)));
        assert!(
            own.starts_with("the server's certificate is not trusted: mail.customer.example:995 sent a self-signed")
        );
        assert!(own.ends_with(&pin), "{own}");
        let other = message(CertificateReason::UnknownIssuer, Some(cert(&[], 0, NOW + 1, false)));
        // The DER is no certificate here, so the issuer's whole name is used.
        assert!(other.contains("issued by \"O=Corp, CN=Corp CA\", which is not a trusted CA"), "{other}");
        assert!(other.ends_with(&pin), "{other}");
        // Without the certificate, what is known is still said.
        let bare = message(CertificateReason::UnknownIssuer, None);
        assert!(bare.contains("mail.customer.example:995") && !bare.contains("fingerprint"), "{bare}");
    }
}
