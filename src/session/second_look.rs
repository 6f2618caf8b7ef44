//! The certificate of a refused handshake where the TLS library keeps
//! none of it (native-tls: SChannel, Security.framework).
//!
//! OpenSSL hands the refused certificate over in the handshake itself, so
//! the error tells its facts and the certificate callback is asked before
//! anything else is sent. native-tls only says that verification failed.
//! So, after such a failure, the client connects a second time with a pin
//! no certificate can match: the handshake then runs without verification
//! and stops at the pin check, before any protocol byte beyond the
//! greeting and STARTTLS, and the mismatch carries the certificate. Its
//! facts go into the first error; if the callback accepts the certificate,
//! a third connection pins exactly that one and the session goes on.

use crate::certificate::Certificate;
use crate::error::{Error, Result};
use crate::options::ClientOptions;
use crate::transport::{KEEPS_REFUSED_CERTIFICATE, ask_certificate_callback, unix_now};

use super::Client;

/// A pin that no certificate matches (a SHA-256 of all zero bits).
const MATCHES_NOTHING: [u8; 32] = [0; 32];

/// `connect_once`, and after a certificate failure without the
/// certificate, the second look described above.
pub(crate) fn connect<C: Client>(
    host: &str,
    port: u16,
    opts: &ClientOptions,
    connect_once: fn(&str, u16, &ClientOptions) -> Result<C>,
) -> Result<C> {
    let first = connect_once(host, port, opts);
    if KEEPS_REFUSED_CERTIFICATE {
        return first;
    }
    let failure = match first {
        Err(Error::Certificate(failure)) if failure.certificate.is_none() => failure,
        other => return other,
    };
    let tracer = &opts.tracer;
    tracer.info("the TLS library kept no certificate of the refused handshake: connecting again to read it");
    let Some(certificate) = certificate_at(host, port, opts, connect_once) else {
        tracer.info("the certificate could not be read on a second connection");
        return Err(Error::Certificate(failure));
    };
    let sha256 = certificate.sha256;
    let error = Error::Certificate(Box::new(failure.with_certificate(certificate, unix_now())));
    let Some(reason) = ask_certificate_callback(opts.certificate_callback.as_ref(), &error, tracer) else {
        return Err(error);
    };
    let mut pinned = opts.clone();
    pinned.tls.pin_sha256 = Some(sha256);
    pinned.certificate_callback = None;
    let mut client = connect_once(host, port, &pinned)?;
    client.session_mut().conn.note_accepted_despite(reason);
    Ok(client)
}

/// The certificate the server sends, read on a connection that stops at
/// the pin check.
fn certificate_at<C>(
    host: &str,
    port: u16,
    opts: &ClientOptions,
    connect_once: fn(&str, u16, &ClientOptions) -> Result<C>,
) -> Option<Certificate> {
    let mut looking = opts.clone();
    looking.tls.pin_sha256 = Some(MATCHES_NOTHING);
    looking.tls.danger_accept_invalid_certs = false;
    looking.certificate_callback = None;
    match connect_once(host, port, &looking) {
        Err(Error::CertificatePinMismatch { certificate, .. }) => certificate.map(|c| *c),
        // Anything else (even a session: it cannot happen) is no answer.
        _ => None,
    }
}
