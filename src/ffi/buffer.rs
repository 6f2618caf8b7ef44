//! `mailtls_buffer`: bytes the library allocated for the caller.

use super::guard::guard;
use super::handle::free_boxed;

/// A byte buffer returned by the library (e.g. a whole message). Read it
/// with mailtls_buffer_data() and mailtls_buffer_len(); free it with
/// mailtls_buffer_free(), never with free().
pub struct mailtls_buffer {
    pub(crate) bytes: Vec<u8>,
}

impl mailtls_buffer {
    pub(crate) fn into_raw(bytes: Vec<u8>) -> *mut mailtls_buffer {
        Box::into_raw(Box::new(mailtls_buffer { bytes }))
    }
}

/// The buffer's bytes (not NUL-terminated), valid until
/// mailtls_buffer_free(). NULL if `buffer` is NULL; never NULL otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_buffer_data(buffer: *const mailtls_buffer) -> *const u8 {
    guard(|| {
        // SAFETY: NULL or a live buffer.
        unsafe { buffer.as_ref() }.map_or(std::ptr::null(), |b| b.bytes.as_ptr())
    })
}

/// The number of bytes in the buffer; 0 if `buffer` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_buffer_len(buffer: *const mailtls_buffer) -> usize {
    guard(|| {
        // SAFETY: NULL or a live buffer.
        unsafe { buffer.as_ref() }.map_or(0, |b| b.bytes.len())
    })
}

/// Free a buffer. NULL is ignored. Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_buffer_free(buffer: *mut mailtls_buffer) {
    free_boxed(buffer)
}
