//! Version constants, checked against Cargo.toml by a test.

use std::ffi::c_char;

/// Major version of the library the header was generated for.
pub const MAILTLS_VERSION_MAJOR: u32 = 0;
/// Minor version of the library the header was generated for.
pub const MAILTLS_VERSION_MINOR: u32 = 1;
/// Patch version of the library the header was generated for.
pub const MAILTLS_VERSION_PATCH: u32 = 0;

/// The version of the loaded library as a static string ("0.1.0"). Compare
/// it with the MAILTLS_VERSION_* constants to detect a header/library
/// mismatch. Never NULL; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_cargo_toml() {
        let version = format!("{MAILTLS_VERSION_MAJOR}.{MAILTLS_VERSION_MINOR}.{MAILTLS_VERSION_PATCH}");
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        // SAFETY: a static NUL-terminated string.
        let from_c = unsafe { std::ffi::CStr::from_ptr(mailtls_version()) };
        assert_eq!(from_c.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
