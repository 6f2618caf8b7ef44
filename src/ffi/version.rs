//! The library's version at run time. The header's MAILTLS_VERSION_*
//! macros are written from Cargo.toml's version by the header generator
//! (tests/header.rs), which also checks that both agree.

use std::ffi::c_char;

/// The version of the loaded library as a static string ("0.1.0"). Compare
/// it with MAILTLS_VERSION_STRING (or the MAILTLS_VERSION_* numbers) to
/// detect a header/library mismatch. Never NULL; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
