//! Deciding, from the listing and the state, what a sync does with each
//! message on the server.

use std::collections::HashSet;
use std::time::Duration;

use super::state::Record;
use crate::error::{Error, Result};

/// What to do with messages once this client has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// Never delete anything on the server.
    #[default]
    LeaveOnServer,
    /// Delete each message once it is saved (and recorded).
    DeleteAfterSaving,
    /// Delete a saved message once this long has passed since this client
    /// first saw its UID (by the state's record, on the wall clock).
    DeleteAfter(Duration),
}

impl Retention {
    /// Whether a message is deleted in the same sync that saves it.
    pub(crate) fn deletes_when_saved(self) -> bool {
        match self {
            Retention::LeaveOnServer => false,
            Retention::DeleteAfterSaving => true,
            Retention::DeleteAfter(keep) => keep.is_zero(),
        }
    }

    /// Whether a UID can be done without: only delete-after-saving needs
    /// no memory of what is left on the server.
    pub(crate) fn needs_uids(self) -> bool {
        self != Retention::DeleteAfterSaving
    }
}

/// One message of the server's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub number: u32,
    /// None only from a server without UIDL.
    pub uid: Option<String>,
    pub size: u64,
}

/// What the sync does with one listed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Saved before: leave it.
    Keep,
    /// Saved before and due for deletion.
    Delete,
    /// New (or its size changed): download it.
    Fetch,
    /// New but over the size limit: leave it, report it.
    TooLarge,
    /// New, but to be recorded as saved without downloading.
    MarkSeen,
}

/// How a sync was asked to treat the mailbox.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub retention: Retention,
    pub max_message_bytes: Option<u64>,
    pub mark_seen_only: bool,
    /// Now, in Unix seconds.
    pub now: u64,
}

/// Refuse a listing that names a UID twice: which of the two a record
/// meant would be a guess, and a wrong guess deletes the wrong message.
pub(crate) fn check_unique(listing: &[Listed]) -> Result<()> {
    let mut seen = HashSet::with_capacity(listing.len());
    let mut numbers = HashSet::with_capacity(listing.len());
    for m in listing {
        // One number under two UIDs would save one message's content as
        // two, and delete by the wrong record.
        if !numbers.insert(m.number) {
            return Err(Error::Protocol(format!(
                "the server lists message {} twice, so messages cannot be told apart; nothing was downloaded or deleted",
                m.number
            )));
        }
        if let Some(uid) = &m.uid
            && !seen.insert(uid.as_str())
        {
            return Err(Error::Protocol(format!(
                "the server gives the unique id {uid:?} to two messages (UIDL), so messages cannot be told apart; nothing was downloaded or deleted"
            )));
        }
    }
    Ok(())
}

/// The action for each message of `listing`, in order. `known` is the
/// state's record of a UID.
pub(crate) fn plan(listing: &[Listed], known: impl Fn(&str) -> Option<Record>, rules: &Rules) -> Vec<Action> {
    listing.iter().map(|m| action(m, m.uid.as_deref().and_then(&known), rules)).collect()
}

fn action(m: &Listed, record: Option<Record>, rules: &Rules) -> Action {
    // A known UID with another size is another message: the record says
    // nothing about it, so it is never deleted on the record's strength.
    match record.filter(|r| r.size == m.size) {
        Some(_) if rules.mark_seen_only => Action::Keep,
        Some(record) => match rules.retention {
            Retention::LeaveOnServer => Action::Keep,
            Retention::DeleteAfterSaving => Action::Delete,
            Retention::DeleteAfter(keep) => {
                let due = record.first_seen.saturating_add(keep.as_secs());
                if rules.now >= due { Action::Delete } else { Action::Keep }
            }
        },
        None if rules.mark_seen_only => Action::MarkSeen,
        None if rules.max_message_bytes.is_some_and(|max| m.size > max) => Action::TooLarge,
        None => Action::Fetch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn listed(number: u32, uid: &str, size: u64) -> Listed {
        Listed { number, uid: Some(uid.to_string()), size }
    }

    fn rules(retention: Retention) -> Rules {
        Rules { retention, max_message_bytes: None, mark_seen_only: false, now: 10 * DAY }
    }

    fn known(uid: &str) -> Option<Record> {
        match uid {
            "old" => Some(Record { size: 100, first_seen: 2 * DAY }),
            "recent" => Some(Record { size: 100, first_seen: 9 * DAY }),
            _ => None,
        }
    }

    fn listing() -> Vec<Listed> {
        vec![listed(1, "old", 100), listed(2, "recent", 100), listed(3, "new", 5000), listed(4, "old2", 100)]
    }

    #[test]
    fn leave_on_server_fetches_only_new_messages() {
        let actions = plan(&listing(), known, &rules(Retention::LeaveOnServer));
        assert_eq!(actions, [Action::Keep, Action::Keep, Action::Fetch, Action::Fetch]);
    }

    #[test]
    fn delete_after_saving_deletes_what_is_saved() {
        let actions = plan(&listing(), known, &rules(Retention::DeleteAfterSaving));
        assert_eq!(actions, [Action::Delete, Action::Delete, Action::Fetch, Action::Fetch]);
        assert!(Retention::DeleteAfterSaving.deletes_when_saved());
        assert!(!Retention::LeaveOnServer.deletes_when_saved());
    }

    #[test]
    fn delete_after_days_counts_from_the_first_sighting() {
        let week = Retention::DeleteAfter(Duration::from_secs(7 * DAY));
        assert_eq!(plan(&listing(), known, &rules(week)), [Action::Delete, Action::Keep, Action::Fetch, Action::Fetch]);
        let exactly_due = Rules { now: 9 * DAY, ..rules(week) };
        assert_eq!(plan(&listing(), known, &exactly_due)[0], Action::Delete);
        let not_yet = Rules { now: 9 * DAY - 1, ..rules(week) };
        assert_eq!(plan(&listing(), known, &not_yet)[0], Action::Keep);
        assert!(Retention::DeleteAfter(Duration::ZERO).deletes_when_saved());
        assert!(!week.deletes_when_saved());
    }

    #[test]
    fn a_known_uid_with_another_size_is_new_and_never_deleted_on_the_old_record() {
        let changed = [listed(1, "old", 101)];
        for retention in
            [Retention::LeaveOnServer, Retention::DeleteAfterSaving, Retention::DeleteAfter(Duration::ZERO)]
        {
            assert_eq!(plan(&changed, known, &rules(retention)), [Action::Fetch], "{retention:?}");
        }
    }

    #[test]
    fn too_large_and_mark_seen() {
        let limited = Rules { max_message_bytes: Some(4999), ..rules(Retention::DeleteAfterSaving) };
        assert_eq!(plan(&listing(), known, &limited)[2], Action::TooLarge);
        let at_limit = Rules { max_message_bytes: Some(5000), ..limited };
        assert_eq!(plan(&listing(), known, &at_limit)[2], Action::Fetch);
        let mark = Rules { mark_seen_only: true, ..limited };
        assert_eq!(
            plan(&listing(), known, &mark),
            [Action::Keep, Action::Keep, Action::MarkSeen, Action::MarkSeen],
            "marking deletes nothing and is not held to the size limit"
        );
    }

    #[test]
    fn duplicate_uids_are_refused() {
        assert!(check_unique(&listing()).is_ok());
        let twice = [listed(1, "a", 1), listed(2, "b", 1), listed(3, "a", 2)];
        match check_unique(&twice) {
            Err(Error::Protocol(message)) => assert!(message.contains("\"a\""), "{message}"),
            other => panic!("{other:?}"),
        }
        let without_uids = [Listed { number: 1, uid: None, size: 1 }, Listed { number: 2, uid: None, size: 1 }];
        assert!(check_unique(&without_uids).is_ok());
        let number_twice = [listed(1, "a", 1), listed(1, "b", 1)];
        match check_unique(&number_twice) {
            Err(Error::Protocol(message)) => assert!(message.contains("message 1 twice"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
