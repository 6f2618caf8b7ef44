//! `mailtls_pop3_listing`: the result of LIST and/or UIDL, readable from C
//! without parsing text.

use std::ffi::{CString, c_char};

use super::detail::to_cstring;
use super::guard::{guard, guard_or};
use super::handle::free_boxed;
use crate::pop3::Entry;

/// Returned by mailtls_pop3_listing_octets() when the size is not known
/// (a UIDL-only listing) or the index is out of range.
// Written as a literal: cffi cannot read UINT64_MAX in a #define.
pub const MAILTLS_OCTETS_UNKNOWN: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// A mailbox listing: one entry per message with its number, size (LIST)
/// and unique id (UIDL). Free with mailtls_pop3_listing_free().
pub struct mailtls_pop3_listing {
    entries: Vec<(u32, u64, Option<CString>)>,
}

impl mailtls_pop3_listing {
    pub(crate) fn from_entries(entries: Vec<Entry>) -> *mut mailtls_pop3_listing {
        let entries = entries
            .into_iter()
            .map(|e| (e.number, e.octets.unwrap_or(MAILTLS_OCTETS_UNKNOWN), e.uid.map(to_cstring)))
            .collect();
        Box::into_raw(Box::new(mailtls_pop3_listing { entries }))
    }

    fn entry<'a>(listing: *const mailtls_pop3_listing, index: usize) -> Option<&'a (u32, u64, Option<CString>)> {
        // SAFETY: NULL or a live listing; the borrow ends before it is freed
        // by the caller's contract.
        unsafe { listing.as_ref() }?.entries.get(index)
    }
}

/// The number of entries; 0 if `listing` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_listing_count(listing: *const mailtls_pop3_listing) -> usize {
    guard(|| {
        // SAFETY: NULL or a live listing.
        unsafe { listing.as_ref() }.map_or(0, |l| l.entries.len())
    })
}

/// The message number of entry `index` (0-based); 0 if out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_listing_number(listing: *const mailtls_pop3_listing, index: usize) -> u32 {
    guard_or(0, || mailtls_pop3_listing::entry(listing, index).map_or(0, |e| e.0))
}

/// The size in octets of entry `index`, or MAILTLS_OCTETS_UNKNOWN.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_listing_octets(listing: *const mailtls_pop3_listing, index: usize) -> u64 {
    guard_or(MAILTLS_OCTETS_UNKNOWN, || {
        mailtls_pop3_listing::entry(listing, index).map_or(MAILTLS_OCTETS_UNKNOWN, |e| e.1)
    })
}

/// The unique id of entry `index` as a NUL-terminated string owned by the
/// listing (valid until mailtls_pop3_listing_free()), or NULL when not known
/// (a LIST-only listing) or out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_listing_uid(listing: *const mailtls_pop3_listing, index: usize) -> *const c_char {
    guard(|| {
        mailtls_pop3_listing::entry(listing, index)
            .and_then(|e| e.2.as_ref())
            .map_or(std::ptr::null(), |uid| uid.as_ptr())
    })
}

/// Free a listing. NULL is ignored. Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_listing_free(listing: *mut mailtls_pop3_listing) {
    free_boxed(listing)
}
