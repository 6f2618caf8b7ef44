//! What went wrong in a TLS handshake, sorted from the TLS library's own
//! numbers (OpenSSL's verification result and reason codes, SChannel's
//! HRESULTs, Security.framework's OSStatus), never from its words: those
//! are missing under Wine and translated on non-English systems.

use std::fmt;

use super::codes;
use crate::certificate::Certificate;
use crate::error::{CertificateError, CertificateReason, Error};
use crate::options::TlsVersion;

/// The kinds of handshake failure a person acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsProblem {
    /// The certificate is valid but for another host name or address.
    HostMismatch,
    Expired,
    NotYetValid,
    /// Expired or not yet valid: SChannel and Security.framework report
    /// both with one code.
    OutsideValidityPeriod,
    /// The server's own certificate is self-signed and not trusted.
    SelfSigned,
    /// The chain ends in a root certificate that is not trusted.
    UntrustedRoot,
    /// No trusted CA issued the certificate (or the chain is incomplete).
    UnknownIssuer,
    Revoked,
    /// Not trusted, for a reason the library does not say.
    NotTrusted,
    /// Whether the certificate was revoked could not be found out.
    RevocationUnknown,
    /// Any other defect of the certificate or its chain (bad signature,
    /// wrong key usage, an issuer that is not a CA, ...).
    InvalidCertificate,
    /// What came back is not TLS: a plain-text port, or another protocol.
    NotTls,
    /// No TLS version (or cipher) in common with the server.
    ProtocolVersion,
    /// The server closed the connection in the middle of the handshake.
    ConnectionClosed,
    /// Anything the codes do not tell apart.
    HandshakeFailed,
}

impl TlsProblem {
    /// The reason, in plain words.
    fn sentence(self) -> &'static str {
        match self {
            TlsProblem::HostMismatch => "the certificate is for another host name or address",
            TlsProblem::Expired => "the certificate has expired",
            TlsProblem::NotYetValid => "the certificate is not yet valid",
            TlsProblem::OutsideValidityPeriod => "the certificate has expired or is not yet valid",
            TlsProblem::SelfSigned => "the certificate is self-signed and not trusted",
            TlsProblem::UntrustedRoot => "the certificate chains to a self-signed root that is not trusted",
            TlsProblem::UnknownIssuer => "the certificate's issuer is not trusted (no trusted CA issued it)",
            TlsProblem::NotTrusted => "the certificate is not trusted",
            TlsProblem::Revoked => "the certificate has been revoked",
            TlsProblem::RevocationUnknown => "the certificate's revocation status is unknown",
            TlsProblem::InvalidCertificate => "the certificate or its chain is not valid",
            TlsProblem::NotTls => {
                "the server does not speak TLS on this port (for a port that upgrades with \
                 STLS/STARTTLS, use security STARTTLS)"
            }
            TlsProblem::ProtocolVersion => "the server offers no TLS version or cipher this client accepts",
            TlsProblem::ConnectionClosed => "the server closed the connection during the handshake",
            TlsProblem::HandshakeFailed => "the handshake failed",
        }
    }
}

/// A TLS library's number for a failure, by the library it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// OpenSSL's certificate verification result (`X509_V_ERR_*`).
    #[cfg_attr(any(windows, target_vendor = "apple"), allow(dead_code))]
    X509Verify(i32),
    /// The reason code of an OpenSSL SSL-library error (`SSL_R_*`).
    #[cfg_attr(any(windows, target_vendor = "apple"), allow(dead_code))]
    SslReason(i32),
    /// An SChannel / CryptoAPI HRESULT (`CERT_E_*`, `SEC_E_*`, `CRYPT_E_*`).
    HResult(i32),
    /// A Security.framework status (`errSSL*`, `errSec*`).
    OsStatus(i32),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Code::X509Verify(v) => match codes::openssl::verify_name(v) {
                Some(name) => write!(f, "{name}, {v}"),
                None => write!(f, "X509 verification error {v}"),
            },
            Code::SslReason(v) => match codes::openssl::reason_name(v) {
                Some(name) => write!(f, "{name}, {v}"),
                None => write!(f, "OpenSSL SSL reason {v}"),
            },
            // HRESULTs are read in hexadecimal everywhere Microsoft lists
            // them; plain Win32 (Winsock) errors in decimal.
            Code::HResult(v) => {
                let number = if v < 0 { format!("{:#010X}", v as u32) } else { v.to_string() };
                match codes::schannel::name(v) {
                    Some(name) => write!(f, "{name}, {number}"),
                    None if v < 0 => write!(f, "HRESULT {number}"),
                    None => write!(f, "Windows error {number}"),
                }
            }
            Code::OsStatus(v) => match codes::secure_transport::name(v) {
                Some(name) => write!(f, "{name}, {v}"),
                None => write!(f, "OSStatus {v}"),
            },
        }
    }
}

/// A failed handshake as the backend saw it: the kind, the number it was
/// sorted by, and the library's own text (kept for the reader, never parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnosis {
    pub problem: TlsProblem,
    pub code: Option<Code>,
    pub library_text: String,
}

impl Diagnosis {
    /// The sentence for the error: the reason, its code, then the library's words.
    pub(crate) fn detail(&self) -> String {
        let mut detail = self.problem.sentence().to_string();
        if let Some(code) = self.code {
            detail.push_str(&format!(" ({code})"));
        }
        if !self.library_text.is_empty() {
            detail.push_str(&format!("; the TLS library said: {}", self.library_text));
        }
        detail
    }

    /// The core error for this failure, with the server's certificate
    /// (DER) when the backend had it, at the time `now` (Unix seconds).
    pub(crate) fn into_error(self, host: &str, port: u16, min: TlsVersion, peer_der: Option<&[u8]>, now: i64) -> Error {
        let detail = self.detail();
        let certificate = peer_der.and_then(Certificate::from_der);
        let Some(reason) = self.problem.certificate_reason(certificate.as_ref(), now) else {
            let at = format!("{host}:{port}");
            return match self.problem {
                TlsProblem::ProtocolVersion => {
                    Error::TlsVersion { required: min.name(), message: version_message(&at, min), detail }
                }
                problem => Error::Tls { message: handshake_message(problem, &at, port), detail },
            };
        };
        let why = self.problem.sentence();
        Error::Certificate(Box::new(CertificateError::new(reason, host, port, certificate, why, detail, now)))
    }
}

impl TlsProblem {
    /// The certificate failure a person acts on, from the library's kind
    /// and, where one code covers two cases, the certificate itself;
    /// `None` for failures that are not about the certificate.
    fn certificate_reason(self, cert: Option<&Certificate>, now: i64) -> Option<CertificateReason> {
        use CertificateReason as R;
        let self_signed = cert.is_some_and(|c| c.self_signed);
        Some(match self {
            TlsProblem::HostMismatch => R::HostMismatch,
            TlsProblem::Expired => R::Expired,
            TlsProblem::NotYetValid => R::NotYetValid,
            // SChannel and Security.framework: the dates tell which.
            TlsProblem::OutsideValidityPeriod => match cert {
                Some(c) if now < c.not_before => R::NotYetValid,
                _ => R::Expired,
            },
            TlsProblem::SelfSigned => R::SelfSigned,
            // SChannel says "untrusted root" of a self-signed leaf too.
            TlsProblem::UntrustedRoot | TlsProblem::UnknownIssuer if self_signed => R::SelfSigned,
            TlsProblem::UntrustedRoot | TlsProblem::UnknownIssuer => R::UnknownIssuer,
            TlsProblem::NotTrusted if self_signed => R::SelfSigned,
            TlsProblem::Revoked => R::Revoked,
            TlsProblem::NotTrusted | TlsProblem::RevocationUnknown | TlsProblem::InvalidCertificate => R::Untrusted,
            TlsProblem::NotTls
            | TlsProblem::ProtocolVersion
            | TlsProblem::ConnectionClosed
            | TlsProblem::HandshakeFailed => return None,
        })
    }
}

/// No TLS version or cipher in common: with the default minimum, the
/// server speaks only what is no longer safe; with a raised one, the
/// minimum may be what to change.
fn version_message(at: &str, min: TlsVersion) -> String {
    match min {
        TlsVersion::Tls12 => format!(
            "{at} speaks only obsolete TLS (older than TLS 1.2, or ciphers no longer considered safe), which \
             this client refuses because others could read or change such a connection: the server's \
             provider must update the server"
        ),
        TlsVersion::Tls13 => format!(
            "{at} does not offer TLS 1.3, the minimum this program is set to: set the minimum TLS version to \
             1.2, or ask the server's provider to enable TLS 1.3"
        ),
    }
}

/// A handshake failure that is neither the certificate nor the version:
/// what happened at `at`, and the setting to check.
fn handshake_message(problem: TlsProblem, at: &str, port: u16) -> String {
    match problem {
        TlsProblem::NotTls => format!(
            "{at} answered without TLS, so port {port} does not expect TLS from the first byte: choose STARTTLS \
             for this port, or SSL/TLS with the provider's SSL/TLS port (995 for POP3, 465 for SMTP)"
        ),
        TlsProblem::ConnectionClosed => format!(
            "{at} closed the connection during the TLS handshake: check that the port and the security setting \
             (SSL/TLS or STARTTLS) are the ones the provider gives; a server that accepts only obsolete TLS \
             versions also does this"
        ),
        _ => format!(
            "the TLS handshake with {at} failed: check that the port and the security setting (SSL/TLS or \
             STARTTLS) are the ones the provider gives"
        ),
    }
}
