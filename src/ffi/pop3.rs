//! `mailtls_pop3`: a POP3 session handle.

use std::ffi::{c_char, c_int, c_void};
use std::ops::ControlFlow;

use super::arguments::{arg_slice, arg_str, out};
use super::buffer::mailtls_buffer;
use super::capabilities::mailtls_capabilities;
use super::certificate::mailtls_certificate;
use super::detail::{ErrorDetail, Failure, copy_out, to_cstring};
use super::handle::{Guarded, c_handle, copy_detail, free_handle, new_handle, with_handle};
use super::listing::mailtls_pop3_listing;
use super::options::mailtls_options;
use super::result::{MAILTLS_RESULT_OK, mailtls_result};
use super::session::{self, Session};
use crate::error::Error;
use crate::pop3::{Entry, Part, Pop3Client, Retrieved};

/// A POP3 session. Create with mailtls_pop3_new(), connect with
/// mailtls_pop3_connect(), free with mailtls_pop3_free().
///
/// Thread rules: a handle may be moved to another thread between calls,
/// but must not be used from two threads at once. Distinct handles are
/// independent.
///
/// After an error that leaves the stream in an unknown state (timeout,
/// dropped connection, protocol violation, TLS failure, cancellation) the
/// connection is closed without QUIT, so the server commits no deletion;
/// later calls return MAILTLS_RESULT_NOT_CONNECTED until the next
/// mailtls_pop3_connect(). After a server refusal (SERVER_ERROR,
/// AUTH_FAILED) the session goes on.
pub struct mailtls_pop3(Guarded<Session<Pop3Client>>);

c_handle!(mailtls_pop3, Session<Pop3Client>);

/// A data callback: receives `len` bytes at `data` (not NUL-terminated,
/// valid only during the call). Return 0 to go on, non-zero to cancel.
pub type mailtls_data_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, data: *const u8, len: usize) -> c_int>;

/// A per-message callback for mailtls_pop3_retr_many(): receives chunks of
/// message `number` in order, then one call with `data` NULL and `len` 0
/// marking the end of that message. Return 0 to go on, non-zero to cancel.
pub type mailtls_message_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, number: u32, data: *const u8, len: usize) -> c_int>;

fn flow(rc: c_int) -> ControlFlow<()> {
    if rc == 0 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
}

/// Create a POP3 handle with a copy of `options` (NULL means defaults).
/// Returns NULL if memory is exhausted or if `options` is in use by a call
/// on another thread at this moment. Free with mailtls_pop3_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_new(options: *const mailtls_options) -> *mut mailtls_pop3 {
    new_handle(|| Session::new(options, "call mailtls_pop3_connect first"))
}

/// Free the handle, closing any connection without QUIT (so deletions are
/// not committed). NULL is ignored. Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_free(pop3: *mut mailtls_pop3) {
    free_handle(pop3)
}

/// Connect to `host` (a UTF-8 name or address) on `port` (0: 995 for
/// MAILTLS_SECURITY_TLS, else 110), read the greeting and capabilities and
/// secure the connection as the options say. Any previous connection of the
/// handle is closed first. Returns RESOLVE_FAILED, CONNECT_FAILED, TIMEOUT,
/// TLS_*, CERTIFICATE_*, STARTTLS_UNAVAILABLE, SERVER_ERROR (the greeting
/// was negative) or PROTOCOL_ERROR on failure.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_connect(pop3: *mut mailtls_pop3, host: *const c_char, port: u16) -> mailtls_result {
    session::connect(pop3, host, port)
}

/// Log in with a password. `mechanism` is NULL to pick one both sides
/// support, limited by mailtls_options_set_mechanisms(): SCRAM first,
/// SCRAM-SHA-256-PLUS, SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1 (the
/// password never crosses the wire, the server proves it knows it, and
/// -PLUS binds the login to this TLS channel; -PLUS only where the TLS
/// library gives channel binding). Then, over TLS with a verified or
/// pinned certificate, PLAIN, CRAM-MD5, LOGIN, APOP, USER in that order;
/// otherwise (danger_accept_invalid_certs, or no TLS) CRAM-MD5 first, so
/// that the password itself never goes to a server that did not prove who
/// it is. Or one of "USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5",
/// "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
/// "SCRAM-SHA-256-PLUS" to force it. Returns PLAINTEXT_AUTH_REFUSED
/// (nothing sent), NO_COMMON_MECHANISM, AUTH_FAILED (see the last reply
/// and its response code, e.g. "AUTH", "IN-USE", "LOGIN-DELAY",
/// "SYS/TEMP"), PROTOCOL_ERROR (connection closed) for a SCRAM server that
/// could not prove it knows the password or asked for weak parameters, or
/// INVALID_ARGUMENT for CR, LF or NUL in an argument, or a user name or
/// password that SCRAM's SASLprep refuses when SCRAM is forced (the
/// automatic choice then skips SCRAM).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_login(
    pop3: *mut mailtls_pop3,
    user: *const c_char,
    password: *const c_char,
    mechanism: *const c_char,
) -> mailtls_result {
    session::login(pop3, user, password, mechanism)
}

/// Log in with an OAuth 2 bearer token, using OAUTHBEARER or XOAUTH2 as the
/// server offers. Results as mailtls_pop3_login().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_login_oauth2(
    pop3: *mut mailtls_pop3,
    user: *const c_char,
    token: *const c_char,
) -> mailtls_result {
    session::login_oauth2(pop3, user, token)
}

/// The server's capabilities (CAPA; after STLS, the ones sent over TLS).
/// Owned by the handle: valid until the next mailtls_pop3_connect() or
/// mailtls_pop3_free(). NULL if `pop3` is NULL or not connected yet.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_capabilities(pop3: *const mailtls_pop3) -> *const mailtls_capabilities {
    session::capabilities(pop3)
}

/// STAT: the number of messages and their total size.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_stat(
    pop3: *mut mailtls_pop3,
    count_out: *mut u32,
    octets_out: *mut u64,
) -> mailtls_result {
    with_handle(pop3, |h| {
        let (count_out, octets_out) = (out!(count_out)?, out!(octets_out)?);
        let (count, octets) = h.client()?.stat()?;
        count_out.write(count);
        octets_out.write(octets);
        Ok(())
    })
}

fn listing_call(
    pop3: *mut mailtls_pop3,
    listing_out: *mut *mut mailtls_pop3_listing,
    fetch: impl FnOnce(&mut Pop3Client) -> Result<Vec<Entry>, Error>,
) -> mailtls_result {
    with_handle(pop3, |h| {
        let listing_out = out!(listing_out)?;
        let entries = fetch(h.client()?)?;
        listing_out.write(mailtls_pop3_listing::from_entries(entries));
        Ok(())
    })
}

/// LIST: every message's number and size. On success `*listing_out` gets a
/// listing the caller frees with mailtls_pop3_listing_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_list(
    pop3: *mut mailtls_pop3,
    listing_out: *mut *mut mailtls_pop3_listing,
) -> mailtls_result {
    listing_call(pop3, listing_out, |c| {
        Ok(c.list()?.into_iter().map(|(number, octets)| Entry { number, octets: Some(octets), uid: None }).collect())
    })
}

/// UIDL: every message's number and unique id. Ownership as
/// mailtls_pop3_list().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_uidl(
    pop3: *mut mailtls_pop3,
    listing_out: *mut *mut mailtls_pop3_listing,
) -> mailtls_result {
    listing_call(pop3, listing_out, |c| {
        Ok(c.uidl()?.into_iter().map(|(number, uid)| Entry { number, octets: None, uid: Some(uid) }).collect())
    })
}

/// UIDL and LIST in one listing (numbers, sizes and unique ids), sent
/// together when the server supports pipelining. Ownership as
/// mailtls_pop3_list().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_list_uidl(
    pop3: *mut mailtls_pop3,
    listing_out: *mut *mut mailtls_pop3_listing,
) -> mailtls_result {
    listing_call(pop3, listing_out, |c| c.list_uidl())
}

/// LIST for one message: its size. SERVER_ERROR if there is no such
/// message.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_list_one(pop3: *mut mailtls_pop3, number: u32, octets_out: *mut u64) -> mailtls_result {
    with_handle(pop3, |h| {
        let octets_out = out!(octets_out)?;
        octets_out.write(h.client()?.list_one(number)?);
        Ok(())
    })
}

/// UIDL for one message: its unique id copied into `buf` as a
/// NUL-terminated string (buffer rules as mailtls_pop3_last_error(); 71
/// bytes always suffice).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_uidl_one(
    pop3: *mut mailtls_pop3,
    number: u32,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    let mut copied = MAILTLS_RESULT_OK;
    let r = with_handle(pop3, |h| {
        let uid = to_cstring(h.client()?.uidl_one(number)?);
        // SAFETY: caller's buffer contract.
        copied = unsafe { copy_out(&uid, buf, buf_len, len_out) };
        Ok(())
    });
    if r == MAILTLS_RESULT_OK { copied } else { r }
}

fn data_sink(
    callback: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> c_int,
    userdata: *mut c_void,
) -> impl FnMut(&[u8]) -> ControlFlow<()> {
    // SAFETY: the caller's callback with its own userdata.
    move |chunk| flow(unsafe { callback(userdata, chunk.as_ptr(), chunk.len()) })
}

/// RETR: stream message `number` to `callback` in chunks, dot-unstuffed and
/// byte-exact (CRLF line ends as the server sent them). A callback that
/// returns non-zero cancels with MAILTLS_RESULT_CANCELLED and the
/// connection is closed without QUIT (deletions are not committed).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_retr(
    pop3: *mut mailtls_pop3,
    number: u32,
    callback: mailtls_data_callback,
    userdata: *mut c_void,
) -> mailtls_result {
    with_handle(pop3, |h| {
        let callback = callback.ok_or(Failure::Null("callback"))?;
        Ok(h.client()?.retr(number, &mut data_sink(callback, userdata))?)
    })
}

/// TOP: the headers and the first `lines` body lines of message `number`,
/// streamed as mailtls_pop3_retr() does.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_top(
    pop3: *mut mailtls_pop3,
    number: u32,
    lines: u32,
    callback: mailtls_data_callback,
    userdata: *mut c_void,
) -> mailtls_result {
    with_handle(pop3, |h| {
        let callback = callback.ok_or(Failure::Null("callback"))?;
        Ok(h.client()?.top(number, lines, &mut data_sink(callback, userdata))?)
    })
}

/// RETR into memory: on success `*buffer_out` gets the whole message, which
/// the caller frees with mailtls_buffer_free(). A message over the
/// options' max_message_bytes gives MESSAGE_TOO_LARGE (and closes the
/// connection, as a cancellation does).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_retr_bytes(
    pop3: *mut mailtls_pop3,
    number: u32,
    buffer_out: *mut *mut mailtls_buffer,
) -> mailtls_result {
    with_handle(pop3, |h| {
        let buffer_out = out!(buffer_out)?;
        let bytes = h.client()?.retr_to_vec(number)?;
        buffer_out.write(mailtls_buffer::into_raw(bytes));
        Ok(())
    })
}

/// RETR into the file at `path` (UTF-8), created or replaced. The message
/// is written to a temporary file in the same directory and renamed into
/// place only when complete; on failure no file is left behind. FILE_ERROR
/// if the file cannot be written.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_retr_to_file(
    pop3: *mut mailtls_pop3,
    number: u32,
    path: *const c_char,
) -> mailtls_result {
    with_handle(pop3, |h| {
        // SAFETY: NULL or a NUL-terminated string.
        let path = unsafe { arg_str(path, "path") }?;
        Ok(h.client()?.retr_to_file(number, std::path::Path::new(path))?)
    })
}

/// RETR for `count` messages (the array is read during the call), in that
/// order, pipelined when the server supports it: the fast way to download
/// many messages. `callback` gets each message's chunks and then its end
/// marker (see mailtls_message_callback). A negative reply stops the run
/// with SERVER_ERROR naming the message (messages before it were delivered
/// whole); cancelling behaves as in mailtls_pop3_retr().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_retr_many(
    pop3: *mut mailtls_pop3,
    numbers: *const u32,
    count: usize,
    callback: mailtls_message_callback,
    userdata: *mut c_void,
) -> mailtls_result {
    with_handle(pop3, |h| {
        let callback = callback.ok_or(Failure::Null("callback"))?;
        // SAFETY: `count` readable numbers (the caller's contract).
        let numbers = unsafe { arg_slice(numbers, count, "numbers") }?;
        let mut sink = |number: u32, part: Part<'_>| {
            let (data, len) = match part {
                Part::Data(chunk) => (chunk.as_ptr(), chunk.len()),
                Part::End => (std::ptr::null(), 0),
            };
            // SAFETY: the caller's callback with its own userdata.
            flow(unsafe { callback(userdata, number, data, len) })
        };
        Ok(h.client()?.retr_many(numbers, &mut sink)?)
    })
}

/// RETR for `count` messages into one buffer, pipelined as
/// mailtls_pop3_retr_many(), a batch at a time: the way to download many
/// small messages with the least work for the caller (no callback). It
/// takes messages from the front of `numbers` while their sizes (from this
/// session's LIST, which it sends once if the session has none) add up to
/// at most MAILTLS_RETR_BATCH_BUDGET bytes, and always at least one: so
/// memory stays bounded however many messages are asked for. `*count_out`
/// gets how many it retrieved; when that is less than `count`, call again
/// with the rest. `*buffer_out` gets those messages one after the other,
/// byte-exact, and `ends_out[i]` (an array of `count` the caller provides)
/// the offset where message `i` ends; message `i` starts where `i - 1`
/// ends (0 for the first). Each message is held to the options'
/// max_message_bytes (MESSAGE_TOO_LARGE, which closes the connection). On
/// SERVER_ERROR (a message refused) the outputs are written too, with the
/// messages before the refused one, and the session goes on. Free the
/// buffer with mailtls_buffer_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_retr_batch(
    pop3: *mut mailtls_pop3,
    numbers: *const u32,
    count: usize,
    buffer_out: *mut *mut mailtls_buffer,
    ends_out: *mut u64,
    count_out: *mut usize,
) -> mailtls_result {
    with_handle(pop3, |h| {
        // SAFETY: `count` readable numbers (the caller's contract).
        let numbers = unsafe { arg_slice(numbers, count, "numbers") }?;
        let (buffer_out, count_out) = (out!(buffer_out)?, out!(count_out)?);
        if count > 0 && ends_out.is_null() {
            return Err(Failure::Null("ends_out"));
        }
        let mut retrieved = Retrieved::default();
        let r = h.client()?.retr_many_to_vec(numbers, &mut retrieved);
        if matches!(r, Ok(_) | Err(Error::Server(_))) {
            for (i, end) in retrieved.ends.iter().enumerate() {
                // SAFETY: `ends_out` holds `count` entries (the caller's
                // contract), and at most `count` messages were retrieved.
                unsafe { ends_out.add(i).write(*end as u64) };
            }
            count_out.write(retrieved.ends.len());
            buffer_out.write(mailtls_buffer::into_raw(retrieved.data));
        }
        r.map(drop).map_err(Failure::Core)
    })
}

/// The most bytes of messages (by their LIST sizes) that one
/// mailtls_pop3_retr_batch() call gathers, unless a single message is
/// larger: 16 MiB.
pub const MAILTLS_RETR_BATCH_BUDGET: u64 = 16777216;
const _: () = assert!(MAILTLS_RETR_BATCH_BUDGET == crate::pop3::RETR_BATCH_BUDGET);

/// DELE: mark message `number` deleted. QUIT commits; RSET undoes.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_dele(pop3: *mut mailtls_pop3, number: u32) -> mailtls_result {
    with_handle(pop3, |h| Ok(h.client()?.dele(number)?))
}

/// DELE for `count` messages, pipelined when the server supports it. Every
/// message is attempted: on SERVER_ERROR the error message names the
/// refused ones, and all the others are marked deleted (RSET undoes that).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_dele_many(pop3: *mut mailtls_pop3, numbers: *const u32, count: usize) -> mailtls_result {
    with_handle(pop3, |h| {
        // SAFETY: `count` readable numbers (the caller's contract).
        let numbers = unsafe { arg_slice(numbers, count, "numbers") }?;
        Ok(h.client()?.dele_many(numbers)?)
    })
}

/// RSET: unmark all messages marked deleted in this session.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_rset(pop3: *mut mailtls_pop3) -> mailtls_result {
    with_handle(pop3, |h| Ok(h.client()?.rset()?))
}

/// NOOP: keep the session alive.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_noop(pop3: *mut mailtls_pop3) -> mailtls_result {
    with_handle(pop3, |h| Ok(h.client()?.noop()?))
}

/// QUIT: end the session; the server removes messages marked deleted. The
/// connection is closed whatever the result (SERVER_ERROR means the server
/// could not remove some). The handle can connect again.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_quit(pop3: *mut mailtls_pop3) -> mailtls_result {
    session::quit(pop3)
}

/// The SHA-256 fingerprint of the server certificate of the current or last
/// connection, as 64 lowercase hex digits without colons, copied into
/// `buf` (rules as mailtls_pop3_last_error(); 65 bytes suffice). Also
/// after a connect that failed on the certificate (a CERTIFICATE_* result
/// other than PIN_MISMATCH), when the TLS library handed the certificate
/// over (OpenSSL does; native-tls, on Windows and macOS, does not).
/// NOT_CONNECTED if no certificate is known.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_peer_cert_sha256(
    pop3: *const mailtls_pop3,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    session::peer_cert_sha256(pop3, buf, buf_len, len_out)
}

/// Copy the message of the last failed call on this handle into `buf` as a
/// NUL-terminated string; "" if the last call succeeded. If `len_out` is
/// not NULL it gets the full length (without NUL). Returns BUFFER_TOO_SMALL
/// when truncated (what fits is still written and terminated). A NULL
/// `buf` (or `buf_len` 0) only asks for the length: the result is then OK
/// for an empty text and BUFFER_TOO_SMALL otherwise. Messages never contain
/// passwords or tokens.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_last_error(
    pop3: *const mailtls_pop3,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(pop3, ErrorDetail::message, buf, buf_len, len_out)
}

/// Copy the TLS library's own account of the last failed call into `buf`:
/// its code (e.g. "X509_V_ERR_CERT_HAS_EXPIRED, 10") and its words (the
/// error stack), which the message of mailtls_pop3_last_error() leaves
/// out; for a log or a bug report, not for the user. "" if the failure
/// has none (certificate, TLS version and other TLS
/// handshake failures have one). Buffer rules as
/// mailtls_pop3_last_error(). The trace gets the same text as an INFO
/// line.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_last_error_detail(
    pop3: *const mailtls_pop3,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(pop3, ErrorDetail::library_detail, buf, buf_len, len_out)
}

/// The server certificate of the current or last connect, also after a
/// connect that failed on the certificate (see
/// mailtls_certificate_failure() for why); borrowed from the handle, valid
/// until the next mailtls_pop3_connect() or mailtls_pop3_free(). NULL if
/// `pop3` is NULL or busy, if no TLS handshake got as far as the
/// certificate, or if it cannot be read. After a certificate or pin
/// failure it is the certificate the server sent (with native-tls, on
/// Windows and macOS, read on a second connection that stops after the
/// handshake; NULL if that one failed).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_peer_certificate(pop3: *const mailtls_pop3) -> *const mailtls_certificate {
    session::peer_certificate(pop3)
}

/// Copy the server reply line of the last failed call (e.g. "-ERR [AUTH]
/// Invalid credentials"); "" if the failure carried none. Buffer rules as
/// mailtls_pop3_last_error().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_last_reply(
    pop3: *const mailtls_pop3,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(pop3, ErrorDetail::reply, buf, buf_len, len_out)
}

/// Copy the RFC 2449/3206 response code of the last failed call's reply,
/// upper case without brackets (e.g. "AUTH", "SYS/TEMP", "SYS/PERM",
/// "IN-USE", "LOGIN-DELAY"); "" if none. Buffer rules as
/// mailtls_pop3_last_error().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_last_response_code(
    pop3: *const mailtls_pop3,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(pop3, ErrorDetail::response_code, buf, buf_len, len_out)
}
