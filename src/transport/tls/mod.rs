//! TLS on top of a connected stream (TCP, or the TLS session with an HTTPS
//! proxy: see `carrier.rs`), with the platform's TLS library:
//! OpenSSL driven directly where it is the system's library (see
//! `openssl.rs` for why not through native-tls there), native-tls on
//! Windows and Apple systems. What is common to both lives here: the
//! caches, the pin check and the sorting of failures.

use sha2::{Digest, Sha256};

use super::carrier::Carrier;
use crate::certificate::Certificate;
use crate::error::{CertificateReason, Error, Result};
use crate::fingerprint::sha256_hex;
use crate::options::{CertificateCallback, CertificateDecision, TlsOptions};
use crate::trace::Tracer;

#[cfg(any(windows, target_vendor = "apple", feature = "native-tls-backend"))]
#[path = "native.rs"]
mod backend;
#[cfg(not(any(windows, target_vendor = "apple", feature = "native-tls-backend")))]
#[path = "openssl.rs"]
mod backend;
mod codes;
mod memo;
#[cfg(any(windows, target_vendor = "apple", feature = "native-tls-backend"))]
mod one_read;
pub(crate) mod problem;
#[cfg(not(any(windows, target_vendor = "apple", feature = "native-tls-backend")))]
mod roots;

use memo::Memo;
use problem::Diagnosis;

pub(crate) use backend::{Stream, channel_binding};

pub(crate) struct Established {
    pub stream: Stream,
    pub info: TlsInfo,
}

/// What a TLS handshake settled, for a person checking a server: as much
/// as the backend tells (native-tls reports neither version nor cipher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// The protocol version as the TLS library names it, e.g. `TLSv1.3`.
    pub version: Option<&'static str>,
    /// The cipher suite as the TLS library names it.
    pub cipher: Option<&'static str>,
    /// The server's certificate (the chain's leaf), DER-encoded.
    pub peer_certificate_der: Option<Vec<u8>>,
    /// SHA-256 of `peer_certificate_der`.
    pub peer_sha256: Option<[u8; 32]>,
    /// The certificate failed verification for this reason, and the
    /// certificate callback accepted it for this connection.
    pub accepted_despite: Option<CertificateReason>,
}

/// A handshake that did not complete, as a backend reports it.
pub(crate) enum Failure {
    Timeout,
    /// The connection could not be set up for TLS (before any byte was
    /// sent); native-tls reports that as a handshake failure.
    #[cfg_attr(any(windows, target_vendor = "apple", feature = "native-tls-backend"), allow(dead_code))]
    Setup(String),
    /// The handshake failed, sorted from the TLS library's codes; with the
    /// server's certificate (DER) when the library kept it.
    Handshake(Diagnosis, Option<Vec<u8>>),
}

/// PEM bundles already parsed, with their certificates as DER. A mail
/// program typically adds the same CA file to fresh options for every
/// connection, and OpenSSL 3 spends about 2 million instructions decoding
/// one certificate (a quarter of a whole session's client-side work).
static PARSED_PEM: Memo<Vec<u8>, Vec<Vec<u8>>> = Memo::new(8);
/// The largest bundle remembered: a system-sized one of 200 KiB is parsed
/// every time.
const PARSED_PEM_MAX_BYTES: usize = 64 * 1024;

/// Adding trusted roots to the options: parsed here, by the TLS library,
/// so a bad bundle is refused when it is added, not at the first connect.
impl TlsOptions {
    /// Add every certificate of a PEM bundle as a trusted root.
    pub fn add_ca_pem(&mut self, pem: &[u8]) -> Result<()> {
        let certs = certs_from_pem(pem)
            .map_err(|e| Error::InvalidArgument(format!("CA certificates are not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(Error::InvalidArgument("no certificate found in the CA PEM data".into()));
        }
        self.extra_roots_der.extend(certs);
        Ok(())
    }

    pub fn add_ca_file(&mut self, path: &std::path::Path) -> Result<()> {
        let pem = std::fs::read(path)
            .map_err(|e| Error::InvalidArgument(format!("cannot read CA file {}: {e}", path.display())))?;
        self.add_ca_pem(&pem)
    }
}

/// Every certificate of a PEM bundle, as DER.
pub(crate) fn certs_from_pem(pem: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    if let Some(ders) = PARSED_PEM.get(pem) {
        return Ok(ders);
    }
    let ders = backend::certs_from_pem(pem)?;
    if pem.len() <= PARSED_PEM_MAX_BYTES && !ders.is_empty() {
        PARSED_PEM.insert(pem.to_vec(), ders.clone());
    }
    Ok(ders)
}

/// Contexts already built, by the options they were built from. Building
/// one costs OpenSSL 3 a few milliseconds (more with a CA bundle to parse),
/// a sizeable part of a whole session on a fast network; a mail program
/// connects again and again with the same options. Like curl's CA cache,
/// roots added to the system later are seen by new processes.
static CONTEXTS: Memo<TlsOptions, backend::Context> = Memo::new(8);

fn context(opts: &TlsOptions) -> Result<backend::Context> {
    if let Some(c) = CONTEXTS.get(opts) {
        return Ok(c);
    }
    // Built without holding the lock: another thread may build the same
    // one meanwhile, which costs time but nothing else.
    let built = backend::build(opts).map_err(setup_error)?;
    CONTEXTS.insert(opts.clone(), built.clone());
    Ok(built)
}

/// How the backends begin the detail of a CA certificate they cannot use.
const UNUSABLE_CA: &str = "CA certificate: ";

/// TLS could not be set up on this side, before any byte was sent.
fn setup_error(detail: String) -> Error {
    let message = if detail.starts_with(UNUSABLE_CA) {
        "TLS could not be set up: a CA certificate given to this program cannot be used (see the detail): \
         check or replace the CA file"
    } else {
        "TLS could not be set up on this computer (the TLS library failed; see the detail): nothing was sent; \
         check that the system's TLS library is installed and up to date"
    };
    Error::Tls { message: message.into(), detail }
}

/// Run the TLS handshake over `tcp` and check the pin, if any. A pin
/// replaces chain and name checks with an exact match on the certificate,
/// checked here, before any byte of the protocol is sent. A certificate
/// that failed verification is put to `callback`, if any, here too.
pub(crate) fn handshake(
    tcp: Carrier,
    host: &str,
    port: u16,
    opts: &TlsOptions,
    callback: Option<&CertificateCallback>,
    tracer: &Tracer,
) -> Result<Established> {
    let context = context(opts)?;
    let (mut stream, unverified) =
        backend::connect(&context, host, tcp, opts, callback.is_some()).map_err(|failure| match failure {
            Failure::Timeout => Error::Timeout(format!(
                "{host}:{port} did not answer the TLS handshake: check that the port and the security setting \
                 (SSL/TLS or STARTTLS) are the ones the provider gives, and that no firewall is in the way"
            )),
            Failure::Setup(detail) => setup_error(detail),
            Failure::Handshake(diagnosis, peer) => {
                diagnosis.into_error(host, port, opts.min_version, peer.as_deref(), unix_now())
            }
        })?;
    let peer_certificate_der = backend::peer_certificate_der(&stream);
    let peer_sha256 = peer_certificate_der.as_ref().map(|der| Sha256::digest(der).into());
    if let Some(expected) = opts.pin_sha256
        && peer_sha256 != Some(expected)
    {
        return Err(Error::CertificatePinMismatch {
            expected: sha256_hex(&expected),
            actual: peer_sha256.map(|d| sha256_hex(&d)).unwrap_or_else(|| "none".into()),
            certificate: peer_certificate_der.as_deref().and_then(Certificate::from_der).map(Box::new),
        });
    }
    let mut accepted_despite = None;
    if let Some(diagnosis) = unverified {
        let error = diagnosis.into_error(host, port, opts.min_version, peer_certificate_der.as_deref(), unix_now());
        match ask(callback, &error, tracer) {
            Some(reason) => accepted_despite = Some(reason),
            None => {
                // Refused: nothing but the handshake went over this connection.
                let _ = stream.shutdown();
                return Err(error);
            }
        }
    }
    let (version, cipher) = backend::negotiated(&stream);
    Ok(Established { stream, info: TlsInfo { version, cipher, peer_certificate_der, peer_sha256, accepted_despite } })
}

/// Put a failed verification to the callback: the reason when it accepts
/// the certificate for this connection, `None` when it refuses (or there
/// is no certificate to show it, or the failure is not about one).
pub(crate) fn ask(callback: Option<&CertificateCallback>, error: &Error, tracer: &Tracer) -> Option<CertificateReason> {
    let (Some(callback), Error::Certificate(failure)) = (callback, error) else { return None };
    let Some(certificate) = &failure.certificate else {
        tracer.info("the certificate could not be read, so the certificate callback was not asked");
        return None;
    };
    let decision = callback.decide(certificate, failure.reason);
    let fingerprint = certificate.sha256_hex();
    match decision {
        CertificateDecision::AcceptOnce => {
            tracer.info(format!(
                "certificate not verified ({:?}): accepted for this connection by the certificate callback \
                 (SHA-256 {fingerprint})",
                failure.reason
            ));
            Some(failure.reason)
        }
        CertificateDecision::Refuse => {
            tracer.info(format!(
                "certificate not verified ({:?}): refused by the certificate callback (SHA-256 {fingerprint})",
                failure.reason
            ));
            None
        }
    }
}

/// Whether the backend hands over the certificate of a handshake it
/// refused (OpenSSL does; native-tls keeps nothing of it).
pub(crate) const KEEPS_REFUSED_CERTIFICATE: bool =
    cfg!(not(any(windows, target_vendor = "apple", feature = "native-tls-backend")));

pub(crate) fn unix_now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::TlsVersion;

    #[test]
    fn contexts_are_reused_and_the_cache_is_bounded() {
        let pinned = |i: u8| TlsOptions { pin_sha256: Some([i; 32]), ..TlsOptions::default() };
        context(&pinned(0)).unwrap();
        assert!(CONTEXTS.get(&pinned(0)).is_some());
        let before = CONTEXTS.len();
        context(&pinned(0)).unwrap();
        assert_eq!(CONTEXTS.len(), before, "the same options reuse their context");
        for i in 1..=10 {
            context(&pinned(i)).unwrap();
        }
        assert!(CONTEXTS.len() <= 8);
    }

    #[test]
    fn parsed_pem_is_remembered_and_bad_pem_is_not() {
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-ca.pem")).unwrap();
        let first = certs_from_pem(&pem).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0][0], 0x30, "DER starts with a SEQUENCE");
        assert!(PARSED_PEM.get(&pem[..]).is_some());
        assert_eq!(certs_from_pem(&pem).unwrap(), first);

        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(certs_from_pem(garbage).is_err());
        assert!(certs_from_pem(b"no PEM here").unwrap_or_default().is_empty());
        assert!(PARSED_PEM.get(&garbage[..]).is_none() && PARSED_PEM.get(&b"no PEM here"[..]).is_none());
    }

    #[test]
    fn failures_are_sorted_into_the_core_errors_by_code() {
        use crate::error::CertificateReason as R;
        use codes::openssl::{CERTIFICATE_VERIFY_FAILED, LIB_SSL, diagnose};
        let internals = "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify \
                         failed:../ssl/statem/statem_clnt.c:1889:";
        let openssl = |verify, reason| {
            diagnose(Some(verify), &[(LIB_SSL, reason)], internals.into()).into_error(
                "h",
                995,
                TlsVersion::Tls12,
                None,
                0,
            )
        };
        let certificate = |e: Error| match e {
            Error::Certificate(c) => *c,
            other => panic!("{other:?}"),
        };
        let host = certificate(openssl(62, CERTIFICATE_VERIFY_FAILED));
        assert_eq!((host.reason, host.host.as_str(), host.port), (R::HostMismatch, "h", 995));
        assert!(host.message.starts_with("the certificate of h:995 is for another host name"), "{}", host.message);
        // The code and the library's words are in the detail, not the message.
        assert!(host.detail.contains("X509_V_ERR_HOSTNAME_MISMATCH, 62"), "{}", host.detail);
        assert!(host.detail.ends_with(&format!("the TLS library said: {internals}")), "{}", host.detail);
        assert!(!host.message.contains("X509") && !host.message.contains("statem"), "{}", host.message);
        for (code, reason) in [
            (20, R::UnknownIssuer),
            (19, R::UnknownIssuer),
            (18, R::SelfSigned),
            (10, R::Expired),
            (9, R::NotYetValid),
            (23, R::Revoked),
            (7, R::Untrusted),
        ] {
            assert_eq!(certificate(openssl(code, CERTIFICATE_VERIFY_FAILED)).reason, reason, "{code}");
        }
        match openssl(0, 258) {
            Error::TlsVersion { required, message, detail } => {
                assert_eq!(required, "TLS 1.2");
                assert!(message.starts_with("h:995 speaks only obsolete TLS"), "{message}");
                assert!(message.contains("provider must update the server"), "{message}");
                assert!(detail.contains("SSL_R_UNSUPPORTED_PROTOCOL, 258"), "{detail}");
                assert!(!message.contains("SSL_R"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match openssl(0, 267) {
            Error::Tls { message, detail } => {
                assert!(
                    message.contains("h:995 answered without TLS") && message.contains("choose STARTTLS"),
                    "{message}"
                );
                assert!(detail.contains("does not speak TLS"), "{detail}");
                assert!(detail.contains("SSL_R_WRONG_VERSION_NUMBER, 267"), "{detail}");
                assert!(!message.contains("SSL_R"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(openssl(0, 4321), Error::Tls { .. }));
        // Windows codes reach the same errors, whatever language the text is in.
        let windows = |code: u32| {
            certificate(codes::schannel::diagnose(code as i32, String::new()).into_error(
                "h",
                1,
                TlsVersion::Tls12,
                None,
                0,
            ))
        };
        assert_eq!(windows(0x800B_0109).reason, R::UnknownIssuer);
        assert_eq!(windows(0x800B_010F).reason, R::HostMismatch);
        assert_eq!(windows(0x800B_0101).reason, R::Expired);
        assert_eq!(windows(0x800B_010C).reason, R::Revoked);
        let version = codes::schannel::diagnose(0x8009_0331_u32 as i32, String::new());
        assert!(matches!(version.into_error("h", 1, TlsVersion::Tls12, None, 0), Error::TlsVersion { .. }));
        let apple = |code| {
            codes::secure_transport::diagnose(code, String::new()).into_error("h", 1, TlsVersion::Tls12, None, 0)
        };
        assert_eq!(certificate(apple(-9807)).reason, R::Untrusted);
        assert_eq!(certificate(apple(-9843)).reason, R::HostMismatch);
        assert_eq!(certificate(apple(-67819)).reason, R::NotYetValid);
        assert!(matches!(apple(-9836), Error::TlsVersion { .. }));
    }

    /// Where one code covers two cases, the certificate decides.
    #[test]
    fn the_certificate_refines_a_code_that_covers_two_cases() {
        use crate::error::CertificateReason as R;
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-ca.pem")).unwrap();
        let der = certs_from_pem(&pem).unwrap().remove(0);
        let cert = crate::certificate::Certificate::from_der(&der).unwrap();
        let reason = |code: u32, now| match codes::schannel::diagnose(code as i32, String::new()).into_error(
            "h",
            1,
            TlsVersion::Tls12,
            Some(&der),
            now,
        ) {
            Error::Certificate(c) => (c.reason, c.certificate),
            other => panic!("{other:?}"),
        };
        // CERT_E_EXPIRED before the start of the validity period.
        assert_eq!(reason(0x800B_0101, cert.not_before - 10).0, R::NotYetValid);
        assert_eq!(reason(0x800B_0101, cert.not_after + 10).0, R::Expired);
        // CERT_E_UNTRUSTEDROOT of a self-signed leaf.
        let (why, facts) = reason(0x800B_0109, cert.not_before + 10);
        assert_eq!(why, R::SelfSigned);
        assert_eq!(facts.as_ref(), Some(&cert));
    }
}
