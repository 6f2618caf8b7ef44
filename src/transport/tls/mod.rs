//! TLS on top of a connected TCP stream, with the platform's TLS library:
//! OpenSSL driven directly where it is the system's library (see
//! `openssl.rs` for why not through native-tls there), native-tls on
//! Windows and Apple systems. What is common to both lives here: the
//! caches, the pin check and the sorting of failures.

use std::net::TcpStream;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fingerprint::sha256_hex;
use crate::options::{TlsOptions, TlsVersion};

#[cfg(any(windows, target_vendor = "apple", feature = "native-tls-backend"))]
#[path = "native.rs"]
mod backend;
#[cfg(not(any(windows, target_vendor = "apple", feature = "native-tls-backend")))]
#[path = "openssl.rs"]
mod backend;
mod memo;
#[cfg(not(any(windows, target_vendor = "apple", feature = "native-tls-backend")))]
mod roots;

use memo::Memo;

pub(crate) use backend::Stream;

pub(crate) struct Established {
    pub stream: Stream,
    pub peer_sha256: Option<[u8; 32]>,
}

/// A handshake that did not complete, as a backend reports it.
pub(crate) enum Failure {
    Timeout,
    /// The TLS library's own words, sorted by `classify`.
    Other(String),
}

/// PEM bundles already parsed, with their certificates as DER. A mail
/// program typically adds the same CA file to fresh options for every
/// connection, and OpenSSL 3 spends about 2 million instructions decoding
/// one certificate (a quarter of a whole session's client-side work).
static PARSED_PEM: Memo<Vec<u8>, Vec<Vec<u8>>> = Memo::new(8);
/// The largest bundle remembered: a system-sized one of 200 KiB is parsed
/// every time.
const PARSED_PEM_MAX_BYTES: usize = 64 * 1024;

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
    let built = backend::build(opts).map_err(Error::Tls)?;
    CONTEXTS.insert(opts.clone(), built.clone());
    Ok(built)
}

/// Run the TLS handshake over `tcp` and check the pin, if any. A pin
/// replaces chain and name checks with an exact match on the certificate,
/// checked here, before any byte of the protocol is sent.
pub(crate) fn handshake(tcp: TcpStream, host: &str, opts: &TlsOptions) -> Result<Established> {
    let context = context(opts)?;
    let stream = backend::connect(&context, host, tcp, opts).map_err(|failure| match failure {
        Failure::Timeout => Error::Timeout("no answer from the server during the TLS handshake".into()),
        Failure::Other(detail) => classify(host, opts.min_version, &detail),
    })?;
    let peer_sha256 = backend::peer_certificate_der(&stream).map(|der| Sha256::digest(&der).into());
    if let Some(expected) = opts.pin_sha256 {
        if peer_sha256 != Some(expected) {
            return Err(Error::CertificatePinMismatch {
                expected: sha256_hex(&expected),
                actual: peer_sha256.map(|d| sha256_hex(&d)).unwrap_or_else(|| "none".into()),
            });
        }
    }
    Ok(Established { stream, peer_sha256 })
}

/// Sort a handshake failure into what the user can act on. The TLS libraries
/// only give text, so this reads the text of OpenSSL, SChannel and
/// Security.framework; anything unrecognised stays a plain TLS error.
fn classify(host: &str, min: TlsVersion, detail: &str) -> Error {
    let lower = detail.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&["hostname mismatch", "ip address mismatch", "cn name does not match", "host name mismatch"]) {
        Error::CertificateHostMismatch { host: host.to_string(), detail: detail.to_string() }
    } else if has(&[
        "certificate verify failed",
        "certificate chain",
        "not trusted",
        "untrusted",
        "self-signed",
        "self signed",
        "certificate has expired",
        "unknown ca",
    ]) {
        Error::CertificateUntrusted(detail.to_string())
    } else if has(&["wrong version number", "packet length too long", "http request"]) {
        // The first bytes back were not TLS at all.
        Error::Tls(format!(
            "the server does not speak TLS on this port (for a port that upgrades \
             with STLS/STARTTLS, use security STARTTLS): {detail}"
        ))
    } else if has(&["unsupported protocol", "protocol version", "no protocols available"]) {
        Error::TlsVersion { required: min.name(), detail: detail.to_string() }
    } else {
        Error::Tls(detail.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn openssl_failures_are_sorted() {
        let host = |s| classify("h", TlsVersion::Tls12, s);
        assert!(matches!(
            host(
                "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:ssl/statem/statem_clnt.c:1889: (Hostname mismatch)"
            ),
            Error::CertificateHostMismatch { .. }
        ));
        assert!(matches!(
            host("error:0A000086:SSL routines::certificate verify failed: (unable to get local issuer certificate)"),
            Error::CertificateUntrusted(_)
        ));
        assert!(matches!(host("error:0A000102:SSL routines::unsupported protocol"), Error::TlsVersion { .. }));
        assert!(matches!(host("something else"), Error::Tls(_)));
        match host("error:0A00010B:SSL routines:ssl3_get_record:wrong version number") {
            Error::Tls(msg) => assert!(msg.contains("does not speak TLS"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
