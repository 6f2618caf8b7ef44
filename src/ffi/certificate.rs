//! `mailtls_certificate`: the server's certificate as a handle keeps it,
//! after a connect that succeeded or that failed on the certificate, so a
//! program can show the user what the server sent (and the fingerprint to
//! pin) without parsing a message.

use std::ffi::{CString, c_char};

use super::arguments::optional_out;
use super::detail::to_cstring;
use super::guard::{guard, guard_or};
use super::result::{MAILTLS_RESULT_OK, mailtls_result};
use crate::certificate::Certificate;

/// The server certificate of a handle's last connect (the chain's leaf),
/// borrowed from the handle: valid until the handle's next connect or its
/// free, never freed by the caller. Every string it gives is UTF-8,
/// NUL-terminated and owned by it.
pub struct mailtls_certificate {
    der: Vec<u8>,
    sha256: CString,
    subject: CString,
    issuer: CString,
    names: Vec<CString>,
    not_before: i64,
    not_after: i64,
    self_signed: bool,
    failure: mailtls_result,
}

impl mailtls_certificate {
    /// `failure` is the result the certificate's verification gave
    /// (MAILTLS_RESULT_OK when the handshake accepted it).
    pub(crate) fn new(cert: &Certificate, failure: mailtls_result) -> mailtls_certificate {
        mailtls_certificate {
            der: cert.der.clone(),
            sha256: to_cstring(cert.sha256_hex()),
            subject: to_cstring(cert.subject.clone()),
            issuer: to_cstring(cert.issuer.clone()),
            names: cert.names.iter().cloned().map(to_cstring).collect(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            self_signed: cert.self_signed,
            failure,
        }
    }
}

/// Read the certificate behind `cert`; `None` for NULL.
fn read<T>(cert: *const mailtls_certificate, body: impl FnOnce(&mailtls_certificate) -> T) -> Option<T> {
    // SAFETY: NULL or a certificate borrowed from a live handle, not yet
    // invalidated by a connect or free (the caller's contract).
    unsafe { cert.as_ref() }.map(body)
}

/// The SHA-256 fingerprint of the certificate's DER, as 64 lowercase hex
/// digits without colons (the form mailtls_options_set_pin_sha256()
/// takes). NULL if `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_sha256(cert: *const mailtls_certificate) -> *const c_char {
    guard(|| read(cert, |c| c.sha256.as_ptr()).unwrap_or(std::ptr::null()))
}

/// The subject's distinguished name, e.g. "O=Example, CN=mail.example".
/// NULL if `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_subject(cert: *const mailtls_certificate) -> *const c_char {
    guard(|| read(cert, |c| c.subject.as_ptr()).unwrap_or(std::ptr::null()))
}

/// The issuer's distinguished name; the same as the subject for a
/// self-signed certificate. NULL if `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_issuer(cert: *const mailtls_certificate) -> *const c_char {
    guard(|| read(cert, |c| c.issuer.as_ptr()).unwrap_or(std::ptr::null()))
}

/// The number of host names and addresses the certificate is valid for
/// (see mailtls_certificate_name()); 0 if `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_name_count(cert: *const mailtls_certificate) -> usize {
    guard(|| read(cert, |c| c.names.len()).unwrap_or(0))
}

/// Name `index` (0-based) the certificate is valid for: a DNS name (maybe
/// a wildcard such as "*.example.com") or an IP address, from its subject
/// alternative names, or its common name when it has none. NULL if out of
/// range or `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_name(cert: *const mailtls_certificate, index: usize) -> *const c_char {
    guard(|| read(cert, |c| c.names.get(index).map(|n| n.as_ptr())).flatten().unwrap_or(std::ptr::null()))
}

/// The start of the validity period, in seconds since 1970-01-01 UTC; 0
/// if `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_not_before(cert: *const mailtls_certificate) -> i64 {
    guard_or(0, || read(cert, |c| c.not_before).unwrap_or(0))
}

/// The end of the validity period, in seconds since 1970-01-01 UTC; 0 if
/// `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_not_after(cert: *const mailtls_certificate) -> i64 {
    guard_or(0, || read(cert, |c| c.not_after).unwrap_or(0))
}

/// Whether the certificate is issued by itself (subject and issuer are the
/// same). false if `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_self_signed(cert: *const mailtls_certificate) -> bool {
    guard(|| read(cert, |c| c.self_signed).unwrap_or(false))
}

/// Why verification refused the certificate: the connect's result
/// (MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH, _EXPIRED, _NOT_YET_VALID,
/// _SELF_SIGNED, _UNKNOWN_ISSUER, _REVOKED or _UNTRUSTED), also when the
/// certificate callback then accepted it for the connection; or
/// MAILTLS_RESULT_OK when the handshake accepted it (verified, pinned, or
/// not checked with danger_accept_invalid_certs). MAILTLS_RESULT_OK if
/// `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_failure(cert: *const mailtls_certificate) -> mailtls_result {
    guard(|| read(cert, |c| c.failure).unwrap_or(MAILTLS_RESULT_OK))
}

/// The certificate as DER bytes (not NUL-terminated); `*len_out` (when not
/// NULL) gets their number. NULL (and 0) if `cert` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_certificate_der(cert: *const mailtls_certificate, len_out: *mut usize) -> *const u8 {
    guard(|| {
        let (ptr, len) = read(cert, |c| (c.der.as_ptr(), c.der.len())).unwrap_or((std::ptr::null(), 0));
        if let Some(len_out) = optional_out(len_out) {
            len_out.write(len);
        }
        ptr
    })
}
