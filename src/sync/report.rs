//! What a sync did: per message, and in totals; and the error that ended a
//! sync early, with the report of what it did until then.

use crate::error::Error;

/// What happened to one message of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Downloaded and saved in this sync.
    Downloaded,
    /// Saved before (by the state, or found at the destination).
    AlreadyHad,
    /// Over the size limit: not downloaded, never deleted.
    TooLarge,
    /// Recorded as saved without downloading (mark-seen).
    MarkedSeen,
    /// The server refused to send it — deleted by another client since the
    /// listing, or a server error: not saved, not recorded, tried again
    /// next sync.
    Unavailable,
}

/// One message of the listing and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReport {
    /// None only from a server without UIDL.
    pub uid: Option<String>,
    /// The size the server gave (LIST).
    pub size: u64,
    pub outcome: Outcome,
    /// Deleted on the server: only once the server answered +OK to QUIT,
    /// which is when POP3 deletes.
    pub deleted: bool,
}

/// The totals and the per-message outcomes of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub downloaded: u64,
    pub already_had: u64,
    pub too_large: u64,
    pub marked_seen: u64,
    /// Refused by the server (see [`Outcome::Unavailable`]).
    pub unavailable: u64,
    /// Deleted on the server, counted after the +OK to QUIT only.
    pub deleted: u64,
    /// Bytes downloaded (as the server sent them).
    pub bytes: u64,
    /// In the order the sync went through them (not message order).
    pub messages: Vec<MessageReport>,
}

impl SyncReport {
    pub(crate) fn add(&mut self, uid: Option<&str>, size: u64, outcome: Outcome) {
        match outcome {
            Outcome::Downloaded => self.downloaded += 1,
            Outcome::AlreadyHad => self.already_had += 1,
            Outcome::TooLarge => self.too_large += 1,
            Outcome::MarkedSeen => self.marked_seen += 1,
            Outcome::Unavailable => self.unavailable += 1,
        }
        self.messages.push(MessageReport { uid: uid.map(str::to_string), size, outcome, deleted: false });
    }
}

/// Progress of the downloads, for a progress bar: the totals count the
/// messages the sync means to download (new ones) and their LIST sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done_messages: u64,
    pub total_messages: u64,
    pub done_bytes: u64,
    pub total_bytes: u64,
}

/// A sync that stopped on an error, with what it did before. Whatever the
/// error, every message is on the server or saved (or both); the report's
/// `deleted` counts only deletions the server confirmed.
#[derive(Debug)]
pub struct SyncError {
    pub error: Error,
    pub report: Box<SyncReport>,
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SyncError> for Error {
    fn from(e: SyncError) -> Error {
        e.error
    }
}
