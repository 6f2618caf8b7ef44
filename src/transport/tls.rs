//! TLS on top of a connected TCP stream, with the platform's TLS library.

use std::net::TcpStream;
use std::sync::Mutex;

use native_tls::{Certificate, HandshakeError, Protocol, TlsConnector, TlsStream};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::options::{TlsOptions, TlsVersion, sha256_hex};

pub(crate) struct Established {
    pub stream: TlsStream<TcpStream>,
    pub peer_sha256: Option<[u8; 32]>,
}

/// Connectors already built, by the options they were built from. Building
/// one loads the system's trusted roots, which costs OpenSSL 3 tens of
/// milliseconds, several times a whole handshake on a fast network; a mail
/// program connects again and again with the same options. Like curl's CA
/// cache, roots added to the system later are seen by new processes.
static CONNECTORS: Mutex<Vec<(TlsOptions, TlsConnector)>> = Mutex::new(Vec::new());
/// Distinct option sets remembered; the oldest is dropped past this.
const CACHED_CONNECTORS: usize = 8;

fn connector(opts: &TlsOptions) -> Result<TlsConnector> {
    let cached = |list: &Vec<(TlsOptions, TlsConnector)>| list.iter().find(|(o, _)| o == opts).map(|(_, c)| c.clone());
    if let Some(c) = cached(&CONNECTORS.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(c);
    }
    // Built without holding the lock: another thread may build the same
    // one meanwhile, which costs time but nothing else.
    let built = build_connector(opts)?;
    let mut list = CONNECTORS.lock().unwrap_or_else(|e| e.into_inner());
    if cached(&list).is_none() {
        if list.len() == CACHED_CONNECTORS {
            list.remove(0);
        }
        list.push((opts.clone(), built.clone()));
    }
    Ok(built)
}

fn build_connector(opts: &TlsOptions) -> Result<TlsConnector> {
    let mut builder = TlsConnector::builder();
    // native-tls would accept TLS 1.0 by default.
    builder.min_protocol_version(Some(match opts.min_version {
        TlsVersion::Tls12 => Protocol::Tlsv12,
        TlsVersion::Tls13 => Protocol::Tlsv13,
    }));
    for der in &opts.extra_roots_der {
        let cert = Certificate::from_der(der).map_err(|e| Error::Tls(format!("CA certificate: {e}")))?;
        builder.add_root_certificate(cert);
    }
    // A pin replaces chain and name checks with an exact match on the
    // certificate, checked right after the handshake and before any byte of
    // the protocol is sent.
    if opts.danger_accept_invalid_certs || opts.pin_sha256.is_some() {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    builder.build().map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))
}

/// Run the TLS handshake over `tcp` and check the pin, if any.
pub(crate) fn handshake(tcp: TcpStream, host: &str, opts: &TlsOptions) -> Result<Established> {
    let connector = connector(opts)?;
    let stream = match connector.connect(host, tcp) {
        Ok(s) => s,
        // The socket is blocking with timeouts, so "would block" is a timeout.
        Err(HandshakeError::WouldBlock(_)) => {
            return Err(Error::Timeout("no answer from the server during the TLS handshake".into()));
        }
        Err(HandshakeError::Failure(e)) => {
            return Err(classify(host, opts.min_version, &e.to_string()));
        }
    };
    let peer_sha256 = match stream.peer_certificate() {
        Ok(Some(cert)) => {
            let der = cert.to_der().map_err(|e| Error::Tls(format!("peer certificate: {e}")))?;
            Some(Sha256::digest(&der).into())
        }
        _ => None,
    };
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
    fn connectors_are_reused_and_the_cache_is_bounded() {
        let pinned = |i: u8| TlsOptions { pin_sha256: Some([i; 32]), ..TlsOptions::default() };
        let cached = || CONNECTORS.lock().unwrap().iter().filter(|(o, _)| o.pin_sha256.is_some()).count();
        connector(&pinned(0)).unwrap();
        let before = cached();
        connector(&pinned(0)).unwrap();
        assert_eq!(cached(), before, "the same options reuse their connector");
        for i in 1..=CACHED_CONNECTORS as u8 + 2 {
            connector(&pinned(i)).unwrap();
        }
        assert!(CONNECTORS.lock().unwrap().len() <= CACHED_CONNECTORS);
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
