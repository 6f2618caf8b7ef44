//! Safe mailbox download from C: `mailtls_sync_options`, the two sync calls
//! on a POP3 handle (into a Maildir, or into the caller's callback) and the
//! `mailtls_sync_report` they leave.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use super::arguments::{arg_str, out};
use super::detail::{ErrorDetail, Failure, FfiResult, to_cstring};
use super::guard::{guard, guard_or};
use super::handle::{
    Guarded, HandleState, c_handle, copy_detail, free_boxed, free_handle, new_handle, read_handle, with_handle,
};
use super::pop3::mailtls_pop3;
use super::result::mailtls_result;
use crate::error::{Error, Result};
use crate::sync::{Destination, Maildir, Outcome, Progress, Retention, SyncError, SyncOptions, SyncReport};

/// How to sync an account: its state file, what to delete on the server, a
/// size limit, mark-seen, a progress callback. Create with
/// mailtls_sync_options_new(), free with mailtls_sync_options_free(). A
/// sync reads the options when it starts: they may be changed or freed
/// once it has returned.
pub struct mailtls_sync_options(Guarded<SyncOptionsState>);

pub(crate) struct SyncOptionsState {
    /// The core's options; the state file is empty until set.
    inner: SyncOptions,
    progress: Option<ProgressTarget>,
    detail: ErrorDetail,
}

impl HandleState for SyncOptionsState {
    fn detail(&mut self) -> &mut ErrorDetail {
        &mut self.detail
    }
    fn detail_ref(&self) -> &ErrorDetail {
        &self.detail
    }
}

c_handle!(mailtls_sync_options, SyncOptionsState);

/// What a sync does with messages once they are saved: one of the
/// MAILTLS_RETENTION_* constants.
pub type mailtls_retention = u32;

/// Default. Never delete anything on the server ("leave a copy on the
/// server"); the state file remembers what was downloaded.
pub const MAILTLS_RETENTION_LEAVE_ON_SERVER: mailtls_retention = 0;
/// Delete each message on the server once it is durably saved and recorded
/// (classic POP3). Works with servers without UIDL too.
pub const MAILTLS_RETENTION_DELETE_AFTER_SAVING: mailtls_retention = 1;
/// Leave messages on the server, and delete each once `keep_seconds` have
/// passed since this client first saw it (by the state file's record, on
/// the wall clock), as mpop's `keep` duration does.
pub const MAILTLS_RETENTION_DELETE_AFTER: mailtls_retention = 2;

/// A progress callback: the messages and bytes (LIST sizes) downloaded so
/// far of those the sync means to download. Called once before the first
/// download, after each message, and within a large one every 256 KiB.
/// Return 0 to go on, non-zero to cancel the sync (result
/// MAILTLS_RESULT_CANCELLED; what was saved stays saved and recorded,
/// nothing is deleted). Called on the thread that called the sync; it must
/// not call into the same POP3 handle.
pub type mailtls_sync_progress_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        done_messages: u64,
        total_messages: u64,
        done_bytes: u64,
        total_bytes: u64,
    ) -> c_int,
>;

/// What a mailtls_sync_message_callback is told: one of the
/// MAILTLS_SYNC_EVENT_* constants.
pub type mailtls_sync_event = u32;

/// A message starts (`data` NULL, `len` 0).
pub const MAILTLS_SYNC_EVENT_BEGIN: mailtls_sync_event = 0;
/// The next `len` bytes of the message at `data`: the message as the
/// server sent it, dot-unstuffed, CRLF line ends.
pub const MAILTLS_SYNC_EVENT_DATA: mailtls_sync_event = 1;
/// The message is complete (`data` NULL, `len` 0): store it durably, then
/// return 0. Only then does it count as saved (and may be deleted on the
/// server).
pub const MAILTLS_SYNC_EVENT_END: mailtls_sync_event = 2;
/// The message begun will not be completed (the connection dropped, the
/// sync was cancelled or failed): discard what was received of it. The
/// return value is ignored.
pub const MAILTLS_SYNC_EVENT_ABANDON: mailtls_sync_event = 3;

/// The destination of mailtls_pop3_sync(): receives each new message as
/// BEGIN, DATA (zero or more), then END or ABANDON. `uid` is the message's
/// unique id (a NUL-terminated string valid during the call), NULL only
/// from a server without UIDL; `size` is the size the server announced
/// (LIST). `data` is valid only during the call. Return 0 to go on;
/// non-zero (on BEGIN, DATA or END) means the message could not be saved:
/// the sync stops with MAILTLS_RESULT_CANCELLED, the message is not
/// recorded and nothing is deleted. Delivery is at least once: after a
/// crash, a message saved but not yet recorded is delivered again with the
/// same UID, for the callback to de-duplicate by. Called on the thread
/// that called the sync; it must not call into the same POP3 handle.
pub type mailtls_sync_message_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        event: mailtls_sync_event,
        uid: *const c_char,
        size: u64,
        data: *const u8,
        len: usize,
    ) -> c_int,
>;

#[derive(Clone, Copy)]
struct ProgressTarget {
    callback: unsafe extern "C" fn(*mut c_void, u64, u64, u64, u64) -> c_int,
    userdata: *mut c_void,
}
// SAFETY: the header says the callback runs on the thread that calls the
// sync, which may be any thread; making that safe is the caller's contract.
unsafe impl Send for ProgressTarget {}

/// Create sync options: no state file yet (set one with
/// mailtls_sync_options_set_state_file() before syncing), leave on server,
/// no size limit, download, no progress callback. Returns NULL only if
/// memory is exhausted. Free with mailtls_sync_options_free().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_new() -> *mut mailtls_sync_options {
    new_handle(|| {
        Some(SyncOptionsState { inner: SyncOptions::new(""), progress: None, detail: ErrorDetail::default() })
    })
}

/// Free sync options. NULL is ignored. Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_free(options: *mut mailtls_sync_options) {
    free_handle(options)
}

fn invalid(msg: &str) -> Failure {
    Failure::Core(Error::InvalidArgument(msg.into()))
}

/// Set the account's state file (a UTF-8 path; created by the first sync):
/// what this client has downloaded, and when it first saw each message.
/// One per account and destination. A lock file beside it,
/// "<state_file>.lock", keeps two syncs of the account apart. Returns
/// MAILTLS_RESULT_INVALID_ARGUMENT for an empty path.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_set_state_file(
    options: *mut mailtls_sync_options,
    state_file: *const c_char,
) -> mailtls_result {
    with_handle(options, |o| {
        // SAFETY: NULL or a NUL-terminated string.
        let path = unsafe { arg_str(state_file, "state_file") }?;
        if path.is_empty() {
            return Err(invalid("the state file path is empty"));
        }
        o.inner.state = path.into();
        Ok(())
    })
}

/// Set what is deleted on the server (MAILTLS_RETENTION_*). `keep_seconds`
/// is the time to keep messages for MAILTLS_RETENTION_DELETE_AFTER (0
/// deletes once saved) and must be 0 otherwise. Returns
/// MAILTLS_RESULT_INVALID_ARGUMENT for an unknown retention or a
/// `keep_seconds` that does not go with it.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_set_retention(
    options: *mut mailtls_sync_options,
    retention: mailtls_retention,
    keep_seconds: u64,
) -> mailtls_result {
    with_handle(options, |o| {
        o.inner.retention = match (retention, keep_seconds) {
            (MAILTLS_RETENTION_LEAVE_ON_SERVER, 0) => Retention::LeaveOnServer,
            (MAILTLS_RETENTION_DELETE_AFTER_SAVING, 0) => Retention::DeleteAfterSaving,
            (MAILTLS_RETENTION_DELETE_AFTER, keep) => Retention::DeleteAfter(Duration::from_secs(keep)),
            (MAILTLS_RETENTION_LEAVE_ON_SERVER | MAILTLS_RETENTION_DELETE_AFTER_SAVING, _) => {
                return Err(invalid("keep_seconds goes only with MAILTLS_RETENTION_DELETE_AFTER"));
            }
            _ => return Err(invalid("unknown retention")),
        };
        Ok(())
    })
}

/// Skip messages larger than `max_bytes` (by the server's LIST): they are
/// reported as MAILTLS_SYNC_OUTCOME_TOO_LARGE, not downloaded, never
/// deleted. 0 means no limit (the default).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_set_max_message_bytes(
    options: *mut mailtls_sync_options,
    max_bytes: u64,
) -> mailtls_result {
    with_handle(options, |o| {
        o.inner.max_message_bytes = (max_bytes > 0).then_some(max_bytes);
        Ok(())
    })
}

/// With `mark_seen_only` true, a sync records every message now on the
/// server as already saved and downloads nothing (an account added to a
/// program that already has its mail); later syncs fetch only what arrives
/// afterwards. Needs UIDL.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_set_mark_seen_only(
    options: *mut mailtls_sync_options,
    mark_seen_only: bool,
) -> mailtls_result {
    with_handle(options, |o| {
        o.inner.mark_seen_only = mark_seen_only;
        Ok(())
    })
}

/// Set (or with a NULL callback, remove) the progress callback and its
/// userdata, passed back as the first argument. See
/// mailtls_sync_progress_callback.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_set_progress(
    options: *mut mailtls_sync_options,
    callback: mailtls_sync_progress_callback,
    userdata: *mut c_void,
) -> mailtls_result {
    with_handle(options, |o| {
        o.progress = callback.map(|callback| ProgressTarget { callback, userdata });
        Ok(())
    })
}

/// Copy the message of the last failed call on these options into `buf`
/// (see mailtls_pop3_last_error() for the buffer rules).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_options_last_error(
    options: *const mailtls_sync_options,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> mailtls_result {
    copy_detail(options, ErrorDetail::message, buf, buf_len, len_out)
}

/// Sync into the Maildir at `maildir` (a UTF-8 path; created with its
/// tmp/, new/ and cur/ if missing). Each message is written to tmp/,
/// flushed to disk, renamed into new/ under a name made from the account
/// (a tag from the state file's path, so several accounts may share one
/// Maildir), its UID and size, and new/ is flushed, before it is recorded
/// or deleted; the file
/// holds the message as the server sent it, dot-unstuffed, with LF line
/// ends (as Dovecot, mpop and getmail store mail on Unix), nothing added.
/// A message whose file is already in new/ or cur/ is not delivered again,
/// so the Maildir never gets a message twice, even after a crash or with
/// the state file lost. Otherwise as mailtls_pop3_sync().
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_sync_maildir(
    pop3: *mut mailtls_pop3,
    options: *const mailtls_sync_options,
    maildir: *const c_char,
    report_out: *mut *mut mailtls_sync_report,
) -> mailtls_result {
    run_sync(pop3, options, report_out, || {
        // SAFETY: NULL or a NUL-terminated string.
        Ok(Target::Maildir(unsafe { arg_str(maildir, "maildir") }?))
    })
}

/// Download what is new on the server into `callback` (see
/// mailtls_sync_message_callback), record it in the state file, delete on
/// the server as the options' retention says, and end the session with
/// QUIT (which is when POP3 deletes). The handle must be connected and
/// logged in.
///
/// The guarantees: (1) nothing is lost: a message is deleted on the server
/// only after the destination has it durably (the callback returned 0 on
/// END) and its UID is flushed to the state file; killing the process at
/// any moment, or a dropped connection at any byte, leaves every message on
/// the server or saved, or both. Work goes in batches (at most 512 messages
/// or 16 MiB): deliver, flush, record, then delete. (2) Delivery to a
/// callback is at least once, with the UID to de-duplicate by (a Maildir
/// never gets a message twice). (3) The state file is appended to and
/// flushed, compacted by writing a new file and renaming it, survives a
/// torn last record, and is locked: a second sync of the same state fails
/// at once with MAILTLS_RESULT_STATE_LOCKED; a state that cannot be read is
/// MAILTLS_RESULT_STATE_CORRUPT, never "everything is new". (4) A known UID
/// whose size changed is downloaded again as a new message; a listing with
/// a UID twice is refused (PROTOCOL_ERROR, nothing done); a server without
/// UIDL works only with MAILTLS_RETENTION_DELETE_AFTER_SAVING
/// (MAILTLS_RESULT_UIDL_UNAVAILABLE otherwise). (5) Messages stream to the
/// destination: memory holds the listing and the state, never a whole
/// message.
///
/// On success `*report_out` gets the report, which the caller frees with
/// mailtls_sync_report_free(). When the sync started and then failed, the
/// report of what it did until then is written too, and the connection is
/// closed without QUIT, so nothing more is deleted; when it did not start
/// (a NULL or invalid argument, not connected, a Maildir that cannot be
/// opened, a busy handle) `*report_out` is set to NULL. Results: STATE_LOCKED, STATE_CORRUPT,
/// UIDL_UNAVAILABLE, FILE_ERROR (the state or the Maildir could not be
/// written, e.g. a full disk), CANCELLED (a callback returned non-zero),
/// and the network, server and protocol results of the other calls.
/// MAILTLS_RESULT_INVALID_ARGUMENT if the options have no state file.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_pop3_sync(
    pop3: *mut mailtls_pop3,
    options: *const mailtls_sync_options,
    callback: mailtls_sync_message_callback,
    userdata: *mut c_void,
    report_out: *mut *mut mailtls_sync_report,
) -> mailtls_result {
    run_sync(pop3, options, report_out, || {
        let callback = callback.ok_or(Failure::Null("callback"))?;
        Ok(Target::Callback(CallbackDestination { callback, userdata, uid: None, size: 0 }))
    })
}

/// Where a sync from C saves: checked with the other arguments, opened only
/// once the handle is known to be connected.
enum Target<'a> {
    Maildir(&'a str),
    Callback(CallbackDestination),
}

/// The two sync calls: arguments checked (`target` included) before the
/// connection, the report written whenever the sync ran.
fn run_sync<'a>(
    pop3: *mut mailtls_pop3,
    options: *const mailtls_sync_options,
    report_out: *mut *mut mailtls_sync_report,
    target: impl FnOnce() -> FfiResult<Target<'a>>,
) -> mailtls_result {
    // A sync that does not start leaves NULL, not a stale pointer, even
    // when the handle itself is NULL or busy.
    if let Some(out) = super::arguments::optional_out(report_out) {
        out.write(std::ptr::null_mut());
    }
    with_handle(pop3, |h| {
        let report_out = out!(report_out)?;
        if options.is_null() {
            return Err(Failure::Null("options"));
        }
        let (sync_options, progress) =
            read_handle(options, |o| (o.inner.clone(), o.progress)).ok_or(Failure::Busy("options"))?;
        if sync_options.state.as_os_str().is_empty() {
            return Err(invalid("no state file: call mailtls_sync_options_set_state_file first"));
        }
        let target = target()?;
        let client = h.client()?;
        let mut destination: Box<dyn Destination> = match target {
            Target::Maildir(path) => Box::new(Maildir::open(Path::new(path))?),
            Target::Callback(callback) => Box::new(callback),
        };
        let mut tick = progress.map(|p| {
            move |now: Progress| {
                // SAFETY: the caller's callback, with its own userdata.
                let rc = unsafe {
                    (p.callback)(p.userdata, now.done_messages, now.total_messages, now.done_bytes, now.total_bytes)
                };
                if rc == 0 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
            }
        });
        let progress_fn = tick.as_mut().map(|t| t as &mut dyn FnMut(Progress) -> ControlFlow<()>);
        match client.sync(&sync_options, destination.as_mut(), progress_fn) {
            Ok(report) => {
                report_out.write(mailtls_sync_report::into_raw(report));
                Ok(())
            }
            Err(SyncError { error, report }) => {
                report_out.write(mailtls_sync_report::into_raw(*report));
                Err(Failure::Core(error))
            }
        }
    })
}

/// The C callback as a sync destination.
struct CallbackDestination {
    callback: unsafe extern "C" fn(*mut c_void, mailtls_sync_event, *const c_char, u64, *const u8, usize) -> c_int,
    userdata: *mut c_void,
    /// The message under way.
    uid: Option<CString>,
    size: u64,
}

impl CallbackDestination {
    fn call(&mut self, event: mailtls_sync_event, data: &[u8]) -> c_int {
        let uid = self.uid.as_ref().map_or(std::ptr::null(), |u| u.as_ptr());
        let data_ptr = if data.is_empty() { std::ptr::null() } else { data.as_ptr() };
        // SAFETY: the caller's callback with its own userdata; the pointers
        // are valid for the call.
        unsafe { (self.callback)(self.userdata, event, uid, self.size, data_ptr, data.len()) }
    }

    fn expect_zero(&mut self, event: mailtls_sync_event, data: &[u8]) -> Result<()> {
        if self.call(event, data) == 0 { Ok(()) } else { Err(Error::Cancelled) }
    }
}

impl Destination for CallbackDestination {
    fn begin(&mut self, uid: Option<&str>, size: u64) -> Result<()> {
        // UIDL ids are printable ASCII (RFC 1939), so never hold a NUL.
        self.uid = uid.map(|u| to_cstring(u.to_string()));
        self.size = size;
        self.expect_zero(MAILTLS_SYNC_EVENT_BEGIN, &[])
    }
    fn data(&mut self, chunk: &[u8]) -> Result<()> {
        self.expect_zero(MAILTLS_SYNC_EVENT_DATA, chunk)
    }
    fn end(&mut self) -> Result<()> {
        self.expect_zero(MAILTLS_SYNC_EVENT_END, &[])
    }
    fn abandon(&mut self) {
        self.call(MAILTLS_SYNC_EVENT_ABANDON, &[]);
    }
}

/// What happened to one message of a sync: one of the
/// MAILTLS_SYNC_OUTCOME_* constants.
pub type mailtls_sync_outcome = u32;

/// Not a message of the report (index out of range, or a NULL report).
pub const MAILTLS_SYNC_OUTCOME_NONE: mailtls_sync_outcome = 0;
/// Downloaded and saved by this sync.
pub const MAILTLS_SYNC_OUTCOME_DOWNLOADED: mailtls_sync_outcome = 1;
/// Saved before (by the state file, or found in the Maildir).
pub const MAILTLS_SYNC_OUTCOME_ALREADY_HAD: mailtls_sync_outcome = 2;
/// Larger than the options' max_message_bytes: not downloaded, never
/// deleted.
pub const MAILTLS_SYNC_OUTCOME_TOO_LARGE: mailtls_sync_outcome = 3;
/// Recorded as saved without downloading (mark-seen).
pub const MAILTLS_SYNC_OUTCOME_MARKED_SEEN: mailtls_sync_outcome = 4;
/// The server refused to send it (deleted by another client since the
/// listing, or an error of the server's): not saved, not recorded, not
/// deleted; the next sync tries again.
pub const MAILTLS_SYNC_OUTCOME_UNAVAILABLE: mailtls_sync_outcome = 5;

/// The result of a sync: totals, and one entry per message of the
/// server's listing, in the order the sync went through them (not message
/// order). Free with mailtls_sync_report_free(). Read-only: may be read
/// from several threads at once.
pub struct mailtls_sync_report {
    report: SyncReport,
    uids: Vec<Option<CString>>,
}

impl mailtls_sync_report {
    fn into_raw(report: SyncReport) -> *mut mailtls_sync_report {
        let uids = report.messages.iter().map(|m| m.uid.clone().map(to_cstring)).collect();
        Box::into_raw(Box::new(mailtls_sync_report { report, uids }))
    }

    fn get<'a>(report: *const mailtls_sync_report) -> Option<&'a mailtls_sync_report> {
        // SAFETY: NULL or a live report; the borrow ends before the
        // caller frees it (the caller's contract).
        unsafe { report.as_ref() }
    }

    fn total(report: *const mailtls_sync_report, pick: fn(&SyncReport) -> u64) -> u64 {
        guard_or(0, || Self::get(report).map_or(0, |r| pick(&r.report)))
    }
}

/// Messages downloaded and saved by the sync; 0 for a NULL report.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_downloaded(report: *const mailtls_sync_report) -> u64 {
    mailtls_sync_report::total(report, |r| r.downloaded)
}

/// Messages the destination already had (by the state, or in the Maildir).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_already_had(report: *const mailtls_sync_report) -> u64 {
    mailtls_sync_report::total(report, |r| r.already_had)
}

/// Messages skipped as larger than the size limit.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_too_large(report: *const mailtls_sync_report) -> u64 {
    mailtls_sync_report::total(report, |r| r.too_large)
}

/// Messages recorded as seen without downloading (mark-seen).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_marked_seen(report: *const mailtls_sync_report) -> u64 {
    mailtls_sync_report::total(report, |r| r.marked_seen)
}

/// Messages the server refused to send (MAILTLS_SYNC_OUTCOME_UNAVAILABLE).
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_unavailable(report: *const mailtls_sync_report) -> u64 {
    mailtls_sync_report::total(report, |r| r.unavailable)
}

/// Messages deleted on the server: counted only once the server answered
/// +OK to QUIT, which is when POP3 deletes.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_deleted(report: *const mailtls_sync_report) -> u64 {
    mailtls_sync_report::total(report, |r| r.deleted)
}

/// Bytes downloaded, as the server sent them.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_bytes(report: *const mailtls_sync_report) -> u64 {
    mailtls_sync_report::total(report, |r| r.bytes)
}

/// The number of per-message entries; 0 for a NULL report.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_count(report: *const mailtls_sync_report) -> usize {
    guard(|| mailtls_sync_report::get(report).map_or(0, |r| r.report.messages.len()))
}

/// The unique id of entry `index` (0-based), a NUL-terminated string owned
/// by the report (valid until mailtls_sync_report_free()); NULL from a
/// server without UIDL, or when out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_uid(report: *const mailtls_sync_report, index: usize) -> *const c_char {
    guard(|| {
        mailtls_sync_report::get(report)
            .and_then(|r| r.uids.get(index))
            .and_then(|uid| uid.as_ref())
            .map_or(std::ptr::null(), |uid| uid.as_ptr())
    })
}

/// The size (by LIST) of entry `index`; 0 when out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_size(report: *const mailtls_sync_report, index: usize) -> u64 {
    guard_or(0, || mailtls_sync_report::get(report).and_then(|r| r.report.messages.get(index)).map_or(0, |m| m.size))
}

/// The outcome of entry `index` (MAILTLS_SYNC_OUTCOME_*);
/// MAILTLS_SYNC_OUTCOME_NONE when out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_outcome(
    report: *const mailtls_sync_report,
    index: usize,
) -> mailtls_sync_outcome {
    guard_or(MAILTLS_SYNC_OUTCOME_NONE, || {
        mailtls_sync_report::get(report)
            .and_then(|r| r.report.messages.get(index))
            .map_or(MAILTLS_SYNC_OUTCOME_NONE, |m| outcome_code(m.outcome))
    })
}

/// Whether entry `index` was deleted on the server (the server confirmed
/// with +OK to QUIT); false when out of range.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_deleted_at(report: *const mailtls_sync_report, index: usize) -> bool {
    guard(|| mailtls_sync_report::get(report).and_then(|r| r.report.messages.get(index)).is_some_and(|m| m.deleted))
}

/// Free a report. NULL is ignored. Must not be called twice.
#[unsafe(no_mangle)]
pub extern "C" fn mailtls_sync_report_free(report: *mut mailtls_sync_report) {
    free_boxed(report)
}

fn outcome_code(outcome: Outcome) -> mailtls_sync_outcome {
    match outcome {
        Outcome::Downloaded => MAILTLS_SYNC_OUTCOME_DOWNLOADED,
        Outcome::AlreadyHad => MAILTLS_SYNC_OUTCOME_ALREADY_HAD,
        Outcome::TooLarge => MAILTLS_SYNC_OUTCOME_TOO_LARGE,
        Outcome::MarkedSeen => MAILTLS_SYNC_OUTCOME_MARKED_SEEN,
        Outcome::Unavailable => MAILTLS_SYNC_OUTCOME_UNAVAILABLE,
    }
}
