//! The C API's contract where Rust callers of the core cannot see it:
//! re-entering a handle from its own callback (defect 11) and the text copy
//! rules of mailtls_pop3_uidl_one (defect 12). Driven through the exported
//! functions against a scripted fake server.

mod common;

use std::ffi::{CStr, c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};

use common::{FakeServer, Step, send};
use mailtls::ffi::options::*;
use mailtls::ffi::pop3::*;
use mailtls::ffi::*;

const GREETING_AND_LOGIN: [&str; 3] = ["+OK ready\r\n", "+OK\r\nUSER\r\nUIDL\r\n.\r\n", "+OK\r\n"];

fn logged_in(rest: Vec<Step>) -> (FakeServer, *mut mailtls_pop3) {
    let mut script = vec![send(GREETING_AND_LOGIN[0]), Step::Expect("CAPA"), send(GREETING_AND_LOGIN[1])];
    script.extend([Step::Expect("USER u"), send(GREETING_AND_LOGIN[2]), Step::Expect("PASS p"), send("+OK\r\n")]);
    script.extend(rest);
    let server = FakeServer::start(script);
    let opts = mailtls_options_new();
    assert_eq!(mailtls_options_set_security(opts, MAILTLS_SECURITY_NONE), MAILTLS_RESULT_OK);
    assert_eq!(mailtls_options_set_allow_plaintext_auth(opts, true), MAILTLS_RESULT_OK);
    let pop3 = mailtls_pop3_new(opts);
    mailtls_options_free(opts);
    assert_eq!(mailtls_pop3_connect(pop3, c"127.0.0.1".as_ptr(), server.port), MAILTLS_RESULT_OK);
    assert_eq!(mailtls_pop3_login(pop3, c"u".as_ptr(), c"p".as_ptr(), c"USER".as_ptr()), MAILTLS_RESULT_OK);
    (server, pop3)
}

static NOOP_FROM_CALLBACK: AtomicU32 = AtomicU32::new(u32::MAX);
static LAST_ERROR_FROM_CALLBACK: AtomicU32 = AtomicU32::new(u32::MAX);

/// A data callback that calls back into its own handle (`userdata`).
unsafe extern "C" fn reenter(userdata: *mut c_void, _data: *const u8, _len: usize) -> c_int {
    let pop3 = userdata.cast::<mailtls_pop3>();
    NOOP_FROM_CALLBACK.store(mailtls_pop3_noop(pop3), Ordering::SeqCst);
    let mut buf = [0 as std::ffi::c_char; 64];
    let copied = mailtls_pop3_last_error(pop3, buf.as_mut_ptr(), buf.len(), std::ptr::null_mut());
    LAST_ERROR_FROM_CALLBACK.store(copied, Ordering::SeqCst);
    // Ignored: freeing the handle under its running call.
    mailtls_pop3_free(pop3);
    0
}

#[test]
fn a_callback_that_reenters_its_handle_gets_handle_busy_and_the_call_goes_on() {
    let (server, pop3) = logged_in(vec![
        Step::Expect("RETR 1"),
        send("+OK\r\nSubject: x\r\n\r\nbody\r\n.\r\n"),
        Step::Expect("NOOP"),
        send("+OK\r\n"),
        Step::Expect("QUIT"),
        send("+OK bye\r\n"),
    ]);
    assert_eq!(mailtls_pop3_retr(pop3, 1, Some(reenter), pop3.cast()), MAILTLS_RESULT_OK);
    assert_eq!(NOOP_FROM_CALLBACK.load(Ordering::SeqCst), MAILTLS_RESULT_HANDLE_BUSY);
    assert_eq!(LAST_ERROR_FROM_CALLBACK.load(Ordering::SeqCst), MAILTLS_RESULT_HANDLE_BUSY);
    // The handle was neither freed nor knocked out of step: the server saw
    // no NOOP during the RETR, and the session goes on.
    assert_eq!(mailtls_pop3_noop(pop3), MAILTLS_RESULT_OK);
    assert_eq!(mailtls_pop3_quit(pop3), MAILTLS_RESULT_OK);
    mailtls_pop3_free(pop3);
    server.finish();
    // SAFETY: a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(mailtls_result_str(MAILTLS_RESULT_HANDLE_BUSY)) };
    assert!(text.to_str().unwrap().contains("still running"), "{text:?}");
}

#[test]
fn uidl_one_with_a_null_buffer_tells_the_length() {
    let (server, pop3) = logged_in(vec![
        Step::Expect("UIDL 1"),
        send("+OK 1 abc-123\r\n"),
        Step::Expect("UIDL 1"),
        send("+OK 1 abc-123\r\n"),
    ]);
    let mut len = 0usize;
    let r = mailtls_pop3_uidl_one(pop3, 1, std::ptr::null_mut(), 0, &mut len);
    assert_eq!((r, len), (MAILTLS_RESULT_BUFFER_TOO_SMALL, 7), "as the text copy rules say");
    let mut buf = [0 as std::ffi::c_char; 8];
    assert_eq!(mailtls_pop3_uidl_one(pop3, 1, buf.as_mut_ptr(), buf.len(), &mut len), MAILTLS_RESULT_OK);
    // SAFETY: NUL-terminated by the call.
    assert_eq!(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap(), "abc-123");
    mailtls_pop3_free(pop3);
    server.finish();
}
