//! `mailtls fetch URL --maildir DIR`: the library's safe sync of a POP3
//! mailbox into a Maildir, with progress and a summary.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mailtls::pop3::Pop3Client;
use mailtls::sync::{Maildir, Outcome, Retention, SyncError, SyncOptions, SyncReport};
use mailtls::{Client, ClientOptions};

use crate::account::{Account, Protocol};
use crate::connect::{connect, password};
use crate::exit::{Exit, Failure};
use crate::sync_progress::SyncProgress;

/// What the command line asks of a fetch.
pub struct Request<'a> {
    pub maildir: &'a Path,
    pub state: Option<&'a Path>,
    pub delete: bool,
    pub keep_days: Option<u64>,
    pub max_size: Option<u64>,
    pub mark_seen: bool,
}

pub fn run(account: &Account, opts: &ClientOptions, request: &Request<'_>) -> Result<(), Failure> {
    if account.protocol != Protocol::Pop3 {
        return Err(Failure::usage("fetch works on a POP3 mailbox: give a pop3s:// or pop3:// URL"));
    }
    let Some(user) = &account.user else {
        return Err(Failure::usage("fetch needs the user in the URL: pop3s://USER@HOST"));
    };
    // Before connecting: a Maildir that cannot be made fails without a
    // server kept waiting.
    let mut maildir = Maildir::open(request.maildir)?;
    let state = match request.state {
        Some(path) => path.to_path_buf(),
        None => default_state(request.maildir, user, &account.host),
    };
    let options = SyncOptions {
        retention: retention(request),
        max_message_bytes: request.max_size,
        mark_seen_only: request.mark_seen,
        ..SyncOptions::new(state)
    };
    let password = password(account)?;
    let mut client: Pop3Client = connect(account, opts)?;
    client.login(user, &password, None)?;

    let mut progress = SyncProgress::on_stderr();
    let mut on_progress = |now| {
        progress.update(now);
        ControlFlow::Continue(())
    };
    let result = client.sync(&options, &mut maildir, Some(&mut on_progress));
    progress.finish();
    let (report, error) = match result {
        Ok(report) => (report, None),
        Err(SyncError { error, report }) => (*report, Some(error)),
    };
    let mut out = std::io::stdout().lock();
    let shown = match &error {
        None => print_summary(&mut out, &report),
        // An error that came before anything was done (a locked state, no
        // UIDL) is the whole story; otherwise what was saved stays saved.
        Some(_) if report.downloaded + report.marked_seen + report.deleted == 0 => Ok(()),
        Some(_) => writeln!(out, "stopped by an error; what was done until then stays done:")
            .and_then(|()| print_summary(&mut out, &report)),
    };
    shown.map_err(|e| Failure { exit: Exit::Other, message: format!("cannot write the summary: {e}") })?;
    match error {
        None => Ok(()),
        Some(error) => Err(error.into()),
    }
}

fn retention(request: &Request<'_>) -> Retention {
    match (request.delete, request.keep_days) {
        (true, _) => Retention::DeleteAfterSaving,
        (false, Some(days)) => Retention::DeleteAfter(Duration::from_secs(days * 86_400)),
        (false, None) => Retention::LeaveOnServer,
    }
}

/// `DIR/.mailtls-sync-USER@HOST`: one state per account (not per port:
/// pop3s:// and pop3:// reach the same mailbox), kept with the Maildir it
/// describes so that moving or removing the Maildir takes it along, and
/// hidden from Maildir readers by its leading dot. Several accounts can
/// share a Maildir, each with its own state.
pub fn default_state(maildir: &Path, user: &str, host: &str) -> PathBuf {
    maildir.join(format!(".mailtls-sync-{}@{}", file_name_part(user), file_name_part(&host.to_ascii_lowercase())))
}

/// Letters, digits and `-._+` as they are; any other byte (a '/', ':' of
/// an IPv6 address, '@' of a user name) as `%XX`, so the name is one
/// file name on every system.
fn file_name_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print_summary(out: &mut impl Write, report: &SyncReport) -> std::io::Result<()> {
    writeln!(out, "downloaded:   {} messages, {} bytes", report.downloaded, report.bytes)?;
    writeln!(out, "already had:  {}", report.already_had)?;
    if report.marked_seen > 0 {
        writeln!(out, "marked seen:  {} (recorded as saved, not downloaded)", report.marked_seen)?;
    }
    if report.too_large > 0 {
        writeln!(out, "too large:    {}, left on the server:", report.too_large)?;
        for m in report.messages.iter().filter(|m| m.outcome == Outcome::TooLarge) {
            writeln!(out, "  {}  {} bytes", m.uid.as_deref().unwrap_or("(no uid)"), m.size)?;
        }
    } else {
        writeln!(out, "too large:    0")?;
    }
    // Rare (deleted by another client since the listing): shown only then.
    if report.unavailable > 0 {
        writeln!(out, "unavailable:  {}, refused by the server, tried again next fetch:", report.unavailable)?;
        for m in report.messages.iter().filter(|m| m.outcome == Outcome::Unavailable) {
            writeln!(out, "  {}  {} bytes", m.uid.as_deref().unwrap_or("(no uid)"), m.size)?;
        }
    }
    writeln!(out, "deleted:      {} on the server", report.deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailtls::sync::MessageReport;

    #[test]
    fn the_default_state_is_per_account_in_the_maildir() {
        let path = default_state(Path::new("/m"), "a@example.org", "Mail.Example.org");
        assert_eq!(path, Path::new("/m/.mailtls-sync-a%40example.org@mail.example.org"));
        assert_eq!(default_state(Path::new("m"), "u/x", "::1"), Path::new("m/.mailtls-sync-u%2Fx@%3A%3A1"));
    }

    #[test]
    fn the_summary_lists_the_messages_too_large() {
        let large = MessageReport { uid: Some("big1".into()), size: 9000, outcome: Outcome::TooLarge, deleted: false };
        let report = SyncReport {
            downloaded: 2,
            already_had: 1,
            too_large: 1,
            deleted: 2,
            bytes: 300,
            messages: vec![large],
            ..SyncReport::default()
        };
        let mut out = Vec::new();
        print_summary(&mut out, &report).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "downloaded:   2 messages, 300 bytes\nalready had:  1\ntoo large:    1, left on the server:\n  \
             big1  9000 bytes\ndeleted:      2 on the server\n"
        );
    }

    #[test]
    fn the_summary_lists_the_messages_the_server_refused() {
        let gone =
            MessageReport { uid: Some("gone1".into()), size: 700, outcome: Outcome::Unavailable, deleted: false };
        let report = SyncReport { downloaded: 2, unavailable: 1, messages: vec![gone], ..SyncReport::default() };
        let mut out = Vec::new();
        print_summary(&mut out, &report).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "downloaded:   2 messages, 0 bytes\nalready had:  0\ntoo large:    0\nunavailable:  1, refused by the \
             server, tried again next fetch:\n  gone1  700 bytes\ndeleted:      0 on the server\n"
        );
    }
}
