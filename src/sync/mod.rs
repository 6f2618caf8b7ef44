//! Safe mailbox download: [`Pop3Client::sync`] downloads what is new on
//! the server into a [`Destination`] (a [`Maildir`], or the caller's own),
//! remembers what it has in a state file, and deletes on the server only
//! what is safely saved.
//!
//! The guarantees:
//! 1. Nothing is lost. A message is deleted on the server only after it is
//!    durable at the destination (Maildir: file flushed, renamed into new/,
//!    new/ flushed; another destination: its `end` and `flush` returned
//!    Ok) and its UID is durable in the state. Work goes in batches:
//!    deliver the batch, flush the destination once, append the batch's
//!    records and flush the state once, only then DELE the batch. A sync
//!    that fails closes the connection without QUIT, so it deletes nothing.
//! 2. No duplicates in a Maildir, even after a crash between saving and
//!    recording or with the state file lost: file names come from the UID
//!    and size, and a message already in new/ or cur/ is not delivered
//!    again. Other destinations get each message at least once, with its
//!    UID, to de-duplicate by.
//! 3. The state file is appended to and flushed per batch, compacted by
//!    rewriting (temporary file, flush, rename, directory flush), survives
//!    a torn last batch, is locked (a second sync of it fails at once with
//!    [`Error::StateLocked`]); a state that cannot be read is
//!    [`Error::StateCorrupt`], never "everything is new".
//! 4. UIDs are not trusted blindly: a known UID with another size is a new
//!    message; a listing with a UID twice is refused; without UIDL only
//!    delete-after-saving works ([`Error::UidlUnavailable`] otherwise).
//! 5. Messages stream to the destination; memory holds the listing and the
//!    state, never the mailbox's messages.

mod lock;
mod maildir;
mod plan;
mod report;
mod state;

pub use maildir::Maildir;
pub use plan::Retention;
pub use report::{MessageReport, Outcome, Progress, SyncError, SyncReport};

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::pop3::{Part, Pop3Client, RETR_BATCH_BUDGET};
use crate::session::Client;
use plan::{Action, Listed, Rules, check_unique, plan};
use state::{Record, State};

/// Where a sync saves messages. A message is `begin`, `data` (in chunks,
/// CRLF line ends as the server sent them, dot-unstuffed), `end`; or
/// `abandon` if the transfer fails part-way. It counts as saved once `end`
/// and then `flush` returned Ok.
pub trait Destination {
    /// The account the sync is for: a short tag, the same for every sync
    /// of one state file. A destination that several accounts may share
    /// keeps their messages apart by it (UIDs are unique only within one
    /// mailbox). Called once, before anything else.
    fn set_account(&mut self, _account: &str) {}
    /// Whether the message is already saved there (for destinations that
    /// can tell, which makes delivery idempotent). A destination that says
    /// yes must have it durably once `flush` returns Ok.
    fn contains(&mut self, _uid: &str, _size: u64) -> Result<bool> {
        Ok(false)
    }
    /// A message starts. `uid` is None only from a server without UIDL;
    /// `size` is the size the server announced (LIST).
    fn begin(&mut self, uid: Option<&str>, size: u64) -> Result<()>;
    fn data(&mut self, chunk: &[u8]) -> Result<()>;
    /// The message is complete: store it.
    fn end(&mut self) -> Result<()>;
    /// The message begun will not be completed: drop what was written.
    fn abandon(&mut self) {}
    /// Make every message ended (or found by `contains`) since the last
    /// flush durable. Called once per batch, before any of them is recorded
    /// or deleted.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// How to sync an account.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The account's state file (created on the first sync). One per
    /// account; a lock file beside it, `<state>.lock`, keeps two syncs apart.
    pub state: PathBuf,
    pub retention: Retention,
    /// Messages larger than this (by LIST) are skipped and reported, and
    /// never deleted.
    pub max_message_bytes: Option<u64>,
    /// Record every message now on the server as saved, download nothing
    /// (an account added to a program that already has its mail).
    pub mark_seen_only: bool,
    /// The time to count [`Retention::DeleteAfter`] with: None for the wall
    /// clock.
    pub now: Option<SystemTime>,
}

impl SyncOptions {
    /// Leave on server, no size limit, download.
    pub fn new(state: impl Into<PathBuf>) -> SyncOptions {
        SyncOptions {
            state: state.into(),
            retention: Retention::default(),
            max_message_bytes: None,
            mark_seen_only: false,
            now: None,
        }
    }
}

/// Most messages in one batch (see guarantee 1 of the module).
const BATCH_MESSAGES: usize = 512;
/// Most bytes (by LIST) in one batch beyond a single larger message: what a
/// crash can make a sync download again.
const BATCH_BYTES: u64 = RETR_BATCH_BUDGET;
/// Progress is reported after each message, and within one every this
/// many bytes.
const PROGRESS_STEP: u64 = 256 * 1024;

/// The progress callback: `Break` cancels the sync.
pub type ProgressFn<'a> = &'a mut dyn FnMut(Progress) -> ControlFlow<()>;

impl Pop3Client {
    /// Download what is new into `destination`, record it in the state
    /// file, delete on the server as `options.retention` says, and end the
    /// session with QUIT (which is when POP3 deletes). See the module for
    /// the guarantees. On an error the connection is closed without QUIT,
    /// so nothing is deleted, and the error comes with the report of what
    /// was saved until then.
    pub fn sync(
        &mut self,
        options: &SyncOptions,
        destination: &mut dyn Destination,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<SyncReport, SyncError> {
        let mut run = Run {
            destination,
            progress,
            report: SyncReport::default(),
            done: Progress { done_messages: 0, total_messages: 0, done_bytes: 0, total_bytes: 0 },
            deleting: Vec::new(),
        };
        match run.sync(self, options) {
            Ok(()) => Ok(run.report),
            Err(error) => {
                self.session_mut().close();
                Err(SyncError { error, report: Box::new(run.report) })
            }
        }
    }
}

/// One sync under way.
struct Run<'d, 'p> {
    destination: &'d mut dyn Destination,
    progress: Option<ProgressFn<'p>>,
    report: SyncReport,
    done: Progress,
    /// The report entries of messages sent DELE, confirmed by QUIT.
    deleting: Vec<usize>,
}

impl Run<'_, '_> {
    fn sync(&mut self, client: &mut Pop3Client, options: &SyncOptions) -> Result<()> {
        let now = options.now.unwrap_or_else(SystemTime::now);
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut state = State::open(&options.state)?;
        self.destination.set_account(&account_tag(&options.state));
        let listing = listing(client, options)?;
        check_unique(&listing)?;
        let rules = Rules {
            retention: options.retention,
            max_message_bytes: options.max_message_bytes,
            mark_seen_only: options.mark_seen_only,
            now,
        };
        let actions = plan(&listing, |uid| state.get(uid).copied(), &rules);

        let mut marked = Vec::new();
        let mut deletions = Vec::new();
        let mut fetches = Vec::new();
        for (m, action) in listing.iter().zip(&actions) {
            let uid = m.uid.as_deref();
            match action {
                Action::Keep => self.report.add(uid, m.size, Outcome::AlreadyHad),
                Action::Delete => {
                    self.deleting.push(self.report.messages.len());
                    self.report.add(uid, m.size, Outcome::AlreadyHad);
                    deletions.push(m.number);
                }
                Action::TooLarge => self.report.add(uid, m.size, Outcome::TooLarge),
                Action::MarkSeen => {
                    self.report.add(uid, m.size, Outcome::MarkedSeen);
                    marked
                        .push((m.uid.clone().expect("mark-seen needs UIDs"), Record { size: m.size, first_seen: now }));
                }
                Action::Fetch => fetches.push(m),
            }
        }
        state.append(&marked)?;
        if !deletions.is_empty() {
            client.dele_many(&deletions)?;
        }

        self.done.total_messages = fetches.len() as u64;
        self.done.total_bytes = fetches.iter().map(|m| m.size).sum();
        self.tick()?;
        for batch in batches(&fetches) {
            self.fetch_batch(client, &mut state, batch, now, options.retention)?;
        }

        self.quit(client)?;
        // Records of messages no longer on the server go; those whose
        // deletion the server has not confirmed stay.
        let deleted: HashSet<&str> =
            self.report.messages.iter().filter(|r| r.deleted).filter_map(|r| r.uid.as_deref()).collect();
        let live: HashSet<&str> =
            listing.iter().filter_map(|m| m.uid.as_deref()).filter(|uid| !deleted.contains(uid)).collect();
        if state.would_compact(|uid| live.contains(uid)) {
            state.compact(|uid| live.contains(uid))?;
        }
        Ok(())
    }

    /// Deliver one batch, flush the destination, record the batch, flush
    /// the state, and only then (if the retention says so) DELE it.
    fn fetch_batch(
        &mut self,
        client: &mut Pop3Client,
        state: &mut State,
        batch: &[&Listed],
        now: u64,
        retention: Retention,
    ) -> Result<()> {
        // Saved messages, with their report entries.
        let mut saved: Vec<(usize, &Listed)> = Vec::new();
        let mut to_download: Vec<&Listed> = Vec::new();
        for &m in batch {
            match &m.uid {
                Some(uid) if self.destination.contains(uid, m.size)? => {
                    saved.push((self.report.messages.len(), m));
                    self.report.add(Some(uid), m.size, Outcome::AlreadyHad);
                    self.done.done_messages += 1;
                    self.done.done_bytes += m.size;
                    self.tick()?;
                }
                _ => to_download.push(m),
            }
        }
        let downloaded = self.download(client, &to_download, &mut saved);

        let records: Vec<(String, Record)> = saved
            .iter()
            .filter_map(|(_, m)| m.uid.clone().map(|uid| (uid, Record { size: m.size, first_seen: now })))
            .collect();
        let recorded = self.destination.flush().and_then(|_| state.append(&records));
        // A failed download still records what came whole before it (so it
        // is not downloaded again), but deletes nothing.
        downloaded?;
        recorded?;
        if retention.deletes_when_saved() && !saved.is_empty() {
            let numbers: Vec<u32> = saved.iter().map(|(_, m)| m.number).collect();
            client.dele_many(&numbers)?;
            self.deleting.extend(saved.iter().map(|(entry, _)| *entry));
        }
        Ok(())
    }

    /// RETR the messages, pipelined, streaming each into the destination;
    /// those that arrive whole are added to `saved`. A message the server
    /// refuses (deleted by another client since the listing, say) is
    /// reported [`Outcome::Unavailable`] and the others go on: it is not
    /// saved, so neither recorded nor deleted, and the next sync tries it
    /// again.
    fn download<'l>(
        &mut self,
        client: &mut Pop3Client,
        messages: &[&'l Listed],
        saved: &mut Vec<(usize, &'l Listed)>,
    ) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let numbers: Vec<u32> = messages.iter().map(|m| m.number).collect();
        // Messages come in the order asked for (each at most once), so
        // those before the one arriving that did not come were refused.
        let mut next = 0;
        let mut current: Option<u32> = None;
        let mut received = 0u64;
        let mut reported = 0u64;
        let mut failure = None;
        let destination = &mut *self.destination;
        let report = &mut self.report;
        let done = &mut self.done;
        let progress = &mut self.progress;
        let r = client.retr_many_skipping_refused(&numbers, &mut |number, part| {
            let step = (|| -> Result<()> {
                if current != Some(number) {
                    while messages[next].number != number {
                        unavailable(report, done, messages[next]);
                        next += 1;
                    }
                    next += 1;
                    let m = messages[next - 1];
                    destination.begin(m.uid.as_deref(), m.size)?;
                    current = Some(number);
                    received = 0;
                    reported = 0;
                }
                let m = messages[next - 1];
                match part {
                    Part::Data(chunk) => {
                        destination.data(chunk)?;
                        received += chunk.len() as u64;
                        report.bytes += chunk.len() as u64;
                        if received - reported >= PROGRESS_STEP {
                            reported = received;
                            let within = Progress { done_bytes: done.done_bytes + received.min(m.size), ..*done };
                            tick(progress, within)?;
                        }
                    }
                    Part::End => {
                        destination.end()?;
                        current = None;
                        saved.push((report.messages.len(), m));
                        report.add(m.uid.as_deref(), m.size, Outcome::Downloaded);
                        done.done_messages += 1;
                        done.done_bytes += m.size;
                        tick(progress, *done)?;
                    }
                }
                Ok(())
            })();
            match step {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        if current.is_some() {
            self.destination.abandon();
        }
        match (r, failure) {
            (_, Some(e)) => Err(e),
            // Refusals only: the messages after the last one that came.
            (Err(Error::Server(_)), None) => {
                for &m in &messages[next..] {
                    unavailable(&mut self.report, &mut self.done, m);
                }
                self.tick()
            }
            (r, None) => r,
        }
    }

    fn tick(&mut self) -> Result<()> {
        tick(&mut self.progress, self.done)
    }

    /// QUIT. If deletions were sent, they count only once it is answered
    /// +OK (that is when POP3 deletes), and a failed QUIT is the sync's
    /// error; otherwise nothing hangs on the answer.
    fn quit(&mut self, client: &mut Pop3Client) -> Result<()> {
        let r = client.quit();
        if self.deleting.is_empty() {
            return Ok(());
        }
        r?;
        for &i in &self.deleting {
            self.report.messages[i].deleted = true;
        }
        self.report.deleted = self.deleting.len() as u64;
        Ok(())
    }
}

/// A message the server refused to send: reported, and done with for this
/// sync (the progress counts it, so a progress bar still reaches its end).
fn unavailable(report: &mut SyncReport, done: &mut Progress, m: &Listed) {
    report.add(m.uid.as_deref(), m.size, Outcome::Unavailable);
    done.done_messages += 1;
    done.done_bytes += m.size;
}

fn tick(progress: &mut Option<ProgressFn<'_>>, now: Progress) -> Result<()> {
    match progress.as_mut().map(|p| p(now)) {
        Some(ControlFlow::Break(())) => Err(Error::Cancelled),
        _ => Ok(()),
    }
}

/// The tag of the account a state file is for: the first 8 hex digits of
/// the SHA-256 of its absolute path, so the same whatever the working
/// directory, and the same again for a state file lost and started anew.
fn account_tag(state: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    let absolute = std::path::absolute(state).unwrap_or_else(|_| state.to_path_buf());
    let digest = Sha256::digest(absolute.as_os_str().as_encoded_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The fetches cut into batches of at most [`BATCH_MESSAGES`] and
/// [`BATCH_BYTES`] (a batch has at least one message).
fn batches<'l, 'm>(fetches: &'l [&'m Listed]) -> impl Iterator<Item = &'l [&'m Listed]> {
    let mut rest = fetches;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0u64;
        let mut count = 0;
        for m in rest.iter().take(BATCH_MESSAGES) {
            if count > 0 && bytes.saturating_add(m.size) > BATCH_BYTES {
                break;
            }
            bytes = bytes.saturating_add(m.size);
            count += 1;
        }
        let (batch, tail) = rest.split_at(count);
        rest = tail;
        Some(batch)
    })
}

/// The mailbox: UIDL and LIST (pipelined). A server that refuses UIDL is
/// listed by LIST alone, which only delete-after-saving can work with.
fn listing(client: &mut Pop3Client, options: &SyncOptions) -> Result<Vec<Listed>> {
    match client.list_uidl() {
        Ok(entries) => entries
            .into_iter()
            .map(|e| {
                let size = e.octets.ok_or_else(|| {
                    Error::Protocol(format!("LIST does not name message {}, which UIDL does", e.number))
                })?;
                Ok(Listed { number: e.number, uid: e.uid, size })
            })
            .collect(),
        Err(Error::Server(refusal)) => {
            // UIDL or LIST refused: LIST alone tells which.
            let sizes = client.list()?;
            if options.retention.needs_uids() || options.mark_seen_only {
                return Err(Error::UidlUnavailable(refusal.text));
            }
            Ok(sizes.into_iter().map(|(number, size)| Listed { number, uid: None, size }).collect())
        }
        Err(e) => Err(e),
    }
}
