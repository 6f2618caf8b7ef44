//! TLS through native-tls: SChannel on Windows, Security.framework on
//! Apple systems (and OpenSSL when built with the `native-tls-backend`
//! feature, which is how this file is tested on Linux).

use std::net::TcpStream;

use native_tls::{Certificate, HandshakeError, Protocol, TlsConnector, TlsStream};

use super::Failure;
use crate::options::{TlsOptions, TlsVersion};

pub(crate) type Context = TlsConnector;
pub(crate) type Stream = TlsStream<TcpStream>;

pub(crate) fn build(opts: &TlsOptions) -> Result<Context, String> {
    let mut builder = TlsConnector::builder();
    // native-tls would accept TLS 1.0 by default.
    builder.min_protocol_version(Some(match opts.min_version {
        TlsVersion::Tls12 => Protocol::Tlsv12,
        TlsVersion::Tls13 => Protocol::Tlsv13,
    }));
    for der in &opts.extra_roots_der {
        let cert = Certificate::from_der(der).map_err(|e| format!("CA certificate: {e}"))?;
        builder.add_root_certificate(cert);
    }
    // A pin is checked after the handshake; the danger switch checks nothing.
    if opts.danger_accept_invalid_certs || opts.pin_sha256.is_some() {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    builder.build().map_err(|e| format!("cannot set up TLS: {e}"))
}

pub(crate) fn connect(ctx: &Context, host: &str, tcp: TcpStream, _opts: &TlsOptions) -> Result<Stream, Failure> {
    ctx.connect(host, tcp).map_err(|e| match e {
        // The socket is blocking with timeouts, so "would block" is a timeout.
        HandshakeError::WouldBlock(_) => Failure::Timeout,
        HandshakeError::Failure(e) => Failure::Other(e.to_string()),
    })
}

pub(crate) fn peer_certificate_der(stream: &Stream) -> Option<Vec<u8>> {
    stream.peer_certificate().ok()??.to_der().ok()
}

/// Every certificate of a PEM bundle, as DER.
pub(crate) fn certs_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    Certificate::stack_from_pem(pem)
        .map_err(|e| e.to_string())?
        .iter()
        .map(|c| c.to_der().map_err(|e| e.to_string()))
        .collect()
}
