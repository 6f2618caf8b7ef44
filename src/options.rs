//! Connection options shared by the POP3 and SMTP clients.

use std::sync::Arc;
use std::time::Duration;

use crate::certificate::Certificate;
use crate::error::{CertificateReason, Error, Result};
use crate::sasl::Mechanism;
use crate::trace::Tracer;
pub use crate::transport::{Proxy, ProxyCredentials, ProxyKind};

/// How the connection is secured. Nothing ever falls back to a weaker mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// The legacy "server requires a secure connection" checkbox: implicit
    /// TLS on the protocol's implicit-TLS port (995, 465), required
    /// STARTTLS/STLS on any other port.
    #[default]
    Auto,
    /// TLS from the first byte (POP3S, SMTPS).
    Tls,
    /// Plain connection upgraded with STLS/STARTTLS; failing if the server
    /// does not offer it.
    StartTls,
    /// No encryption at all.
    None,
}

/// The oldest TLS version the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLS 1.2",
            TlsVersion::Tls13 => "TLS 1.3",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub min_version: TlsVersion,
    /// Extra trusted roots, already parsed from PEM, as DER.
    pub extra_roots_der: Vec<Vec<u8>>,
    /// Accept exactly this server certificate (SHA-256 of its DER), whoever
    /// signed it and whatever names it carries.
    pub pin_sha256: Option<[u8; 32]>,
    /// Accept any certificate. Named to be noticed in review.
    pub danger_accept_invalid_certs: bool,
}

impl TlsOptions {
    // Adding CA certificates (`add_ca_pem`, `add_ca_file`) is defined in
    // `transport::tls`: the TLS library parses them.

    /// Set the pin from hex, with or without colons, any case.
    pub fn set_pin_sha256_hex(&mut self, hex: &str) -> Result<()> {
        self.pin_sha256 = Some(crate::fingerprint::parse_sha256_hex(hex)?);
        Ok(())
    }
}

/// What a [`CertificateCallback`] decided about a certificate that failed
/// verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateDecision {
    /// Fail the connect with the certificate error, before any credential.
    Refuse,
    /// Trust exactly this certificate, for this connection only: nothing
    /// is stored (a program that wants "always" pins the fingerprint).
    AcceptOnce,
}

type CertificateFn = dyn Fn(&Certificate, CertificateReason) -> CertificateDecision + Send + Sync;

/// Asked when the server's certificate fails verification: after the TLS
/// handshake (and for STARTTLS the greeting and STLS/STARTTLS), before any
/// other byte, in particular before any credential. Never asked for a
/// certificate that verified, for a pin (a mismatch is refused outright),
/// with `danger_accept_invalid_certs`, nor for other TLS failures. Runs on
/// the thread that connects. With the native-tls backend (Windows, macOS)
/// it is never asked: that library keeps nothing of a refused handshake,
/// so the connect fails as without a callback.
#[derive(Clone)]
pub struct CertificateCallback(Arc<CertificateFn>);

impl CertificateCallback {
    pub fn new(f: impl Fn(&Certificate, CertificateReason) -> CertificateDecision + Send + Sync + 'static) -> Self {
        CertificateCallback(Arc::new(f))
    }

    pub(crate) fn decide(&self, certificate: &Certificate, reason: CertificateReason) -> CertificateDecision {
        (self.0)(certificate, reason)
    }
}

impl std::fmt::Debug for CertificateCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertificateCallback")
    }
}

pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on a message held whole in memory; streaming has no cap.
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub security: Security,
    pub tls: TlsOptions,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
    /// Mechanisms `login` may choose from; `None` means all.
    pub allowed_mechanisms: Option<Vec<Mechanism>>,
    /// Permit credentials on a connection without TLS.
    pub allow_plaintext_auth: bool,
    /// Ask for UTF-8 mode (POP3 UTF8, RFC 6856) when the server offers it.
    pub utf8: bool,
    /// Largest message returned whole in memory (streaming is unlimited).
    pub max_message_bytes: u64,
    /// The name SMTP's EHLO gives for this host; `None`: this host's name.
    pub client_name: Option<ClientName>,
    pub tracer: Tracer,
    /// Asked about a certificate that failed verification (see
    /// [`CertificateCallback`]); `None`: such a connect fails.
    pub certificate_callback: Option<CertificateCallback>,
    /// Connect through this proxy; TLS still runs with the mail server,
    /// checked against the mail server's name.
    pub proxy: Option<Proxy>,
    /// With no `proxy` set: use the proxy the environment names
    /// (`all_proxy`/`ALL_PROXY`, except for hosts `no_proxy`/`NO_PROXY`
    /// lists, as curl reads them). Off by default: nothing is read from
    /// the environment unless asked.
    pub proxy_from_environment: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            security: Security::Auto,
            tls: TlsOptions::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            allowed_mechanisms: None,
            allow_plaintext_auth: false,
            utf8: false,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            client_name: None,
            tracer: Tracer::default(),
            certificate_callback: None,
            proxy: None,
            proxy_from_environment: false,
        }
    }
}

impl ClientOptions {
    /// Whether `login` may choose `m`.
    pub fn allows(&self, m: Mechanism) -> bool {
        self.allowed_mechanisms.as_ref().is_none_or(|list| list.contains(&m))
    }

    /// The security mode and port to use: `Auto` means implicit TLS on the
    /// protocol's implicit-TLS port and required STARTTLS elsewhere; port 0
    /// means the mode's default port.
    pub(crate) fn endpoint(&self, port: u16, implicit_tls_port: u16, starttls_port: u16) -> (Security, u16) {
        let security = match (self.security, port) {
            (Security::Auto, p) if p == implicit_tls_port => Security::Tls,
            (Security::Auto, _) => Security::StartTls,
            (s, _) => s,
        };
        let port = match port {
            0 if security == Security::Tls => implicit_tls_port,
            0 => starttls_port,
            p => p,
        };
        (security, port)
    }

    /// Refuse a login that cannot go ahead, before anything is sent:
    /// malformed credentials, or credentials in clear without permission.
    pub(crate) fn check_login(&self, user: &str, secret: &str, encrypted: bool) -> Result<()> {
        if user.is_empty() {
            return Err(Error::InvalidArgument("the user name is empty".into()));
        }
        check_arg("the user name", user)?;
        check_arg("the password or token", secret)?;
        if !encrypted && !self.allow_plaintext_auth {
            return Err(Error::PlaintextAuthRefused);
        }
        Ok(())
    }
}

/// The name this host gives in SMTP's EHLO: a domain or an address
/// literal, checked when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn new(name: &str) -> Result<ClientName> {
        let ok = !name.is_empty()
            && name.len() <= 255
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
        if ok {
            Ok(ClientName(name.to_string()))
        } else {
            Err(Error::InvalidArgument(format!("the client name {name:?} is not a host name or address literal")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reject what would let an argument change the command it is part of.
pub fn check_arg(what: &str, value: &str) -> Result<()> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::InvalidArgument(format!("{what} contains a line break or NUL")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_security_follows_the_port() {
        let opts = ClientOptions::default();
        assert_eq!(opts.endpoint(995, 995, 110), (Security::Tls, 995));
        assert_eq!(opts.endpoint(110, 995, 110), (Security::StartTls, 110));
        assert_eq!(opts.endpoint(0, 465, 587), (Security::StartTls, 587));
        assert_eq!(opts.endpoint(26, 465, 587), (Security::StartTls, 26));
        let tls = ClientOptions { security: Security::Tls, ..Default::default() };
        assert_eq!(tls.endpoint(0, 465, 587), (Security::Tls, 465));
        let none = ClientOptions { security: Security::None, ..Default::default() };
        assert_eq!(none.endpoint(995, 995, 110), (Security::None, 995));
    }

    #[test]
    fn client_names_are_checked_when_made() {
        assert!(ClientName::new("mail.example.org").is_ok());
        assert!(ClientName::new("[127.0.0.1]").is_ok());
        assert!(ClientName::new("bad name").is_err());
        assert!(ClientName::new("").is_err());
    }

    #[test]
    fn logins_are_checked_before_sending() {
        let opts = ClientOptions::default();
        assert!(opts.check_login("u", "p", true).is_ok());
        assert!(matches!(opts.check_login("u", "p", false), Err(Error::PlaintextAuthRefused)));
        assert!(matches!(opts.check_login("", "p", true), Err(Error::InvalidArgument(_))));
        assert!(matches!(opts.check_login("u\r\nQUIT", "p", true), Err(Error::InvalidArgument(_))));
        let allowed = ClientOptions { allow_plaintext_auth: true, ..Default::default() };
        assert!(allowed.check_login("u", "p", false).is_ok());
    }
}
