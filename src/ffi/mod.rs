//! The C API: opaque handles over the Rust core. Every `extern "C"` function
//! of the library lives in this module's files, one per handle type, with
//! the shared plumbing (results, panic guard, pointers, strings) here.
//!
//! Conventions (see ../shared/STYLE.md): the handle is the first argument,
//! outputs come last as `*_out` and are written only on success, inputs are
//! copied before the call returns, and every entry point is wrapped in a
//! panic guard.

#![allow(non_camel_case_types)]
// C callers cannot see `unsafe` on a signature: the pointer contracts are
// in each function's documentation instead, as in rustls-ffi.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod buffer;
pub mod capabilities;
pub mod listing;
pub mod options;
pub mod pop3;
pub mod result;
mod session;
pub mod smtp;
pub mod smtp_results;
pub mod version;

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use result::*;

use crate::error::Error;

/// Why a C call failed: a core error, or an argument the C side got wrong.
pub(crate) enum Failure {
    Null(&'static str),
    Core(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl Failure {
    fn code(&self) -> mailtls_result {
        match self {
            Failure::Null(_) => MAILTLS_RESULT_NULL_ARGUMENT,
            Failure::Core(e) => result::result_of(e),
        }
    }
}

type FfiResult<T = ()> = Result<T, Failure>;

/// The detail of a handle's last failure, kept for the caller to copy out.
#[derive(Default)]
pub(crate) struct ErrorDetail {
    message: CString,
    reply: CString,
    response_code: CString,
    /// SMTP's reply code of the failure; 0 when there is none.
    status: u16,
}

impl ErrorDetail {
    fn record(&mut self, failure: &Failure) {
        let (message, reply) = match failure {
            Failure::Null(what) => (format!("{what} is NULL"), None),
            Failure::Core(e) => (e.to_string(), e.reply()),
        };
        self.message = to_cstring(message);
        self.reply = to_cstring(reply.map(|r| r.text.clone()).unwrap_or_default());
        let code_text = reply.and_then(|r| r.response_code.clone().or_else(|| r.enhanced_code.clone()));
        self.response_code = to_cstring(code_text.unwrap_or_default());
        self.status = reply.and_then(|r| r.code).unwrap_or(0);
    }

    fn record_panic(&mut self) {
        *self = ErrorDetail::default();
        self.message = to_cstring("internal error in mailtls (a bug); the handle should be freed".into());
    }
}

/// A handle that keeps the detail of its last failure.
pub(crate) trait Handle {
    fn detail(&mut self) -> &mut ErrorDetail;
    fn detail_ref(&self) -> &ErrorDetail;
}

/// Run `body` on the handle behind `ptr`: NULL check, panic guard, and the
/// failure detail recorded on the handle.
pub(crate) fn with_handle<H: Handle>(ptr: *mut H, body: impl FnOnce(&mut H) -> FfiResult) -> mailtls_result {
    // SAFETY: the caller passes a pointer from the matching `_new` that has
    // not been freed, and does not use the handle from two threads at once.
    let Some(handle) = (unsafe { ptr.as_mut() }) else {
        return MAILTLS_RESULT_NULL_ARGUMENT;
    };
    *handle.detail() = ErrorDetail::default();
    match catch_unwind(AssertUnwindSafe(|| body(&mut *handle))) {
        Ok(Ok(())) => MAILTLS_RESULT_OK,
        Ok(Err(failure)) => {
            handle.detail().record(&failure);
            failure.code()
        }
        Err(_) => {
            handle.detail().record_panic();
            MAILTLS_RESULT_PANIC
        }
    }
}

/// Panic guard for entry points without a handle to report on.
pub(crate) fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Borrow a C string argument as UTF-8.
///
/// SAFETY: `ptr` is NULL or points to a NUL-terminated string that stays
/// valid for the call.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, what: &'static str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(Failure::Null(what));
    }
    // SAFETY: see above.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|_| Failure::Core(Error::InvalidArgument(format!("{what} is not valid UTF-8"))))
}

/// Borrow a byte range argument; NULL is allowed only when `len` is 0.
///
/// SAFETY: `ptr` points to `len` readable bytes for the call.
pub(crate) unsafe fn arg_bytes<'a>(ptr: *const u8, len: usize, what: &'static str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::Null(what));
    }
    // SAFETY: see above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Write an output value; a NULL `out` is a caller error.
///
/// SAFETY: `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T, what: &'static str) -> FfiResult {
    if out.is_null() {
        return Err(Failure::Null(what));
    }
    // SAFETY: see above.
    unsafe { out.write(value) };
    Ok(())
}

/// Copy `text` into the caller's buffer as a NUL-terminated string,
/// truncating to fit. `*len_out` (when not NULL) gets the full length
/// without the NUL, so a caller can retry with a bigger buffer.
///
/// SAFETY: `buf` is NULL or valid for `buf_len` bytes; `len_out` is NULL or
/// valid for a write.
pub(crate) unsafe fn copy_out(text: &CStr, buf: *mut c_char, buf_len: usize, len_out: *mut usize) -> mailtls_result {
    let bytes = text.to_bytes();
    if !len_out.is_null() {
        // SAFETY: see above.
        unsafe { len_out.write(bytes.len()) };
    }
    // A NULL buffer (or an empty one) only asks for the length.
    if buf.is_null() || buf_len == 0 {
        return if bytes.is_empty() { MAILTLS_RESULT_OK } else { MAILTLS_RESULT_BUFFER_TOO_SMALL };
    }
    let n = bytes.len().min(buf_len - 1);
    // SAFETY: n + 1 <= buf_len bytes are written.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    if n < bytes.len() { MAILTLS_RESULT_BUFFER_TOO_SMALL } else { MAILTLS_RESULT_OK }
}

/// A CString from text that cannot contain NUL; any NUL is replaced.
pub(crate) fn to_cstring(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let cleaned: Vec<u8> = e.into_vec().into_iter().map(|b| if b == 0 { b'?' } else { b }).collect();
        CString::new(cleaned).unwrap_or_default()
    })
}

/// Copy one of the detail strings of a handle out (the three `last_*`
/// accessors of each handle type).
///
/// The caller's contract is as for [`copy_out`], and `ptr` is NULL or a
/// live handle; every `last_*` entry point passes it on unchanged.
pub(crate) fn copy_detail<H: Handle>(
    ptr: *const H,
    pick: fn(&ErrorDetail) -> &CStr,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    guard(MAILTLS_RESULT_PANIC, || {
        // SAFETY: see above.
        let Some(handle) = (unsafe { ptr.as_ref() }) else {
            return MAILTLS_RESULT_NULL_ARGUMENT;
        };
        // SAFETY: see above.
        unsafe { copy_out(pick(handle.detail_ref()), buf, buf_len, len_out) }
    })
}

impl ErrorDetail {
    pub(crate) fn message(&self) -> &CStr {
        &self.message
    }
    pub(crate) fn reply(&self) -> &CStr {
        &self.reply
    }
    pub(crate) fn response_code(&self) -> &CStr {
        &self.response_code
    }
    pub(crate) fn status(&self) -> u16 {
        self.status
    }
}
