//! The panic guard every entry point runs in: no panic may cross the C
//! boundary (since Rust 1.81 it would abort the host program). What a
//! caught panic returns comes from the entry point's return type.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::result::{MAILTLS_RESULT_PANIC, mailtls_result};

/// The value an entry point returns when it caught a panic.
pub(crate) trait PanicValue {
    fn panic_value() -> Self;
}

impl<T> PanicValue for *const T {
    fn panic_value() -> Self {
        std::ptr::null()
    }
}

impl<T> PanicValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}

impl PanicValue for usize {
    fn panic_value() -> Self {
        0
    }
}

impl PanicValue for i64 {
    fn panic_value() -> Self {
        0
    }
}

impl PanicValue for bool {
    fn panic_value() -> Self {
        false
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

/// `mailtls_result` is `u32`: the entry points that return some other
/// 32-bit number (a reply code, a message number) use [`guard_or`].
impl PanicValue for mailtls_result {
    fn panic_value() -> Self {
        MAILTLS_RESULT_PANIC
    }
}

/// Run `body`, returning its type's panic value if it panics.
pub(crate) fn guard<T: PanicValue>(body: impl FnOnce() -> T) -> T {
    guard_or(T::panic_value(), body)
}

/// Run `body`, returning `on_panic` if it panics.
pub(crate) fn guard_or<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}
