//! TLS through native-tls: SChannel on Windows, Security.framework on
//! Apple systems (and OpenSSL when built with the `native-tls-backend`
//! feature, which is how this file is tested on Linux).

use super::super::carrier::Carrier;

use native_tls::{Certificate, HandshakeError, Protocol, TlsConnector, TlsStream};

use super::one_read::{self, Socket};
use super::problem::Diagnosis;
use super::{Failure, codes};
use crate::options::{TlsOptions, TlsVersion};

pub(crate) type Context = TlsConnector;
pub(crate) use one_read::Stream;

pub(crate) fn build(opts: &TlsOptions) -> Result<Context, String> {
    let mut builder = TlsConnector::builder();
    // native-tls would accept TLS 1.0 by default.
    builder.min_protocol_version(Some(match opts.min_version {
        TlsVersion::Tls12 => Protocol::Tlsv12,
        TlsVersion::Tls13 => Protocol::Tlsv13,
    }));
    for der in &opts.extra_roots_der {
        let cert = Certificate::from_der(der).map_err(|e| format!("{}{e}", super::UNUSABLE_CA))?;
        builder.add_root_certificate(cert);
    }
    // A pin is checked after the handshake; the danger switch checks nothing.
    if opts.danger_accept_invalid_certs || opts.pin_sha256.is_some() {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    builder.build().map_err(|e| format!("cannot set up TLS: {e}"))
}

/// Run the handshake. `_ask` (a certificate callback is set) changes
/// nothing here: native-tls has no way to go on past a failed verification
/// nor to keep the certificate it refused, so the callback is never asked.
pub(crate) fn connect(
    ctx: &Context,
    host: &str,
    tcp: Carrier,
    _opts: &TlsOptions,
    _ask: bool,
) -> Result<(Stream, Option<Diagnosis>), Failure> {
    let tls: TlsStream<Socket> = ctx.connect(host, Socket::new(tcp)).map_err(|e| match e {
        // The socket is blocking with timeouts, so "would block" is a timeout.
        HandshakeError::WouldBlock(_) => Failure::Timeout,
        // native-tls keeps nothing of a failed handshake.
        HandshakeError::Failure(e) => Failure::Handshake(diagnose(&e), None),
    })?;
    Ok((Stream::new(tls, one_read::under_wine()), None))
}

/// Sort a failed handshake by SChannel's HRESULT. native-tls 0.2 wraps the
/// `io::Error` that carries it in its own error, whose `source()` skips
/// it; so when no `io::Error` is found along the chain, the number comes
/// from the end of the text, where std always writes it.
#[cfg(windows)]
fn diagnose(error: &native_tls::Error) -> Diagnosis {
    let text = error.to_string();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut code = None;
    while let (Some(e), None) = (next, code) {
        code = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error);
        next = e.source();
    }
    match code.or_else(|| codes::schannel::os_error_in_text(&text)) {
        Some(code) => codes::schannel::diagnose(code, text),
        None => unsorted(text),
    }
}

/// Sort a failed handshake by Security.framework's OSStatus, which
/// native-tls 0.2 shows only in its error's `Debug` form.
#[cfg(target_vendor = "apple")]
fn diagnose(error: &native_tls::Error) -> Diagnosis {
    let text = error.to_string();
    match codes::secure_transport::os_status_in_debug(&format!("{error:?}")) {
        Some(code) => codes::secure_transport::diagnose(code, text),
        None => unsorted(text),
    }
}

/// Sort a failed handshake through native-tls's OpenSSL as the OpenSSL
/// backend does: the reason codes of the error stack (its `source()`) and,
/// when the chain check failed, the verification result (in its `Debug`).
#[cfg(not(any(windows, target_vendor = "apple")))]
fn diagnose(error: &native_tls::Error) -> Diagnosis {
    use codes::openssl::{CERTIFICATE_VERIFY_FAILED, LIB_SSL};
    let mut errors = Vec::new();
    let mut next = std::error::Error::source(error);
    while let Some(e) = next {
        if let Some(stack) = e.downcast_ref::<openssl::error::ErrorStack>() {
            errors.extend(codes::openssl::stack_codes(stack));
        }
        next = e.source();
    }
    let verify = if errors.contains(&(LIB_SSL, CERTIFICATE_VERIFY_FAILED)) {
        codes::openssl::verify_code_in_debug(&format!("{error:?}"))
    } else {
        None
    };
    codes::openssl::diagnose(verify, &errors, error.to_string())
}

/// A failure that carries no code this backend can read.
#[cfg(any(windows, target_vendor = "apple"))]
fn unsorted(library_text: String) -> Diagnosis {
    Diagnosis { problem: super::problem::TlsProblem::HandshakeFailed, code: None, library_text }
}

pub(crate) fn peer_certificate_der(stream: &Stream) -> Option<Vec<u8>> {
    stream.tls().peer_certificate().ok()??.to_der().ok()
}

/// Channel binding for SCRAM-*-PLUS: native-tls gives `tls-server-end-point`
/// (RFC 5929) on SChannel, macOS and OpenSSL (not iOS); it has no TLS
/// exporter.
pub(crate) fn channel_binding(stream: &Stream) -> Option<(&'static str, Vec<u8>)> {
    Some(("tls-server-end-point", stream.tls().tls_server_end_point().ok()??))
}

/// native-tls tells neither the protocol version nor the cipher suite.
pub(crate) fn negotiated(_stream: &Stream) -> (Option<&'static str>, Option<&'static str>) {
    (None, None)
}

/// Every certificate of a PEM bundle, as DER.
pub(crate) fn certs_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    Certificate::stack_from_pem(pem)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|c| c.to_der().map_err(|e| e.to_string()))
        .collect()
}
