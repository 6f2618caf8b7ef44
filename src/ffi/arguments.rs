//! Reading C arguments: strings, byte ranges, arrays and output pointers,
//! each refused with the argument's own name when NULL or invalid.

use std::ffi::{CStr, c_char};
use std::ptr::NonNull;

use super::detail::{Failure, FfiResult};
use crate::error::Error;

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

/// As [`arg_str`], where NULL means "none".
///
/// SAFETY: as [`arg_str`].
pub(crate) unsafe fn arg_optional_str<'a>(ptr: *const c_char, what: &'static str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: see above.
    unsafe { arg_str(ptr, what) }.map(Some)
}

/// Borrow an array argument of `len` elements; NULL is allowed only when
/// `len` is 0.
///
/// SAFETY: `ptr` points to `len` readable elements for the call.
pub(crate) unsafe fn arg_slice<'a, T>(ptr: *const T, len: usize, what: &'static str) -> FfiResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::Null(what));
    }
    // SAFETY: see above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// An output pointer, checked for NULL once, before any work is done.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    pub(crate) fn new(ptr: *mut T, what: &'static str) -> FfiResult<Out<T>> {
        NonNull::new(ptr).map(Out).ok_or(Failure::Null(what))
    }

    /// Store the output. The caller of the entry point passed a pointer
    /// valid for a write of `T` (every entry point's contract).
    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL (checked in `new`) and valid for a write by the
        // caller's contract.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// An optional output pointer: NULL means the caller does not want it.
pub(crate) fn optional_out<T>(ptr: *mut T) -> Option<Out<T>> {
    NonNull::new(ptr).map(Out)
}

/// `out!(name)`: the output pointer argument `name`, checked for NULL, with
/// its own name in the error.
macro_rules! out {
    ($ptr:ident) => {
        $crate::ffi::arguments::Out::new($ptr, stringify!($ptr))
    };
}
pub(crate) use out;
