//! `mailtls_smtp`: an SMTP submission session handle.

use std::ffi::{c_char, c_void};
use std::io::{Read, Seek};

use super::arguments::{arg_optional_str, arg_slice, arg_str};
use super::capabilities::mailtls_capabilities;
use super::certificate::mailtls_certificate;
use super::detail::{ErrorDetail, Failure, FfiResult, to_cstring};
use super::guard::guard_or;
use super::handle::{Guarded, HandleState, c_handle, copy_detail, free_handle, new_handle, read_handle, with_handle};
use super::options::mailtls_options;
use super::result;
use super::result::{MAILTLS_RESULT_OK, mailtls_result};
use super::session::{self, Session, SessionState};
use super::smtp_results::{mailtls_smtp_results, mailtls_smtp_results_free};
use crate::error::Error;
use crate::reply::RecipientResult;
use crate::smtp::{Dsn, MessageSource, Outgoing, SmtpClient, SourceCancelled, scan_reader};

/// Pass as `size` to mailtls_smtp_send() when the message size is unknown.
// Written as a literal: cffi cannot read UINT64_MAX in a #define.
pub const MAILTLS_SIZE_UNKNOWN: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// An SMTP submission session. Create with mailtls_smtp_new(), connect with
/// mailtls_smtp_connect(), free with mailtls_smtp_free().
///
/// Thread rules: a handle may be moved to another thread between calls,
/// but must not be used from two threads at once.
///
/// After an error that leaves the stream in an unknown state (timeout,
/// dropped connection, protocol violation, TLS failure, cancellation, or a
/// 421 reply) the connection is closed; later calls return
/// MAILTLS_RESULT_NOT_CONNECTED until the next mailtls_smtp_connect().
/// After a refusal (SERVER_ERROR, AUTH_FAILED, RECIPIENTS_REFUSED) the
/// session goes on and the next message can be sent.
pub struct mailtls_smtp(Guarded<SmtpState>);

pub(crate) struct SmtpState {
    session: Session<SmtpClient>,
    /// What mailtls_smtp_set_dsn() asked for, checked when it was set.
    dsn: Option<Dsn>,
}

impl HandleState for SmtpState {
    fn detail(&mut self) -> &mut ErrorDetail {
        &mut self.session.detail
    }
    fn detail_ref(&self) -> &ErrorDetail {
        &self.session.detail
    }
}

impl SessionState for SmtpState {
    type Client = SmtpClient;
    fn session(&mut self) -> &mut Session<SmtpClient> {
        &mut self.session
    }
    fn session_ref(&self) -> &Session<SmtpClient> {
        &self.session
    }
}

impl SmtpState {
    fn client(&mut self) -> Result<&mut SmtpClient, Error> {
        self.session.client()
    }
}

c_handle!(mailtls_smtp, SmtpState);

/// A message source: copy up to `len` bytes of the message into `buf` and
/// return how many (0 at the end of the message); return a negative number
/// to cancel the send with MAILTLS_RESULT_CANCELLED.
pub type mailtls_read_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *mut u8, len: usize) -> i64>;

/// Create an SMTP handle with a copy of `options` (NULL means defaults).
/// Returns NULL if memory is exhausted or if `options` is in use by a call
/// on another thread at this moment. Free with mailtls_smtp_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_new(options: *const mailtls_options) -> *mut mailtls_smtp {
    new_handle(|| Some(SmtpState { session: Session::new(options, "call mailtls_smtp_connect first")?, dsn: None }))
}

/// Free the handle, closing any connection without QUIT. NULL is ignored.
/// Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_free(smtp: *mut mailtls_smtp) {
    free_handle(smtp)
}

/// Connect to `host` on `port` (0: 465 for MAILTLS_SECURITY_TLS, else 587),
/// read the greeting, say EHLO (HELO if the server refuses EHLO) and secure
/// the connection as the options say: with AUTO, port 465 means implicit
/// TLS and any other port (587, 25, 26, ...) required STARTTLS. Any
/// previous connection of the handle is closed first. Results as
/// mailtls_pop3_connect().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_connect(smtp: *mut mailtls_smtp, host: *const c_char, port: u16) -> mailtls_result {
    session::connect(smtp, host, port)
}

/// AUTH with a password. `mechanism` is NULL to pick one both sides
/// support, limited by mailtls_options_set_mechanisms(): SCRAM first, as
/// for mailtls_pop3_login() (SCRAM-SHA-256-PLUS, SCRAM-SHA-256,
/// SCRAM-SHA-1-PLUS, SCRAM-SHA-1); then, over TLS with a verified or pinned
/// certificate, PLAIN, CRAM-MD5, LOGIN in that order; otherwise CRAM-MD5
/// first (the password itself never goes to a server that did not prove
/// who it is). Or "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1",
/// "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS" (errors as
/// for mailtls_pop3_login()). If
/// the server turns a mechanism itself down (504, 534, or a refusal before
/// any credential was sent), the next common one is tried; refused
/// credentials give AUTH_FAILED at once. Also PLAINTEXT_AUTH_REFUSED
/// (nothing sent) and NO_COMMON_MECHANISM.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_login(
    smtp: *mut mailtls_smtp,
    user: *const c_char,
    password: *const c_char,
    mechanism: *const c_char,
) -> mailtls_result {
    session::login(smtp, user, password, mechanism)
}

/// AUTH with an OAuth 2 bearer token (OAUTHBEARER, else XOAUTH2). Results
/// as mailtls_smtp_login().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_login_oauth2(
    smtp: *mut mailtls_smtp,
    user: *const c_char,
    token: *const c_char,
) -> mailtls_result {
    session::login_oauth2(smtp, user, token)
}

/// The EHLO extensions (after STARTTLS, the ones announced over TLS), e.g.
/// "SIZE" with argument "1048576", "AUTH" with its mechanisms. Owned by the
/// handle: valid until the next mailtls_smtp_connect() or
/// mailtls_smtp_free(). NULL if `smtp` is NULL or not connected yet.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_extensions(smtp: *const mailtls_smtp) -> *const mailtls_capabilities {
    session::capabilities(smtp)
}

/// Ask for delivery status notifications (RFC 3461) on the following sends,
/// when the server offers DSN (otherwise nothing is asked). `notify`:
/// "NEVER" or a comma-separated list of "SUCCESS", "FAILURE", "DELAY";
/// `ret`: "FULL" or "HDRS"; `envid`: an identifier for the message; each
/// may be NULL to leave it out. `orcpt` adds ORCPT=rfc822;<address> to each
/// recipient. All NULL and false clears the request.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_set_dsn(
    smtp: *mut mailtls_smtp,
    notify: *const c_char,
    ret: *const c_char,
    envid: *const c_char,
    orcpt: bool,
) -> mailtls_result {
    with_handle(smtp, |h| {
        // SAFETY: NULL or NUL-terminated strings.
        let (notify, ret, envid) = unsafe {
            (arg_optional_str(notify, "notify")?, arg_optional_str(ret, "ret")?, arg_optional_str(envid, "envid")?)
        };
        let dsn = Dsn::new(notify, ret, envid, orcpt)?;
        h.dsn = if dsn.is_empty() { None } else { Some(dsn) };
        Ok(())
    })
}

fn recipients_arg<'a>(recipients: *const *const c_char, count: usize) -> FfiResult<Vec<&'a str>> {
    if count == 0 {
        return Err(Failure::Core(Error::InvalidArgument("no recipients".into())));
    }
    if recipients.is_null() {
        return Err(Failure::Null("recipients"));
    }
    // SAFETY: the caller passes `count` string pointers.
    let pointers = unsafe { std::slice::from_raw_parts(recipients, count) };
    // SAFETY: each is NULL or a NUL-terminated string.
    pointers.iter().map(|p| unsafe { arg_str(*p, "a recipient") }).collect()
}

/// The common part of every send: check the arguments, run the send, and
/// hand the per-recipient results out on success and when every recipient
/// was refused.
fn send_with<A>(
    smtp: *mut mailtls_smtp,
    results_out: *mut *mut mailtls_smtp_results,
    args: impl FnOnce() -> FfiResult<A>,
    send: impl FnOnce(&mut SmtpClient, A, Option<&Dsn>) -> Result<Vec<RecipientResult>, Error>,
) -> mailtls_result {
    with_handle(smtp, |h| {
        let args = args()?;
        let dsn = h.dsn.clone();
        let outcome = send(h.client()?, args, dsn.as_ref());
        let results = match &outcome {
            Ok(results) => Some(results.as_slice()),
            Err(Error::RecipientsRefused(results, _)) => Some(results.as_slice()),
            Err(_) => None,
        };
        if let (Some(results), false) = (results, results_out.is_null()) {
            // SAFETY: checked non-NULL; the caller provides a writable slot.
            unsafe { results_out.write(mailtls_smtp_results::into_raw(results)) };
        }
        outcome.map(drop).map_err(Failure::Core)
    })
}

/// Send a message read from `callback` (see mailtls_read_callback) from
/// `from` (the envelope sender; "" for none) to the `count` addresses in
/// `recipients`. The message is streamed: line ends are made CRLF (bare LF
/// and CR included), leading dots doubled and a final line end added, so it
/// never sits whole in memory. `size` (or MAILTLS_SIZE_UNKNOWN) is declared
/// as SIZE= and compared with the server's limit as given: pass the size
/// DATA carries (after that conversion, without the final "."), or a bound
/// of it; over the limit, MESSAGE_TOO_LARGE before any byte is sent.
///
/// The content is not known in advance, so BODY=8BITMIME is declared
/// whenever the server offers it, and SMTPUTF8 only for non-ASCII
/// addresses. If the content then needs what was not declared (a byte over
/// 127 and the server lacks 8BITMIME: EIGHTBITMIME_UNAVAILABLE; UTF-8 in the
/// header section, RFC 6532, without SMTPUTF8 declared:
/// SMTPUTF8_UNAVAILABLE), the transfer stops there and the connection is
/// closed, so the server discards the partial message. A message with
/// UTF-8 headers goes with mailtls_smtp_send_bytes() or
/// mailtls_smtp_send_file(), which look at the content before MAIL.
///
/// If some recipients are refused, the message goes to the others and the
/// result is OK: look at the per-recipient results. If all are refused the
/// result is RECIPIENTS_REFUSED and no content is sent. On OK and on
/// RECIPIENTS_REFUSED, `*results_out` (when `results_out` is not NULL) gets
/// results the caller frees with mailtls_smtp_results_free(). Other
/// results: SERVER_ERROR (see the last reply and mailtls_smtp_last_code();
/// 4xx is temporary, 5xx permanent), SMTPUTF8_UNAVAILABLE,
/// EIGHTBITMIME_UNAVAILABLE, CANCELLED.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_send(
    smtp: *mut mailtls_smtp,
    from: *const c_char,
    recipients: *const *const c_char,
    count: usize,
    callback: mailtls_read_callback,
    userdata: *mut c_void,
    size: u64,
    results_out: *mut *mut mailtls_smtp_results,
) -> mailtls_result {
    send_with(
        smtp,
        results_out,
        || {
            // SAFETY: NULL or a NUL-terminated string.
            let from = unsafe { arg_str(from, "from") }?;
            Ok((from, recipients_arg(recipients, count)?, callback.ok_or(Failure::Null("callback"))?))
        },
        |client, (from, recipients, callback), dsn| {
            let mut reader = CallbackReader { callback, userdata };
            let size = (size != MAILTLS_SIZE_UNKNOWN).then_some(size);
            client.send(from, &recipients, MessageSource { reader: &mut reader, size, eight_bit: None }, dsn)
        },
    )
}

struct CallbackReader {
    callback: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> i64,
    userdata: *mut c_void,
}

impl Read for CallbackReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: the caller's callback, writing at most buf.len() bytes.
        let n = unsafe { (self.callback)(self.userdata, buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(_) => Err(std::io::Error::other("the read callback returned more bytes than asked for")),
            Err(_) => Err(std::io::Error::other(SourceCancelled)),
        }
    }
}

/// Send `len` bytes at `data` (copied as they are sent) as the message;
/// otherwise as mailtls_smtp_send(), except that the content is looked at
/// first: SIZE= is the length DATA carries; 8-bit content to a server
/// without 8BITMIME gives EIGHTBITMIME_UNAVAILABLE and UTF-8 headers (RFC 6532)
/// to one without SMTPUTF8 SMTPUTF8_UNAVAILABLE, before anything is sent;
/// otherwise BODY=8BITMIME and SMTPUTF8 are declared as the content needs.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_send_bytes(
    smtp: *mut mailtls_smtp,
    from: *const c_char,
    recipients: *const *const c_char,
    count: usize,
    data: *const u8,
    len: usize,
    results_out: *mut *mut mailtls_smtp_results,
) -> mailtls_result {
    send_with(
        smtp,
        results_out,
        // SAFETY: NULL or a NUL-terminated string; `len` readable bytes.
        || unsafe { Ok((arg_str(from, "from")?, recipients_arg(recipients, count)?, arg_slice(data, len, "data")?)) },
        |client, (from, recipients, mut bytes), dsn| {
            client.send(from, &recipients, MessageSource::from_bytes(&mut bytes), dsn)
        },
    )
}

/// Send the file at `path` (UTF-8) as the message, streamed. It is read
/// once before MAIL for its size as DATA carries it and for what it needs
/// (8BITMIME, SMTPUTF8), then again for DATA; otherwise as
/// mailtls_smtp_send_bytes(). FILE_ERROR if it cannot be read.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_send_file(
    smtp: *mut mailtls_smtp,
    from: *const c_char,
    recipients: *const *const c_char,
    count: usize,
    path: *const c_char,
    results_out: *mut *mut mailtls_smtp_results,
) -> mailtls_result {
    send_with(
        smtp,
        results_out,
        // SAFETY: NULL or NUL-terminated strings.
        || unsafe { Ok((arg_str(from, "from")?, recipients_arg(recipients, count)?, arg_str(path, "path")?)) },
        |client, (from, recipients, path), dsn| {
            let file_err = || Error::local_file(path);
            let mut file = std::fs::File::open(path).map_err(file_err())?;
            // SIZE=, BODY=8BITMIME and SMTPUTF8 go with MAIL, before the
            // content: one look-ahead pass, then the same handle rewound.
            let scanned = scan_reader(&mut file).and_then(|s| file.rewind().map(|_| s)).map_err(file_err())?;
            let source =
                MessageSource { reader: &mut file, size: Some(scanned.size), eight_bit: Some(scanned.eight_bit) };
            client.send(from, &recipients, source, dsn)
        },
    )
}

/// Send a whole RFC 5322 message (`len` bytes at `data`), the envelope
/// derived from its headers: MAIL FROM from Sender, else the first From
/// address; RCPT TO for every To, Cc and Bcc address. A message with
/// Resent- fields is being resent (RFC 5322 section 3.6.6): the envelope
/// then comes from the most recent resent block (the first Resent- fields)
/// alone: Resent-Sender, else Resent-From; Resent-To, Resent-Cc and
/// Resent-Bcc. Every Bcc and Resent-Bcc field is removed from what is sent.
/// INVALID_ARGUMENT when the message has no usable sender or recipient;
/// otherwise as mailtls_smtp_send_bytes().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_send_message(
    smtp: *mut mailtls_smtp,
    data: *const u8,
    len: usize,
    results_out: *mut *mut mailtls_smtp_results,
) -> mailtls_result {
    send_with(
        smtp,
        results_out,
        // SAFETY: `len` readable bytes.
        || unsafe { arg_slice(data, len, "data") },
        |client, message, dsn| client.send_message(message, dsn),
    )
}

/// One message of mailtls_smtp_send_batch(): everything is borrowed from
/// the caller for the duration of that call.
#[repr(C)]
pub struct mailtls_smtp_message {
    /// The envelope sender, UTF-8 ("" for none).
    pub from: *const c_char,
    /// `recipient_count` recipient addresses, UTF-8.
    pub recipients: *const *const c_char,
    /// The number of recipients (at least 1).
    pub recipient_count: usize,
    /// The whole message: `len` bytes at `data`, sent as
    /// mailtls_smtp_send_bytes() would.
    pub data: *const u8,
    /// The message's length in bytes.
    pub len: usize,
}

/// The outcome of one message of mailtls_smtp_send_batch(), reported in
/// order: `index` into the caller's array, `result` as mailtls_smtp_send()
/// would return it, `results` the per-recipient results (NULL when the
/// failure came before any RCPT was answered), `smtp_code` the reply code
/// of the server's refusal (0 when none: success, or a refusal of ours) and
/// `error` the failure's message with the server's reply ("" on success).
/// `results` and `error` are borrowed for the duration of the call.
pub type mailtls_batch_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        index: usize,
        result: mailtls_result,
        results: *const mailtls_smtp_results,
        smtp_code: u32,
        error: *const c_char,
    ),
>;

/// Send `count` messages on this session, the fast way to empty an outbox:
/// when the server offers PIPELINING, one write carries a message's content
/// with the next message's envelope, so each message costs one round trip.
/// All messages are checked first (NULL_ARGUMENT or INVALID_ARGUMENT for a
/// bad pointer or string, and nothing is sent). `callback` then gets every
/// message's outcome in order; a message refused by the server does not
/// stop the others. The result is OK when every message got its outcome,
/// or the error that ended the session (timeout, dropped connection, a 421
/// reply): messages without an outcome may or may not have been delivered.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_send_batch(
    smtp: *mut mailtls_smtp,
    messages: *const mailtls_smtp_message,
    count: usize,
    callback: mailtls_batch_callback,
    userdata: *mut c_void,
) -> mailtls_result {
    with_handle(smtp, |h| {
        let callback = callback.ok_or(Failure::Null("callback"))?;
        let batch = batch_arg(messages, count)?;
        let outgoing: Vec<Outgoing> =
            batch.iter().map(|(from, to, data)| Outgoing { from, recipients: to, message: data }).collect();
        let dsn = h.dsn.clone();
        let mut report = |index: usize, outcome: Result<Vec<RecipientResult>, Error>| {
            let (code, results, smtp_code, error) = match &outcome {
                Ok(results) => (MAILTLS_RESULT_OK, Some(results.as_slice()), 0, String::new()),
                Err(e) => {
                    let results = if let Error::RecipientsRefused(r, _) = e { Some(r.as_slice()) } else { None };
                    let smtp_code = e.reply().and_then(|r| r.code).unwrap_or(0);
                    (result::result_of(e), results, smtp_code.into(), e.to_string())
                }
            };
            let results = results.map_or(std::ptr::null_mut(), mailtls_smtp_results::into_raw);
            let error = to_cstring(error);
            // SAFETY: the caller's callback with its own userdata; the
            // pointers stay valid for the call.
            unsafe { callback(userdata, index, code, results, smtp_code, error.as_ptr()) };
            mailtls_smtp_results_free(results);
        };
        Ok(h.client()?.send_batch(&outgoing, dsn.as_ref(), &mut report)?)
    })
}

/// One message of a batch, checked: (from, recipients, data).
type BatchItem<'a> = (&'a str, Vec<&'a str>, &'a [u8]);

/// The messages of a batch, checked.
fn batch_arg<'a>(messages: *const mailtls_smtp_message, count: usize) -> FfiResult<Vec<BatchItem<'a>>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if messages.is_null() {
        return Err(Failure::Null("messages"));
    }
    // SAFETY: the caller passes `count` messages.
    let messages = unsafe { std::slice::from_raw_parts(messages, count) };
    messages
        .iter()
        .map(|m| {
            // SAFETY: the pointers of each message follow the documented
            // contract of mailtls_smtp_message.
            unsafe {
                Ok((
                    arg_str(m.from, "a message's from")?,
                    recipients_arg(m.recipients, m.recipient_count)?,
                    arg_slice(m.data, m.len, "a message's data")?,
                ))
            }
        })
        .collect()
}

/// NOOP.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_noop(smtp: *mut mailtls_smtp) -> mailtls_result {
    with_handle(smtp, |h| Ok(h.client()?.noop()?))
}

/// RSET: abandon any transaction in progress.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_rset(smtp: *mut mailtls_smtp) -> mailtls_result {
    with_handle(smtp, |h| Ok(h.client()?.rset()?))
}

/// QUIT: end the session; the connection is closed whatever the result.
/// The handle can connect again.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_quit(smtp: *mut mailtls_smtp) -> mailtls_result {
    session::quit(smtp)
}

/// The server certificate's SHA-256 fingerprint, as
/// mailtls_pop3_peer_cert_sha256().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_peer_cert_sha256(
    smtp: *const mailtls_smtp,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    session::peer_cert_sha256(smtp, buf, buf_len, len_out)
}

/// Copy the message of the last failed call, as mailtls_pop3_last_error().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_last_error(
    smtp: *const mailtls_smtp,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(smtp, ErrorDetail::message, buf, buf_len, len_out)
}

/// Copy the TLS library's account of the last failed call, as
/// mailtls_pop3_last_error_detail().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_last_error_detail(
    smtp: *const mailtls_smtp,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(smtp, ErrorDetail::library_detail, buf, buf_len, len_out)
}

/// The server certificate of the current or last connect, as
/// mailtls_pop3_peer_certificate(): valid until the next
/// mailtls_smtp_connect() or mailtls_smtp_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_peer_certificate(smtp: *const mailtls_smtp) -> *const mailtls_certificate {
    session::peer_certificate(smtp)
}

/// Copy the server reply of the last failed call (e.g. "550 5.1.1 <x@y>:
/// Recipient address rejected"); "" if none. Buffer rules as
/// mailtls_pop3_last_error().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_last_reply(
    smtp: *const mailtls_smtp,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(smtp, ErrorDetail::reply, buf, buf_len, len_out)
}

/// Copy the enhanced status code of the last failed call's reply (e.g.
/// "5.7.8"); "" if none. Buffer rules as mailtls_pop3_last_error().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_last_enhanced_code(
    smtp: *const mailtls_smtp,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(smtp, ErrorDetail::response_code, buf, buf_len, len_out)
}

/// The reply code (e.g. 550) of the last failed call's server reply: 4xx
/// means temporary (try again later), 5xx permanent. 0 if the failure
/// carried no reply or `smtp` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_smtp_last_code(smtp: *const mailtls_smtp) -> u32 {
    guard_or(0, || read_handle(smtp, |h| h.detail_ref().code().into()).unwrap_or(0))
}
