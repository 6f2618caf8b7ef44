//! Why a C call failed, and the detail of a handle's last failure that the
//! caller copies out (our message, the server's reply and codes).

use std::ffi::{CStr, CString, c_char};

use super::result::{
    self, MAILTLS_RESULT_BUFFER_TOO_SMALL, MAILTLS_RESULT_HANDLE_BUSY, MAILTLS_RESULT_NULL_ARGUMENT, MAILTLS_RESULT_OK,
    mailtls_result,
};
use crate::error::Error;

/// Why a C call failed: a core error, or an argument the C side got wrong.
pub(crate) enum Failure {
    Null(&'static str),
    /// A handle argument (not the call's own handle) is in use by a call
    /// on another thread.
    Busy(&'static str),
    Core(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl Failure {
    pub(crate) fn code(&self) -> mailtls_result {
        match self {
            Failure::Null(_) => MAILTLS_RESULT_NULL_ARGUMENT,
            Failure::Busy(_) => MAILTLS_RESULT_HANDLE_BUSY,
            Failure::Core(e) => result::result_of(e),
        }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

/// The detail of a handle's last failure, kept for the caller to copy out.
#[derive(Default)]
pub(crate) struct ErrorDetail {
    /// The core error's message alone: it says what happened by itself,
    /// so the result's description (mailtls_result_str) is not put in
    /// front of it, which would say the same words twice ("could not
    /// connect to the server: could not connect to ...").
    message: CString,
    /// The TLS library's code and words for the failure, kept out of the
    /// message.
    library_detail: CString,
    reply: CString,
    /// POP3's response code or SMTP's enhanced status code.
    response_code: CString,
    /// SMTP's reply code of the failure; 0 when there is none.
    code: u16,
}

impl ErrorDetail {
    pub(crate) fn record(&mut self, failure: &Failure) {
        let (message, reply) = match failure {
            Failure::Null(what) => (format!("{what} is NULL"), None),
            Failure::Busy(what) => (format!("{what} is in use by a call on another thread"), None),
            Failure::Core(e) => (e.to_string(), e.reply()),
        };
        self.message = to_cstring(message);
        let library_detail = match failure {
            Failure::Core(e) => e.detail().unwrap_or_default().to_string(),
            _ => String::new(),
        };
        self.library_detail = to_cstring(library_detail);
        self.reply = to_cstring(reply.map(|r| r.text.clone()).unwrap_or_default());
        let response_code = reply.and_then(|r| r.response_code.clone().or_else(|| r.enhanced_code.clone()));
        self.response_code = to_cstring(response_code.unwrap_or_default());
        self.code = reply.and_then(|r| r.code).unwrap_or(0);
    }

    pub(crate) fn record_panic(&mut self) {
        *self = ErrorDetail::default();
        self.message = to_cstring("internal error in mailtls (a bug); the handle should be freed".into());
    }

    pub(crate) fn message(&self) -> &CStr {
        &self.message
    }
    pub(crate) fn library_detail(&self) -> &CStr {
        &self.library_detail
    }
    pub(crate) fn reply(&self) -> &CStr {
        &self.reply
    }
    pub(crate) fn response_code(&self) -> &CStr {
        &self.response_code
    }
    pub(crate) fn code(&self) -> u16 {
        self.code
    }
}

/// Copy `text` into the caller's buffer as a NUL-terminated string,
/// truncating to fit: the header's "text copy rules". `*len_out` (when not
/// NULL) gets the full length without the NUL, so a caller can retry with
/// a bigger buffer.
///
/// SAFETY: `buf` is NULL or valid for `buf_len` bytes; `len_out` is NULL or
/// valid for a write.
pub(crate) unsafe fn copy_out(text: &CStr, buf: *mut c_char, buf_len: usize, len_out: *mut usize) -> mailtls_result {
    let bytes = text.to_bytes();
    if let Some(len_out) = super::arguments::optional_out(len_out) {
        len_out.write(bytes.len());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_core_errors_own_without_the_results_description() {
        let text = "nothing accepts connections on 127.0.0.1 port 1 (connection refused, os error 111): \
                    check the port number, or whether the server is running";
        let mut detail = ErrorDetail::default();
        detail.record(&Failure::Core(Error::Connect(text.into())));
        assert_eq!(detail.message().to_str().unwrap(), text);
        let resolve = Error::Resolve { host: "x.invalid".into(), reason: "the name has no address".into() };
        detail.record(&Failure::Core(resolve));
        assert_eq!(
            detail.message().to_str().unwrap(),
            "could not find the server name \"x.invalid\": the name has no address"
        );
    }
}
