//! What the POP3 and SMTP handles share: options, the connected client, the
//! server's capability list, the certificate fingerprint and the error
//! detail, with the entry points that work the same for both (new, free,
//! connect, login, quit, capabilities, fingerprint). The protocol clients
//! are driven through the core's [`Client`] trait.

use std::ffi::c_char;

use super::arguments::{arg_optional_str, arg_str};
use super::capabilities::mailtls_capabilities;
use super::certificate::mailtls_certificate;
use super::detail::{ErrorDetail, FfiResult, copy_out, to_cstring};
use super::guard::guard;
use super::handle::{CHandle, HandleState, read_handle, with_handle};
use super::options::mailtls_options;
use super::result::{
    MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH, MAILTLS_RESULT_HANDLE_BUSY, MAILTLS_RESULT_NOT_CONNECTED,
    MAILTLS_RESULT_NULL_ARGUMENT, MAILTLS_RESULT_OK, certificate_result, mailtls_result,
};
use crate::certificate::Certificate;
use crate::error::Error;
use crate::fingerprint::sha256_hex;
use crate::options::ClientOptions;
use crate::sasl::Mechanism;
use crate::session::Client;
use crate::session::auth::Authenticate;

pub(crate) struct Session<C> {
    options: ClientOptions,
    client: Option<C>,
    capabilities: Option<mailtls_capabilities>,
    /// Kept after the connection ends, for the caller to show; also after
    /// a connect that failed on the certificate.
    peer_sha256: Option<[u8; 32]>,
    certificate: Option<mailtls_certificate>,
    pub(crate) detail: ErrorDetail,
    /// The call that makes the client, for "not connected" messages.
    connect_fn: &'static str,
}

impl<C: Client> Session<C> {
    /// A session with a copy of `options` (NULL: defaults); `None` if the
    /// options are in use by a call at this moment (from another thread).
    pub(crate) fn new(options: *const mailtls_options, connect_fn: &'static str) -> Option<Self> {
        let options =
            if options.is_null() { ClientOptions::default() } else { read_handle(options, |o| o.inner.clone())? };
        Some(Session {
            options,
            client: None,
            capabilities: None,
            peer_sha256: None,
            certificate: None,
            detail: ErrorDetail::default(),
            connect_fn,
        })
    }

    pub(crate) fn client(&mut self) -> Result<&mut C, Error> {
        self.client.as_mut().ok_or(Error::NotConnected(self.connect_fn))
    }
}

impl<C> HandleState for Session<C> {
    fn detail(&mut self) -> &mut ErrorDetail {
        &mut self.detail
    }
    fn detail_ref(&self) -> &ErrorDetail {
        &self.detail
    }
}

/// The state of a C handle built on a [`Session`].
pub(crate) trait SessionState: HandleState {
    type Client: Authenticate;
    fn session(&mut self) -> &mut Session<Self::Client>;
    fn session_ref(&self) -> &Session<Self::Client>;
}

impl<C: Authenticate> SessionState for Session<C> {
    type Client = C;
    fn session(&mut self) -> &mut Session<C> {
        self
    }
    fn session_ref(&self) -> &Session<C> {
        self
    }
}

pub(crate) fn connect<H: CHandle<State: SessionState>>(ptr: *mut H, host: *const c_char, port: u16) -> mailtls_result {
    with_handle(ptr, |h| {
        // SAFETY: NULL or a NUL-terminated string.
        let host = unsafe { arg_str(host, "host") }?;
        let s = h.session();
        s.client = None;
        s.capabilities = None;
        s.peer_sha256 = None;
        s.certificate = None;
        let client = match <<H::State as SessionState>::Client as Client>::connect(host, port, &s.options) {
            Ok(client) => client,
            Err(e) => {
                // What the server sent stays readable, for the user to decide.
                let refused = match &e {
                    Error::Certificate(failure) => {
                        failure.certificate.as_ref().map(|c| (c, certificate_result(failure.reason)))
                    }
                    Error::CertificatePinMismatch { certificate, .. } => {
                        certificate.as_deref().map(|c| (c, MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH))
                    }
                    _ => None,
                };
                if let Some((cert, failure)) = refused {
                    s.peer_sha256 = Some(cert.sha256);
                    s.certificate = Some(mailtls_certificate::new(cert, failure));
                }
                return Err(e.into());
            }
        };
        s.capabilities = Some(mailtls_capabilities::from_set(client.capability_set()));
        s.peer_sha256 = client.peer_cert_sha256();
        if let Some(info) = client.tls_info() {
            // A certificate the callback accepted still tells why it failed.
            let failure = info.accepted_despite.map_or(MAILTLS_RESULT_OK, certificate_result);
            let cert = info.peer_certificate_der.as_deref().and_then(Certificate::from_der);
            s.certificate = cert.map(|c| mailtls_certificate::new(&c, failure));
        }
        s.client = Some(client);
        Ok(())
    })
}

pub(crate) fn login<H: CHandle<State: SessionState>>(
    ptr: *mut H,
    user: *const c_char,
    password: *const c_char,
    mechanism: *const c_char,
) -> mailtls_result {
    with_handle(ptr, |h| {
        // SAFETY: NUL-terminated strings or NULL.
        let (user, password) = unsafe { (arg_str(user, "user")?, arg_str(password, "password")?) };
        let mechanism = optional_mechanism(mechanism)?;
        Ok(h.session().client()?.login(user, password, mechanism)?)
    })
}

fn optional_mechanism(mechanism: *const c_char) -> FfiResult<Option<Mechanism>> {
    // SAFETY: NULL or a NUL-terminated string.
    let name = unsafe { arg_optional_str(mechanism, "mechanism") }?;
    Ok(name.map(Mechanism::from_name).transpose()?)
}

pub(crate) fn login_oauth2<H: CHandle<State: SessionState>>(
    ptr: *mut H,
    user: *const c_char,
    token: *const c_char,
) -> mailtls_result {
    with_handle(ptr, |h| {
        // SAFETY: NUL-terminated strings or NULL.
        let (user, token) = unsafe { (arg_str(user, "user")?, arg_str(token, "token")?) };
        Ok(h.session().client()?.login_oauth2(user, token)?)
    })
}

/// QUIT; the connection is closed and forgotten whatever the answer.
pub(crate) fn quit<H: CHandle<State: SessionState>>(ptr: *mut H) -> mailtls_result {
    with_handle(ptr, |h| {
        let s = h.session();
        let r = s.client()?.quit();
        s.client = None;
        Ok(r?)
    })
}

pub(crate) fn capabilities<H: CHandle<State: SessionState>>(ptr: *const H) -> *const mailtls_capabilities {
    guard(|| {
        let capabilities = read_handle(ptr, |h| h.session_ref().capabilities.as_ref().map(|c| c as *const _));
        capabilities.flatten().unwrap_or(std::ptr::null())
    })
}

pub(crate) fn peer_certificate<H: CHandle<State: SessionState>>(ptr: *const H) -> *const mailtls_certificate {
    guard(|| {
        let certificate = read_handle(ptr, |h| h.session_ref().certificate.as_ref().map(|c| c as *const _));
        certificate.flatten().unwrap_or(std::ptr::null())
    })
}

pub(crate) fn peer_cert_sha256<H: CHandle<State: SessionState>>(
    ptr: *const H,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    guard(|| {
        if ptr.is_null() {
            return MAILTLS_RESULT_NULL_ARGUMENT;
        }
        let Some(digest) = read_handle(ptr, |h| h.session_ref().peer_sha256) else {
            return MAILTLS_RESULT_HANDLE_BUSY;
        };
        let Some(digest) = digest else {
            return MAILTLS_RESULT_NOT_CONNECTED;
        };
        // SAFETY: the caller's buffer contract.
        unsafe { copy_out(&to_cstring(sha256_hex(&digest)), buf, buf_len, len_out) }
    })
}
