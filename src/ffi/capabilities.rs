//! `mailtls_capabilities`: a server's capability (POP3 CAPA) or extension
//! (SMTP EHLO) list, readable from C without parsing text.

use std::ffi::{CString, c_char};

use super::arguments::arg_str;
use super::detail::to_cstring;
use super::guard::guard;
use crate::capabilities::CapabilitySet;

/// A capability list: names (upper case) with their arguments. Owned by the
/// connection handle it came from.
pub struct mailtls_capabilities {
    entries: Vec<(CString, Vec<CString>)>,
}

impl mailtls_capabilities {
    pub(crate) fn from_set(set: &CapabilitySet) -> mailtls_capabilities {
        let entries = set
            .iter()
            .map(|(name, args)| (to_cstring(name.to_string()), args.iter().cloned().map(to_cstring).collect()))
            .collect();
        mailtls_capabilities { entries }
    }

    fn get<'a>(caps: *const mailtls_capabilities) -> Option<&'a mailtls_capabilities> {
        // SAFETY: NULL or a pointer the library handed out, still valid.
        unsafe { caps.as_ref() }
    }
}

/// The number of capabilities; 0 if `caps` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_capabilities_count(caps: *const mailtls_capabilities) -> usize {
    guard(|| mailtls_capabilities::get(caps).map_or(0, |c| c.entries.len()))
}

/// The name of capability `index` (upper case, e.g. "SASL"), or NULL if out
/// of range. Valid as long as `caps` is.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_capabilities_name(caps: *const mailtls_capabilities, index: usize) -> *const c_char {
    guard(|| {
        mailtls_capabilities::get(caps)
            .and_then(|c| c.entries.get(index))
            .map_or(std::ptr::null(), |(name, _)| name.as_ptr())
    })
}

/// The number of arguments of capability `index` (e.g. 3 for "SASL PLAIN
/// LOGIN CRAM-MD5"); 0 if out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_capabilities_arg_count(caps: *const mailtls_capabilities, index: usize) -> usize {
    guard(|| mailtls_capabilities::get(caps).and_then(|c| c.entries.get(index)).map_or(0, |(_, a)| a.len()))
}

/// Argument `arg` of capability `index`, as sent by the server, or NULL if
/// out of range. Valid as long as `caps` is.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_capabilities_arg(
    caps: *const mailtls_capabilities,
    index: usize,
    arg: usize,
) -> *const c_char {
    guard(|| {
        mailtls_capabilities::get(caps)
            .and_then(|c| c.entries.get(index))
            .and_then(|(_, args)| args.get(arg))
            .map_or(std::ptr::null(), |a| a.as_ptr())
    })
}

/// Whether the capability `name` (any case) is present. False if either
/// pointer is NULL or `name` is not UTF-8.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_capabilities_has(caps: *const mailtls_capabilities, name: *const c_char) -> bool {
    guard(|| {
        // SAFETY: NULL or a NUL-terminated string.
        let Ok(name) = (unsafe { arg_str(name, "name") }) else {
            return false;
        };
        mailtls_capabilities::get(caps)
            .is_some_and(|c| c.entries.iter().any(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes())))
    })
}
