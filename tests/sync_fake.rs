//! Pop3Client::sync against a scripted fake server: drops at the worst
//! moments, no UIDL, a UID twice. The server does not pipeline, so every
//! command's place in the script is exact.

mod common;

use std::path::{Path, PathBuf};

use common::{FakeServer, Step, plain_options, send};
use mailtls::pop3::Pop3Client;
use mailtls::sasl::Mechanism;
use mailtls::sync::{Maildir, Outcome, Retention, SyncOptions};
use mailtls::{Client, Error};

const CAPA: &str = "+OK\r\nUSER\r\nUIDL\r\n.\r\n";
const ONE: &str = "Subject: one\r\n\r\nfirst\r\n";
const TWO: &str = "Subject: two\r\n\r\n..second\r\n";

fn server(rest: Vec<Step>) -> (FakeServer, Pop3Client) {
    server_with(CAPA, rest)
}

fn server_with(capa: &str, rest: Vec<Step>) -> (FakeServer, Pop3Client) {
    let mut script = vec![send("+OK ready\r\n"), Step::Expect("CAPA"), send(capa), Step::Expect("USER u")];
    script.extend([send("+OK\r\n"), Step::Expect("PASS p"), send("+OK\r\n")]);
    script.extend(rest);
    let server = FakeServer::start(script);
    let mut client = Pop3Client::connect("127.0.0.1", server.port, &plain_options()).expect("connect");
    client.login("u", "p", Some(Mechanism::User)).expect("login");
    (server, client)
}

/// UIDL and LIST of the messages `(uid, body)`, numbered from 1.
fn listing(messages: &[(&str, &str)]) -> Vec<Step> {
    let mut uidl = String::from("+OK\r\n");
    let mut list = String::from("+OK\r\n");
    for (i, (uid, body)) in messages.iter().enumerate() {
        uidl.push_str(&format!("{} {uid}\r\n", i + 1));
        list.push_str(&format!("{} {}\r\n", i + 1, body.len()));
    }
    uidl.push_str(".\r\n");
    list.push_str(".\r\n");
    vec![Step::Expect("UIDL"), send(&uidl), Step::Expect("LIST"), send(&list)]
}

fn retr(n: u32, body: &str) -> Vec<Step> {
    let stuffed = body.replace("\r\n.", "\r\n..");
    let command = ["RETR 1", "RETR 2", "RETR 3"][n as usize - 1];
    vec![Step::Expect(command), send(&format!("+OK\r\n{stuffed}.\r\n"))]
}

fn ok_to(command: &'static str) -> Vec<Step> {
    vec![Step::Expect(command), send("+OK\r\n")]
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailtls-sync-fake-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn lf(body: &str) -> Vec<u8> {
    body.replace("\r\n", "\n").into_bytes()
}

fn delete_options(dir: &Path) -> SyncOptions {
    SyncOptions { retention: Retention::DeleteAfterSaving, ..SyncOptions::new(dir.join("state")) }
}

#[test]
fn a_drop_in_the_middle_of_retr_keeps_what_came_whole_and_deletes_nothing() {
    let dir = scratch("retr");
    let md = dir.join("Maildir");
    let options = delete_options(&dir);
    let messages = [("u1", ONE), ("u2", TWO)];
    let mut script = listing(&messages);
    script.extend(retr(1, ONE));
    script.extend([Step::Expect("RETR 2"), send("+OK\r\nSubject: two\r\n"), Step::Close]);
    let (fake, mut client) = server(script);
    let failed = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap_err();
    assert!(matches!(failed.error, Error::ConnectionClosed(_)), "{failed:?}");
    assert_eq!((failed.report.downloaded, failed.report.deleted), (1, 0));
    fake.finish();
    assert_eq!(files(&md.join("new")).len(), 1);
    assert!(files(&md.join("tmp")).is_empty(), "the partial message is gone");

    // The next sync deletes the one it has (recorded), fetches the other.
    let mut script = listing(&messages);
    script.extend(ok_to("DELE 1"));
    script.extend(retr(2, TWO));
    script.extend(ok_to("DELE 2"));
    script.extend(ok_to("QUIT"));
    let (fake, mut client) = server(script);
    let report = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap();
    fake.finish();
    assert_eq!((report.downloaded, report.already_had, report.deleted), (1, 1, 2), "{report:?}");
    let stored: Vec<Vec<u8>> = files(&md.join("new")).into_iter().map(|(_, b)| b).collect();
    assert_eq!(stored, vec![lf(ONE), lf(TWO)], "unstuffed, LF, whole");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_drop_during_dele_or_before_the_answer_to_quit_counts_nothing_deleted_and_loses_nothing() {
    for drop_at in ["DELE 2", "QUIT"] {
        let dir = scratch("dele");
        let md = dir.join("Maildir");
        let options = delete_options(&dir);
        let messages = [("u1", ONE), ("u2", TWO)];
        let mut script = listing(&messages);
        script.extend(retr(1, ONE));
        script.extend(retr(2, TWO));
        script.extend(ok_to("DELE 1"));
        if drop_at == "QUIT" {
            script.extend(ok_to("DELE 2"));
        }
        script.extend([Step::Expect(drop_at), Step::Close]);
        let (fake, mut client) = server(script);
        let failed = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap_err();
        fake.finish();
        assert!(matches!(failed.error, Error::ConnectionClosed(_)), "{drop_at}: {failed:?}");
        assert_eq!((failed.report.downloaded, failed.report.deleted), (2, 0), "{drop_at}");
        assert!(failed.report.messages.iter().all(|m| !m.deleted));
        assert_eq!(files(&md.join("new")).len(), 2);

        // Whether or not the server deleted them, nothing is fetched again.
        let mut script = listing(&messages);
        script.extend(ok_to("DELE 1"));
        script.extend(ok_to("DELE 2"));
        script.extend(ok_to("QUIT"));
        let (fake, mut client) = server(script);
        let report = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap();
        fake.finish();
        assert_eq!((report.downloaded, report.already_had, report.deleted), (0, 2, 2), "{drop_at}: {report:?}");
        assert!(report.messages.iter().all(|m| m.deleted && m.outcome == Outcome::AlreadyHad));

        // Once the server confirmed, their records are dropped.
        let mut script = listing(&[]);
        script.extend(ok_to("QUIT"));
        let (fake, mut client) = server(script);
        let report = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap();
        fake.finish();
        assert!(report.messages.is_empty());
        let state = std::fs::read_to_string(dir.join("state")).unwrap();
        assert!(!state.contains("+ u"), "{state}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn without_uidl_only_delete_after_saving_runs_and_it_saves_each_message_once() {
    let dir = scratch("nouidl");
    let md = dir.join("Maildir");
    let refused = || {
        vec![
            Step::Expect("UIDL"),
            send("-ERR no UIDL here\r\n"),
            Step::Expect("LIST"),
            send(&format!("+OK\r\n1 {}\r\n.\r\n", ONE.len())),
        ]
    };
    for mark_seen_only in [false, true] {
        let mut script = refused();
        script.push(Step::ExpectEof);
        let (fake, mut client) = server(script);
        let options = SyncOptions { mark_seen_only, ..SyncOptions::new(dir.join("state")) };
        let failed = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap_err();
        fake.finish();
        match failed.error {
            Error::UidlUnavailable(reply) => assert!(reply.contains("no UIDL here"), "{reply}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(!dir.join("state").exists());

    let options = delete_options(&dir);
    for _ in 0..2 {
        let mut script = refused();
        script.extend(retr(1, ONE));
        script.extend(ok_to("DELE 1"));
        script.extend(ok_to("QUIT"));
        let (fake, mut client) = server(script);
        let report = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap();
        fake.finish();
        assert_eq!((report.downloaded, report.deleted), (1, 1));
        assert_eq!(report.messages[0].uid, None);
    }
    // The same message again (its deletion lost, say): named by content,
    // so it is in the Maildir once.
    let new = files(&md.join("new"));
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].0.starts_with("x-sha256-") && new[0].1 == lf(ONE), "{new:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_uid_listed_twice_is_refused_and_nothing_is_downloaded_or_deleted() {
    let dir = scratch("twice");
    let mut script = listing(&[("same", ONE), ("same", TWO)]);
    script.push(Step::ExpectEof);
    let (fake, mut client) = server(script);
    let md = dir.join("Maildir");
    let failed = client.sync(&delete_options(&dir), &mut Maildir::open(&md).unwrap(), None).unwrap_err();
    fake.finish();
    match &failed.error {
        Error::Protocol(message) => assert!(message.contains("\"same\""), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(failed.report.messages.is_empty());
    assert!(files(&md.join("new")).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_progress_callback_that_cancels_stops_the_sync_keeping_what_is_saved_and_deleting_nothing() {
    let dir = scratch("cancel");
    let md = dir.join("Maildir");
    let options = delete_options(&dir);
    let messages = [("u1", ONE), ("u2", TWO)];
    let mut script = listing(&messages);
    script.extend(retr(1, ONE));
    // The client stops after message 1 and closes, sending nothing more.
    script.push(Step::ExpectEof);
    let (fake, mut client) = server(script);
    let mut seen = Vec::new();
    let mut progress = |p: mailtls::sync::Progress| {
        seen.push(p);
        if p.done_messages == 1 { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
    };
    let failed = client.sync(&options, &mut Maildir::open(&md).unwrap(), Some(&mut progress)).unwrap_err();
    fake.finish();
    assert!(matches!(failed.error, Error::Cancelled), "{failed:?}");
    assert_eq!((failed.report.downloaded, failed.report.deleted), (1, 0));
    assert_eq!(seen[0].done_messages, 0);
    assert_eq!((seen[0].total_messages, seen[0].total_bytes), (2, (ONE.len() + TWO.len()) as u64));
    assert!(!client.is_open(), "closed without QUIT: no deletion committed");
    assert_eq!(files(&md.join("new")).len(), 1);
    let state = std::fs::read_to_string(dir.join("state")).unwrap();
    assert!(state.contains("+ u1 ") && !state.contains("+ u2 "), "{state}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A message deleted by another client between the listing and its RETR
/// (the server answers -ERR) is skipped: the others are saved and, in
/// delete-after-saving mode, deleted; it is reported unavailable, neither
/// recorded nor deleted, and the next sync fetches it if it is still there.
/// With and without pipelining (then the RETRs after it are in flight).
#[test]
fn a_message_the_server_refuses_to_send_is_skipped_and_the_rest_saved() {
    const THREE: &str = "Subject: three\r\n\r\nthird\r\n";
    let pipelining = "+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n";
    for capa in [CAPA, pipelining] {
        let dir = scratch("refused");
        let md = dir.join("Maildir");
        let options = delete_options(&dir);
        let mut script = listing(&[("u1", ONE), ("u2", TWO), ("u3", THREE)]);
        script.extend(retr(1, ONE));
        script.extend([Step::Expect("RETR 2"), send("-ERR no such message\r\n")]);
        script.extend(retr(3, THREE));
        script.extend(ok_to("DELE 1"));
        script.extend(ok_to("DELE 3"));
        script.extend(ok_to("QUIT"));
        script.push(Step::ExpectEof);
        let (fake, mut client) = server_with(capa, script);
        let mut last = None;
        let mut progress = |p| {
            last = Some(p);
            std::ops::ControlFlow::Continue(())
        };
        let report = client.sync(&options, &mut Maildir::open(&md).unwrap(), Some(&mut progress)).unwrap();
        let sent = fake.finish();
        assert!(!sent.iter().any(|line| line == "DELE 2"), "{sent:?}");
        assert_eq!((report.downloaded, report.unavailable, report.deleted), (2, 1, 2), "{report:?}");
        let outcomes: Vec<_> =
            report.messages.iter().map(|m| (m.uid.as_deref().unwrap(), m.outcome, m.deleted)).collect();
        assert_eq!(
            outcomes,
            [("u1", Outcome::Downloaded, true), ("u2", Outcome::Unavailable, false), ("u3", Outcome::Downloaded, true)]
        );
        let last = last.unwrap();
        assert_eq!((last.done_messages, last.total_messages), (3, 3), "the progress reaches its end");
        let stored: Vec<Vec<u8>> = files(&md.join("new")).into_iter().map(|(_, b)| b).collect();
        assert_eq!(stored, vec![lf(ONE), lf(THREE)]);
        assert!(files(&md.join("tmp")).is_empty());
        // (u1 and u3 are gone from the state too: their deletion confirmed.)
        let state = std::fs::read_to_string(dir.join("state")).unwrap();
        assert!(!state.contains("+ u2 "), "{state}");

        // Still there at the next sync (a server error, say): downloaded
        // now, not taken as had (it was never recorded).
        let mut script = listing(&[("u2", TWO)]);
        script.extend([Step::Expect("RETR 1"), send(&format!("+OK\r\n{}.\r\n", TWO.replace("\r\n.", "\r\n..")))]);
        script.extend(ok_to("DELE 1"));
        script.extend(ok_to("QUIT"));
        let (fake, mut client) = server_with(capa, script);
        let report = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap();
        fake.finish();
        assert_eq!((report.downloaded, report.unavailable, report.deleted), (1, 0, 1), "{report:?}");
        assert_eq!(files(&md.join("new")).len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Every RETR refused (a server that cannot read its mailbox): the sync
/// ends normally, having saved and deleted nothing.
#[test]
fn a_server_refusing_every_retr_deletes_nothing() {
    let dir = scratch("all-refused");
    let md = dir.join("Maildir");
    let mut script = listing(&[("u1", ONE), ("u2", TWO)]);
    script.extend([Step::Expect("RETR 1"), send("-ERR [SYS/TEMP] cannot read\r\n")]);
    script.extend([Step::Expect("RETR 2"), send("-ERR [SYS/TEMP] cannot read\r\n")]);
    script.extend(ok_to("QUIT"));
    script.push(Step::ExpectEof);
    let (fake, mut client) = server(script);
    let report = client.sync(&delete_options(&dir), &mut Maildir::open(&md).unwrap(), None).unwrap();
    let sent = fake.finish();
    assert!(!sent.iter().any(|line| line.starts_with("DELE")), "{sent:?}");
    assert_eq!((report.downloaded, report.unavailable, report.deleted), (0, 2, 0), "{report:?}");
    assert!(files(&md.join("new")).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A server with `count` messages that streams its listings (so its own
/// memory stays small) and answers one command at a time.
fn huge_mailbox_server(count: u32) -> u16 {
    use std::io::{BufRead, BufReader, BufWriter, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = BufWriter::with_capacity(1 << 16, stream);
            out.write_all(b"+OK ready\r\n").unwrap();
            out.flush().unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let command = line.trim_end().to_string();
                line.clear();
                match command.as_str() {
                    "CAPA" => out.write_all(CAPA.as_bytes()).unwrap(),
                    "UIDL" | "LIST" => {
                        out.write_all(b"+OK\r\n").unwrap();
                        for n in 1..=count {
                            if command == "UIDL" {
                                write!(out, "{n} uid-{n:08}-0123456789abcdef\r\n").unwrap();
                            } else {
                                write!(out, "{n} {}\r\n", 2000 + n % 1000).unwrap();
                            }
                        }
                        out.write_all(b".\r\n").unwrap();
                    }
                    "QUIT" => {
                        out.write_all(b"+OK bye\r\n").unwrap();
                        out.flush().unwrap();
                        break;
                    }
                    _ => out.write_all(b"+OK\r\n").unwrap(),
                }
                out.flush().unwrap();
            }
        }
    });
    port
}

/// The process's peak resident memory, in bytes (Linux: VmHWM).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches(" kB").parse().ok()?;
    Some(kb * 1024)
}

/// A large mailbox: listed, recorded (mark-seen), synced again with nothing
/// new, in memory that grows with the listing only, never with what the
/// messages hold. 200,000 messages keep the test quick in a debug build; a
/// million ran the same way in 521 MB (about 520 bytes a message: the
/// listing, the state's table, the report and the batch being recorded),
/// which is what a leaner listing and report would bring down.
#[test]
fn a_mailbox_of_200000_messages_syncs_in_memory_bounded_by_the_listing() {
    const COUNT: u32 = 200_000;
    let port = huge_mailbox_server(COUNT);
    let dir = scratch("million");
    let maildir_path = dir.join("mail");
    let options = SyncOptions { mark_seen_only: true, ..SyncOptions::new(dir.join("state")) };
    for (round, options) in [options.clone(), SyncOptions { mark_seen_only: false, ..options }].iter().enumerate() {
        let mut client = Pop3Client::connect("127.0.0.1", port, &plain_options()).expect("connect");
        client.login("u", "p", Some(Mechanism::User)).expect("login");
        let mut maildir = Maildir::open(&maildir_path).unwrap();
        let report = client.sync(options, &mut maildir, None).expect("sync");
        let wanted = if round == 0 { report.marked_seen } else { report.already_had };
        assert_eq!(wanted, u64::from(COUNT), "round {round}");
        assert_eq!(report.downloaded, 0);
    }
    assert!(files(&maildir_path.join("new")).is_empty());
    if let Some(peak) = peak_rss() {
        // About 520 bytes a message (see above), with room for the
        // allocator; the messages themselves (400 MB) are never held.
        assert!(peak < 160 << 20, "peak resident memory {} MB", peak >> 20);
        eprintln!("peak resident memory for {COUNT} messages: {} MB", peak >> 20);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two accounts delivering into one Maildir, each with a message of the
/// same UID and size (UIDs are unique only within a mailbox): each is
/// downloaded and saved; neither passes for the other and is deleted
/// unsaved.
#[test]
fn two_accounts_with_the_same_uid_and_size_into_one_maildir_both_keep_their_message() {
    let dir = scratch("shared");
    let md = dir.join("Maildir");
    const FIRST: &str = "Subject: a\r\n\r\nfrom A\r\n";
    const SECOND: &str = "Subject: b\r\n\r\nfrom B\r\n";
    assert_eq!(FIRST.len(), SECOND.len());
    for (account, body) in [("a", FIRST), ("b", SECOND)] {
        let options = SyncOptions {
            retention: Retention::DeleteAfterSaving,
            ..SyncOptions::new(dir.join(format!("{account}.state")))
        };
        let mut script = listing(&[("1", body)]);
        script.extend(retr(1, body));
        script.extend(ok_to("DELE 1"));
        script.extend(ok_to("QUIT"));
        let (fake, mut client) = server(script);
        let report = client.sync(&options, &mut Maildir::open(&md).unwrap(), None).unwrap();
        fake.finish();
        assert_eq!((report.downloaded, report.deleted), (1, 1), "account {account}: {report:?}");
    }
    let mut stored: Vec<Vec<u8>> = files(&md.join("new")).into_iter().map(|(_, b)| b).collect();
    stored.sort();
    assert_eq!(stored, vec![lf(FIRST), lf(SECOND)]);
    std::fs::remove_dir_all(&dir).unwrap();
}
