//! What the POP3 and SMTP handles share: options, the connected client, the
//! server's capability list, the certificate fingerprint and the error
//! detail, with the entry points that work the same for both (new, free,
//! connect, login, quit, capabilities, fingerprint). The protocol clients
//! are driven through the core's [`Client`] trait.

use std::ffi::c_char;

use super::capabilities::mailtls_capabilities;
use super::options::mailtls_options;
use super::{
    ErrorDetail, FfiResult, Handle, MAILTLS_RESULT_NOT_CONNECTED, MAILTLS_RESULT_NULL_ARGUMENT, MAILTLS_RESULT_PANIC,
    arg_str, copy_out, guard, mailtls_result, to_cstring, with_handle,
};
use crate::error::Error;
use crate::fingerprint::sha256_hex;
use crate::options::ClientOptions;
use crate::sasl::Mechanism;
use crate::session::Client;

pub(crate) struct Session<C> {
    options: ClientOptions,
    client: Option<C>,
    capabilities: Option<mailtls_capabilities>,
    /// Kept after the connection ends, for the caller to show.
    peer_sha256: Option<[u8; 32]>,
    pub(crate) detail: ErrorDetail,
    /// The call that makes the client, for "not connected" messages.
    connect_fn: &'static str,
}

impl<C: Client> Session<C> {
    /// A session with a copy of `options` (NULL: defaults).
    pub(crate) fn new(options: *const mailtls_options, connect_fn: &'static str) -> Self {
        // SAFETY: NULL or live options.
        let options = unsafe { options.as_ref() }.map(|o| o.inner.clone()).unwrap_or_default();
        Session {
            options,
            client: None,
            capabilities: None,
            peer_sha256: None,
            detail: ErrorDetail::default(),
            connect_fn,
        }
    }

    pub(crate) fn client(&mut self) -> Result<&mut C, Error> {
        self.client.as_mut().ok_or(Error::NotConnected(self.connect_fn))
    }
}

/// A C handle built on a [`Session`].
pub(crate) trait SessionHandle: Handle {
    type Client: Client;
    fn session(&mut self) -> &mut Session<Self::Client>;
    fn session_ref(&self) -> &Session<Self::Client>;
}

pub(crate) fn new_handle<H>(make: impl FnOnce() -> H) -> *mut H {
    guard(std::ptr::null_mut(), || Box::into_raw(Box::new(make())))
}

pub(crate) fn free_handle<H>(ptr: *mut H) {
    guard((), || {
        if !ptr.is_null() {
            // SAFETY: from new_handle, freed once (the caller's contract).
            drop(unsafe { Box::from_raw(ptr) });
        }
    })
}

pub(crate) fn connect<H: SessionHandle>(ptr: *mut H, host: *const c_char, port: u16) -> mailtls_result {
    with_handle(ptr, |h| {
        // SAFETY: NULL or a NUL-terminated string.
        let host = unsafe { arg_str(host, "host") }?;
        let s = h.session();
        s.client = None;
        s.capabilities = None;
        s.peer_sha256 = None;
        let client = <H::Client as Client>::connect(host, port, &s.options)?;
        s.capabilities = Some(mailtls_capabilities::from_set(client.capability_set()));
        s.peer_sha256 = client.peer_cert_sha256();
        s.client = Some(client);
        Ok(())
    })
}

pub(crate) fn login<H: SessionHandle>(
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
    if mechanism.is_null() {
        return Ok(None);
    }
    // SAFETY: a NUL-terminated string.
    Ok(Some(Mechanism::from_name(unsafe { arg_str(mechanism, "mechanism") }?)?))
}

pub(crate) fn login_oauth2<H: SessionHandle>(ptr: *mut H, user: *const c_char, token: *const c_char) -> mailtls_result {
    with_handle(ptr, |h| {
        // SAFETY: NUL-terminated strings or NULL.
        let (user, token) = unsafe { (arg_str(user, "user")?, arg_str(token, "token")?) };
        Ok(h.session().client()?.login_oauth2(user, token)?)
    })
}

/// QUIT; the connection is closed and forgotten whatever the answer.
pub(crate) fn quit<H: SessionHandle>(ptr: *mut H) -> mailtls_result {
    with_handle(ptr, |h| {
        let s = h.session();
        let r = s.client()?.quit();
        s.client = None;
        Ok(r?)
    })
}

pub(crate) fn capabilities<H: SessionHandle>(ptr: *const H) -> *const mailtls_capabilities {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or a live handle.
        unsafe { ptr.as_ref() }
            .and_then(|h| h.session_ref().capabilities.as_ref())
            .map_or(std::ptr::null(), |c| c as *const _)
    })
}

pub(crate) fn peer_cert_sha256<H: SessionHandle>(
    ptr: *const H,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    guard(MAILTLS_RESULT_PANIC, || {
        // SAFETY: NULL or a live handle.
        let Some(h) = (unsafe { ptr.as_ref() }) else {
            return MAILTLS_RESULT_NULL_ARGUMENT;
        };
        let Some(digest) = h.session_ref().peer_sha256 else {
            return MAILTLS_RESULT_NOT_CONNECTED;
        };
        // SAFETY: the caller's buffer contract.
        unsafe { copy_out(&to_cstring(sha256_hex(&digest)), buf, buf_len, len_out) }
    })
}
