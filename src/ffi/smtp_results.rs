//! `mailtls_smtp_results`: the server's answer to each recipient of a
//! message, readable from C without parsing text.

use std::ffi::{CString, c_char};

use super::detail::to_cstring;
use super::guard::{guard, guard_or};
use super::handle::free_boxed;
use crate::smtp::RecipientResult;

struct Row {
    address: CString,
    accepted: bool,
    code: u16,
    enhanced: Option<CString>,
    text: CString,
}

/// Per-recipient results of a send, in the order the recipients were
/// given. Free with mailtls_smtp_results_free().
pub struct mailtls_smtp_results {
    rows: Vec<Row>,
}

impl mailtls_smtp_results {
    pub(crate) fn into_raw(results: &[RecipientResult]) -> *mut mailtls_smtp_results {
        let rows = results
            .iter()
            .map(|r| Row {
                address: to_cstring(r.address.clone()),
                accepted: r.accepted,
                code: r.reply.code,
                enhanced: r.reply.enhanced_code.clone().map(to_cstring),
                text: to_cstring(r.reply.text()),
            })
            .collect();
        Box::into_raw(Box::new(mailtls_smtp_results { rows }))
    }

    fn row<'a>(results: *const mailtls_smtp_results, index: usize) -> Option<&'a Row> {
        // SAFETY: NULL or a live results object (caller's contract).
        unsafe { results.as_ref() }?.rows.get(index)
    }
}

/// The number of recipients; 0 if `results` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_results_count(results: *const mailtls_smtp_results) -> usize {
    guard(|| {
        // SAFETY: NULL or a live results object.
        unsafe { results.as_ref() }.map_or(0, |r| r.rows.len())
    })
}

/// The address of recipient `index` as given to the send call; NULL if out
/// of range. Owned by `results`.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_results_address(results: *const mailtls_smtp_results, index: usize) -> *const c_char {
    guard(|| mailtls_smtp_results::row(results, index).map_or(std::ptr::null(), |r| r.address.as_ptr()))
}

/// Whether the server accepted recipient `index` (a 2xx reply to its
/// RCPT); false if out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_results_accepted(results: *const mailtls_smtp_results, index: usize) -> bool {
    guard(|| mailtls_smtp_results::row(results, index).is_some_and(|r| r.accepted))
}

/// The reply code to recipient `index`'s RCPT (e.g. 250, 450, 550); 4xx is
/// a temporary refusal, 5xx a permanent one. 0 if out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_results_code(results: *const mailtls_smtp_results, index: usize) -> u32 {
    guard_or(0, || mailtls_smtp_results::row(results, index).map_or(0, |r| r.code.into()))
}

/// The enhanced status code (e.g. "5.1.1") of recipient `index`'s reply,
/// or NULL when the server sent none or the index is out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_results_enhanced(results: *const mailtls_smtp_results, index: usize) -> *const c_char {
    guard(|| {
        mailtls_smtp_results::row(results, index)
            .and_then(|r| r.enhanced.as_ref())
            .map_or(std::ptr::null(), |e| e.as_ptr())
    })
}

/// The text of recipient `index`'s reply (without code and enhanced code);
/// NULL if out of range. Owned by `results`.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_results_text(results: *const mailtls_smtp_results, index: usize) -> *const c_char {
    guard(|| mailtls_smtp_results::row(results, index).map_or(std::ptr::null(), |r| r.text.as_ptr()))
}

/// Free results. NULL is ignored. Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_results_free(results: *mut mailtls_smtp_results) {
    free_boxed(results)
}
