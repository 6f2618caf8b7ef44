//! TLS through the system's OpenSSL, driven directly with the `openssl`
//! crate (the library native-tls itself uses on these platforms).
//!
//! Why not through native-tls here: native-tls 0.2 builds every context with
//! OpenSSL's default paths *and* the bundle openssl-probe finds, so it parses
//! the system's whole CA bundle (about 150 certificates) twice, eagerly:
//! ~66 ms of CPU before a process's first handshake, three times the
//! handshake itself on a fast network. Here the system roots are looked up
//! lazily in OpenSSL's hashed certificate directory (see `roots`), and the
//! rest of the set-up is what native-tls and the openssl crate's own
//! `SslConnector` do.

use std::net::IpAddr;

use super::super::carrier::Carrier;
use std::sync::{Arc, OnceLock};

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::{
    HandshakeError, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslStream, SslVerifyMode,
    SslVersion,
};
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::{X509, X509VerifyResult};

use super::memo::Memo;
use super::problem::Diagnosis;
use super::{Failure, codes, roots};
use crate::options::{TlsOptions, TlsVersion};

pub(crate) type Context = SslContext;
pub(crate) type Stream = SslStream<Carrier>;

/// The cipher list of the openssl crate's `SslConnector` (no anonymous,
/// null or broken ciphers), used for TLS 1.2; TLS 1.3 suites are all sound.
const CIPHERS: &str = "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK";

pub(crate) fn build(opts: &TlsOptions) -> Result<Context, String> {
    let setup = |e: openssl::error::ErrorStack| format!("cannot set up TLS: {e}");
    let mut ctx = SslContextBuilder::new(SslMethod::tls_client()).map_err(setup)?;
    let mut options = SslOptions::ALL | SslOptions::NO_COMPRESSION | SslOptions::NO_SSLV2 | SslOptions::NO_SSLV3;
    // Part of ALL, but it only works around bugs of SSL 3 / TLS 1.0 peers.
    options &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    ctx.set_options(options);
    ctx.set_mode(SslMode::AUTO_RETRY | SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::ENABLE_PARTIAL_WRITE);
    ctx.set_cipher_list(CIPHERS).map_err(setup)?;
    // Read whole socket buffers, not a 5-byte record header and then its
    // body: a third of the system calls when fetching mail. The socket
    // belongs to TLS until it is closed, so nothing else can miss the bytes
    // read ahead.
    ctx.set_read_ahead(true);
    ctx.set_min_proto_version(Some(match opts.min_version {
        TlsVersion::Tls12 => SslVersion::TLS1_2,
        TlsVersion::Tls13 => SslVersion::TLS1_3,
    }))
    .map_err(setup)?;

    if accepts_any_chain(opts) {
        // A pin is checked after the handshake; the danger switch checks nothing.
        ctx.set_verify(SslVerifyMode::NONE);
    } else {
        ctx.set_verify(SslVerifyMode::PEER);
        roots::add_system_roots(&mut ctx);
        for der in &opts.extra_roots_der {
            let cert = parsed_root(der).map_err(|e| format!("{}{e}", super::UNUSABLE_CA))?;
            // Adding a root the system already trusts fails harmlessly.
            let _ = ctx.cert_store_mut().add_cert(cert);
        }
    }
    Ok(ctx.build())
}

fn accepts_any_chain(opts: &TlsOptions) -> bool {
    opts.danger_accept_invalid_certs || opts.pin_sha256.is_some()
}

/// Run the handshake. With `ask` (a certificate callback is set and the
/// chain is checked), a failed verification does not stop the handshake:
/// its first failure is recorded and returned with the stream, for the
/// caller to ask about before anything else is sent. The first failure is
/// the one OpenSSL would have stopped at, so the reason is the same as
/// without a callback.
pub(crate) fn connect(
    ctx: &Context,
    host: &str,
    tcp: Carrier,
    opts: &TlsOptions,
    ask: bool,
) -> Result<(Stream, Option<Diagnosis>), Failure> {
    let setup = |e: openssl::error::ErrorStack| Failure::Setup(format!("cannot set up TLS: {e}"));
    let mut ssl = Ssl::new(ctx).map_err(setup)?;
    let ip = host.parse::<IpAddr>().ok();
    // SNI carries host names only (RFC 6066).
    if ip.is_none() {
        ssl.set_hostname(host).map_err(setup)?;
    }
    let checked = !accepts_any_chain(opts);
    if checked {
        let param = ssl.param_mut();
        param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match ip {
            Some(ip) => param.set_ip(ip),
            None => param.set_host(host),
        }
        .map_err(setup)?;
    }
    // The first verification failure, when the caller asks.
    let first_failure = Arc::new(OnceLock::new());
    if checked && ask {
        let record = Arc::clone(&first_failure);
        ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, store| {
            if !ok {
                let _ = record.set(store.error());
            }
            true
        });
    }
    let recorded = || first_failure.get().map(|&verify| verify_failure(verify));
    match ssl.connect(tcp) {
        Ok(stream) => Ok((stream, recorded())),
        Err(HandshakeError::SetupFailure(e)) => Err(setup(e)),
        // The socket is blocking with timeouts, so "would block" is a timeout.
        Err(HandshakeError::WouldBlock(_)) => Err(Failure::Timeout),
        Err(HandshakeError::Failure(mid)) => {
            // Without the callback OpenSSL would have stopped at a recorded
            // failure: that is why. Without a chain check the result is not.
            let diagnosis = match recorded() {
                Some(d) => d,
                None => diagnose(checked.then(|| mid.ssl().verify_result()), mid.error()),
            };
            Err(Failure::Handshake(diagnosis, received_leaf(mid.ssl())))
        }
    }
}

/// A verification failure that did not stop the handshake, sorted as if
/// it had (OpenSSL's words are then its verification text alone).
fn verify_failure(verify: X509VerifyResult) -> Diagnosis {
    let text = format!("certificate verify failed ({})", verify.error_string());
    codes::openssl::diagnose(
        Some(verify.as_raw()),
        &[(codes::openssl::LIB_SSL, codes::openssl::CERTIFICATE_VERIFY_FAILED)],
        text,
    )
}

/// Sort a failed handshake from OpenSSL's verification result and the
/// reason codes of its error stack; its text is kept as it is.
fn diagnose(verify: Option<X509VerifyResult>, error: &openssl::ssl::Error) -> Diagnosis {
    let errors = error.ssl_error().map(codes::openssl::stack_codes).unwrap_or_default();
    let mut text = error.to_string();
    let verify = verify.filter(|&v| v != X509VerifyResult::OK);
    if let Some(v) = verify {
        text = format!("{text} ({})", v.error_string());
    }
    codes::openssl::diagnose(verify.map(|v| v.as_raw()), &errors, text)
}

/// The server's certificate of a handshake that failed: OpenSSL keeps
/// the chain it received (the leaf first, on a client) but sets the peer
/// certificate only once it is verified.
fn received_leaf(ssl: &openssl::ssl::SslRef) -> Option<Vec<u8>> {
    match ssl.peer_certificate() {
        Some(cert) => cert.to_der().ok(),
        None => ssl.peer_cert_chain()?.iter().next()?.to_der().ok(),
    }
}

pub(crate) fn peer_certificate_der(stream: &Stream) -> Option<Vec<u8>> {
    stream.ssl().peer_certificate()?.to_der().ok()
}

/// Channel binding for SCRAM-*-PLUS: `tls-exporter` (RFC 9266: 32 bytes of
/// the exporter with this label and an empty context) on TLS 1.3, where
/// it is defined; `tls-server-end-point` (RFC 5929: the server
/// certificate's hash with the hash of its signature, SHA-256 for MD5 and
/// SHA-1) before it. `None` for a certificate whose signature names no
/// hash (Ed25519), for which RFC 5929 defines no binding.
pub(crate) fn channel_binding(stream: &Stream) -> Option<(&'static str, Vec<u8>)> {
    let ssl = stream.ssl();
    if ssl.version2() == Some(SslVersion::TLS1_3) {
        let mut data = vec![0; 32];
        ssl.export_keying_material(&mut data, "EXPORTER-Channel-Binding", Some(&[])).ok()?;
        return Some(("tls-exporter", data));
    }
    let cert = ssl.peer_certificate()?;
    let digest = match cert.signature_algorithm().object().nid().signature_algorithms()?.digest {
        Nid::MD5 | Nid::SHA1 => MessageDigest::sha256(),
        other => MessageDigest::from_nid(other)?,
    };
    Some(("tls-server-end-point", cert.digest(digest).ok()?.to_vec()))
}

/// The protocol version and cipher suite the handshake settled on.
pub(crate) fn negotiated(stream: &Stream) -> (Option<&'static str>, Option<&'static str>) {
    let ssl = stream.ssl();
    (Some(ssl.version_str()), ssl.current_cipher().map(|c| c.name()))
}

/// Certificates decoded from PEM, by their DER, so that building a context
/// from the same options does not decode them a second time (OpenSSL 3
/// spends about 2 million instructions on one).
static DECODED: Memo<Vec<u8>, X509> = Memo::new(32);

/// Every certificate of a PEM bundle, as DER.
pub(crate) fn certs_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certs = X509::stack_from_pem(pem).map_err(|e| e.to_string())?;
    let mut ders = Vec::with_capacity(certs.len());
    for cert in certs {
        let der = cert.to_der().map_err(|e| e.to_string())?;
        DECODED.insert(der.clone(), cert);
        ders.push(der);
    }
    Ok(ders)
}

fn parsed_root(der: &[u8]) -> Result<X509, openssl::error::ErrorStack> {
    DECODED.get(der).map_or_else(|| X509::from_der(der), Ok)
}
