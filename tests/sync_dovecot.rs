//! Pop3Client::sync against the project's real Dovecot (tests/servers/
//! dovecot.sh, started by tests/run.sh). Uses the users user78 (the
//! account's life: every policy in turn), user99 (the crash loops) and
//! fetch03 (a full disk) only.

mod common;

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{maildir, password, port, seed, tls_options};
use mailtls::pop3::Pop3Client;
use mailtls::sync::{Destination, Maildir, Outcome, Retention, SyncError, SyncOptions, SyncReport};
use mailtls::{Client, Error, Security};

const DAY: Duration = Duration::from_secs(86_400);

fn session(user: &str) -> Pop3Client {
    let mut opts = tls_options();
    opts.security = Security::Tls;
    let mut client = Pop3Client::connect("localhost", port("MAILTLS_TEST_POP3S_PORT"), &opts).expect("connect");
    client.login(user, &password(), None).expect("login");
    client
}

fn sync(user: &str, options: &SyncOptions, dir: &Path) -> Result<SyncReport, SyncError> {
    let mut destination = Maildir::open(dir).expect("open the Maildir");
    session(user).sync(options, &mut destination, None)
}

fn on_server(user: &str) -> u32 {
    let mut client = session(user);
    let count = client.stat().unwrap().0;
    client.quit().unwrap();
    count
}

/// The messages of a Maildir (new/ and cur/), sorted. A sub-directory not
/// there holds none: a sync killed while creating the Maildir can leave
/// new/ without cur/ (the next sync creates what is missing).
fn contents(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let entries = match std::fs::read_dir(dir.join(sub)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            entries => entries.unwrap(),
        };
        for entry in entries {
            out.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    out.sort();
    out
}

fn message(i: usize) -> Vec<u8> {
    format!("From: a@example.org\nSubject: message {i}\n\nbody {i}\n.a dotted line\n..two\n").into_bytes()
}

fn sorted(messages: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut v: Vec<_> = messages.into_iter().collect();
    v.sort();
    v
}

/// Mail arriving: a file in the user's Maildir new/, Dovecot's indexes left
/// alone (so the messages already there keep their UIDs).
fn deliver_to_server(user: &str, body: &[u8]) {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = maildir(user).join("new").join(format!("{}.M{n}P{}.arrived", 2_000_000_000 + n, std::process::id()));
    std::fs::write(&path, body).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mailtls-sync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A state file as the format documents it (src/sync/state.rs): for
/// records a test needs the library never wrote.
fn write_state(path: &Path, records: &[(String, u64, u64)]) {
    use sha2::Digest;
    let mut batch = String::new();
    for (uid, size, first_seen) in records {
        batch.push_str(&format!("+ {uid} {size} {first_seen}\n"));
    }
    let digest: String = sha2::Sha256::digest(batch.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect();
    let text = format!("mailtls-sync-state 1\n{batch}= {} {digest}\n", records.len());
    std::fs::write(path, text).unwrap();
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// A caller's destination that keeps messages in memory, and can refuse.
#[derive(Default)]
struct Collect {
    saved: Vec<(String, Vec<u8>)>,
    current: Option<(String, Vec<u8>)>,
    refuse: bool,
}

impl Destination for Collect {
    fn begin(&mut self, uid: Option<&str>, _size: u64) -> mailtls::Result<()> {
        self.current = Some((uid.unwrap_or_default().to_string(), Vec::new()));
        Ok(())
    }
    fn data(&mut self, chunk: &[u8]) -> mailtls::Result<()> {
        self.current.as_mut().unwrap().1.extend_from_slice(chunk);
        Ok(())
    }
    fn end(&mut self) -> mailtls::Result<()> {
        if self.refuse {
            return Err(Error::LocalFile { what: "the test store".into(), source: std::io::Error::other("full") });
        }
        self.saved.push(self.current.take().unwrap());
        Ok(())
    }
}

/// One account through its life: first sync, nothing new, new mail, a
/// concurrent sync, mark-seen, a size change, too large, delete after N
/// days (the clock moved through `now`), delete after saving, a caller's
/// destination that fails, and a corrupt state.
#[test]
fn an_account_through_every_policy() {
    let user = "user78";
    let dir = scratch("life");
    let md = dir.join("Maildir");
    let options = SyncOptions::new(dir.join("state"));
    let originals: Vec<Vec<u8>> = (0..3).map(message).collect();
    seed(user, &originals.iter().map(Vec::as_slice).collect::<Vec<_>>());

    // First sync: everything, byte-identical (LF, unstuffed), left on the server.
    let report = sync(user, &options, &md).unwrap();
    assert_eq!((report.downloaded, report.already_had, report.deleted), (3, 0, 0), "{report:?}");
    assert!(report.bytes > 0);
    assert_eq!(contents(&md), sorted(originals.clone()));
    assert_eq!(on_server(user), 3);

    // Nothing new: nothing downloaded.
    let report = sync(user, &options, &md).unwrap();
    assert_eq!((report.downloaded, report.already_had), (0, 3), "{report:?}");

    // New mail between syncs: only it is fetched.
    deliver_to_server(user, &message(3));
    deliver_to_server(user, &message(4));
    let report = sync(user, &options, &md).unwrap();
    assert_eq!((report.downloaded, report.already_had), (2, 3), "{report:?}");
    assert_eq!(contents(&md), sorted((0..5).map(message)));

    // A second sync of the same account while one runs fails at once.
    let mut destination = Maildir::open(&md).unwrap();
    let mut second = None;
    let mut progress = |_| {
        if second.is_none() {
            let started = Instant::now();
            second = Some((sync(user, &options, &md).map(|_| ()).map_err(|e| e.error), started.elapsed()));
        }
        ControlFlow::Continue(())
    };
    session(user).sync(&options, &mut destination, Some(&mut progress)).unwrap();
    let (refused, waited) = second.expect("progress was reported");
    assert!(matches!(refused, Err(Error::StateLocked(_))), "{refused:?}");
    assert!(waited < Duration::from_secs(5), "refused at once, not after a wait: {waited:?}");

    // Mark-seen: recorded without downloading; then nothing is new.
    let marked = SyncOptions::new(dir.join("marked-state"));
    let marked_dir = dir.join("marked");
    let report = sync(user, &SyncOptions { mark_seen_only: true, ..marked.clone() }, &marked_dir).unwrap();
    assert_eq!((report.marked_seen, report.downloaded), (5, 0), "{report:?}");
    assert!(contents(&marked_dir).is_empty());
    assert_eq!(sync(user, &marked, &marked_dir).unwrap().downloaded, 0);

    // A known UID whose size changed is a new message: downloaded again,
    // and not deleted on the old record, however old it says it is.
    let mut client = session(user);
    let listing = client.list_uidl().unwrap();
    client.quit().unwrap();
    let long_ago = unix(SystemTime::now() - 30 * DAY);
    let changed = dir.join("changed-state");
    write_state(
        &changed,
        &listing.iter().map(|e| (e.uid.clone().unwrap(), e.octets.unwrap() + 1, long_ago)).collect::<Vec<_>>(),
    );
    let week = Retention::DeleteAfter(7 * DAY);
    let report =
        sync(user, &SyncOptions { retention: week, ..SyncOptions::new(&changed) }, &dir.join("changed")).unwrap();
    assert_eq!((report.downloaded, report.deleted), (5, 0), "{report:?}");
    assert_eq!(on_server(user), 5);

    // Too large: skipped, reported, and never deleted.
    let big = [b"Subject: big\n\n".as_slice(), &vec![b'x'; 5000], b"\n"].concat();
    deliver_to_server(user, &big);
    let limited = SyncOptions { max_message_bytes: Some(1000), ..options.clone() };
    let report = sync(user, &limited, &md).unwrap();
    assert_eq!((report.too_large, report.downloaded), (1, 0), "{report:?}");
    let too_large: Vec<_> = report.messages.iter().filter(|m| m.outcome == Outcome::TooLarge).collect();
    assert!(too_large[0].size > 5000, "{too_large:?}");

    // Delete after 7 days: not after 6 (by the state's first sighting),
    // but after 8; the big one stays.
    let in_days = |days: u32| Some(SystemTime::now() + DAY * days);
    let report = sync(user, &SyncOptions { retention: week, now: in_days(6), ..limited.clone() }, &md).unwrap();
    assert_eq!(report.deleted, 0, "{report:?}");
    assert_eq!(on_server(user), 6);
    let report = sync(user, &SyncOptions { retention: week, now: in_days(8), ..limited.clone() }, &md).unwrap();
    assert_eq!(report.deleted, 5, "{report:?}");
    assert!(report.messages.iter().filter(|m| m.deleted).all(|m| m.outcome == Outcome::AlreadyHad));
    assert_eq!(on_server(user), 1);

    // A caller's destination that fails: the error, and nothing deleted.
    deliver_to_server(user, &message(5));
    let mut refusing = Collect { refuse: true, ..Collect::default() };
    let delete = SyncOptions { retention: Retention::DeleteAfterSaving, ..options.clone() };
    let failed = session(user).sync(&delete, &mut refusing, None).unwrap_err();
    assert!(matches!(failed.error, Error::LocalFile { .. }), "{failed:?}");
    assert_eq!(failed.report.deleted, 0);
    assert_eq!(on_server(user), 2);
    // ...and one that works gets the message with CRLF, and its UID.
    let mut collect = Collect::default();
    let report = session(user).sync(&SyncOptions::new(dir.join("collect-state")), &mut collect, None).unwrap();
    assert_eq!(report.downloaded, 2);
    assert!(collect.saved.iter().any(|(uid, m)| !uid.is_empty() && m.ends_with(b"..two\r\n")), "{:?}", collect.saved);

    // Delete after saving empties the server, and the Maildir has each
    // message once.
    let report = sync(user, &delete, &md).unwrap();
    assert_eq!((report.downloaded, report.deleted), (2, 2), "{report:?}");
    assert_eq!(on_server(user), 0);
    assert_eq!(contents(&md), sorted((0..6).map(message).chain([big.clone()])));

    // A corrupt state: its own error, nothing done, the file left alone.
    deliver_to_server(user, &message(6));
    std::fs::write(&options.state, b"not a state file\n").unwrap();
    let failed = sync(user, &delete, &md).unwrap_err();
    assert!(matches!(failed.error, Error::StateCorrupt { .. }), "{failed:?}");
    assert_eq!(std::fs::read(&options.state).unwrap(), b"not a state file\n");
    assert_eq!(on_server(user), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- crash loops

const CHILD_ENV: &str = "MAILTLS_SYNC_CRASH_CHILD";

/// The child of the crash loops: one sync as the environment says. Run
/// only by `crash_loop` (ignored otherwise).
#[test]
#[ignore = "the crash loop's child process"]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let mut words = spec.splitn(3, ' ');
    let (mode, md, state) = (words.next().unwrap(), words.next().unwrap(), words.next().unwrap());
    let retention = if mode == "delete" { Retention::DeleteAfterSaving } else { Retention::LeaveOnServer };
    let options = SyncOptions { retention, ..SyncOptions::new(state) };
    sync("user99", &options, Path::new(md)).unwrap();
}

/// xorshift: the kill points, reproducible from the printed seed.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Run the child sync; kill it after `kill_after` if it has not finished.
fn run_child(mode: &str, md: &Path, state: &Path, kill_after: Option<Duration>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{mode} {} {}", md.display(), state.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    match kill_after {
        Some(delay) => {
            std::thread::sleep(delay);
            let _ = child.kill();
            child.wait().unwrap();
        }
        None => {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "the child sync failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// Kill a sync at random moments, finish with a new sync each time, and
/// check that every message is in the Maildir exactly once and that the
/// server holds what the policy says.
fn crash_loop(mode: &str, messages: usize, iterations: usize, random: &mut Random) {
    let user = "user99";
    let originals: Vec<Vec<u8>> = (0..messages).map(message).collect();
    let bodies: Vec<&[u8]> = originals.iter().map(Vec::as_slice).collect();
    let root = PathBuf::from("/dev/shm").join(format!("mailtls-sync-crash-{mode}-{}", std::process::id()));
    let fresh = |i: usize| {
        let dir = root.join(i.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("Maildir"), dir.join("state"))
    };
    let retention = if mode == "delete" { Retention::DeleteAfterSaving } else { Retention::LeaveOnServer };
    seed(user, &bodies);
    let uids_before = session(user).uidl().unwrap();

    // How long an uninterrupted child sync takes: the kill points fall in it.
    let (md, state) = fresh(usize::MAX);
    let started = Instant::now();
    run_child(mode, &md, &state, None);
    let whole = started.elapsed();
    assert_eq!(contents(&md), sorted(originals.clone()));

    // Kills that left part of the mailbox saved, or messages written in
    // tmp/ and not yet flushed and renamed into new/ (a batch reaches new/
    // whole, at its flush): the loop must hit the middle of the work, not
    // only its start or its end. (Deletions cannot be caught half-done:
    // POP3 commits them all at QUIT.)
    let (mut partly_saved, mut all_saved, mut left_behind, mut in_the_middle) = (0, 0, 0, 0);
    let temporaries = |md: &Path| -> Vec<PathBuf> {
        match std::fs::read_dir(md.join("tmp")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(), // killed before it made the Maildir
        }
    };
    for i in 0..iterations {
        if mode == "delete" {
            seed(user, &bodies);
        }
        let (md, state) = fresh(i);
        let delay = Duration::from_micros(random.below(whole.as_micros() as u64 * 11 / 10));
        run_child(mode, &md, &state, Some(delay));
        let saved = contents(&md).len();
        partly_saved += usize::from(saved > 0 && saved < messages);
        all_saved += usize::from(saved == messages);
        let left = !temporaries(&md).is_empty();
        left_behind += usize::from(left);
        in_the_middle += usize::from(left || (saved > 0 && saved < messages));
        let options = SyncOptions { retention, ..SyncOptions::new(&state) };
        let report = sync(user, &options, &md).unwrap_or_else(|e| panic!("iteration {i}, killed after {delay:?}: {e}"));
        assert_eq!(contents(&md), sorted(originals.clone()), "iteration {i}, killed after {delay:?}");
        // The killed sync's partial files are gone: the next one removed them.
        let left = temporaries(&md);
        assert!(left.is_empty(), "iteration {i}, killed after {delay:?}: left in tmp/: {left:?}");
        // Every message still listed was deleted, with +OK to QUIT: the
        // server is empty (checked by a session of its own at the end).
        if mode == "delete" {
            assert_eq!(report.deleted as usize, report.messages.len(), "iteration {i}, killed after {delay:?}");
        } else {
            assert_eq!(report.deleted, 0);
        }
        std::fs::remove_dir_all(root.join(i.to_string())).unwrap();
    }
    if mode == "delete" {
        assert_eq!(on_server(user), 0);
    } else {
        assert_eq!(session(user).uidl().unwrap(), uids_before, "the server is unchanged");
    }
    eprintln!(
        "{mode}: {iterations} kills within {whole:?}: {partly_saved} with part of the mailbox saved, {all_saved} with all of it, \
         {left_behind} leaving files in tmp/"
    );
    // About a fifth of the kill points fall there (the child's start,
    // login and listing take the rest): at least a twentieth, so that
    // chance alone fails this less than once in ten thousand runs.
    assert!(in_the_middle >= iterations / 20, "too few kills in the middle of the downloads: {in_the_middle}");
    assert!(left_behind > 0, "no kill left a partial file behind: the clean-up was not tried");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn killed_syncs_lose_nothing_and_save_nothing_twice() {
    let seed_value = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut random = Random(seed_value);
    writeln!(std::io::stderr(), "crash loop random seed: {seed_value}").unwrap();
    crash_loop("leave", 200, 100, &mut random);
    crash_loop("delete", 200, 100, &mut random);
}

/// A small tmpfs mounted for one test (the tests run as root, as in CI),
/// unmounted when dropped.
struct SmallDisk {
    mount_point: PathBuf,
}

impl SmallDisk {
    fn mount(mount_point: PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&mount_point).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount_point)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a {size} tmpfs at {} needs root", mount_point.display());
        SmallDisk { mount_point }
    }

    /// Make room, keeping what is on it.
    fn grow(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.mount_point)
            .status()
            .expect("run mount");
        assert!(status.success(), "remounting {} with {size}", self.mount_point.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

/// Guarantee 5: a full disk (ENOSPC) in the middle of a message removes the
/// partial file, deletes nothing on the server even in delete-after-saving
/// mode, and stops the sync with a file error.
#[test]
fn a_full_disk_deletes_nothing_and_leaves_no_partial_file() {
    let dir = scratch("full-disk");
    let disk = SmallDisk::mount(dir.join("disk"), "128k");
    let large: Vec<u8> =
        (0..8000).flat_map(|i| format!("line {i} of a message larger than the disk\n").into_bytes()).collect();
    seed("fetch03", &[&message(1), &large, &message(3)]);
    let mut options = SyncOptions::new(dir.join("state"));
    options.retention = Retention::DeleteAfterSaving;
    let mail = disk.mount_point.join("mail");

    let failed = sync("fetch03", &options, &mail).expect_err("the disk is smaller than the mailbox");
    match &failed.error {
        Error::LocalFile { source, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC), "{}", failed.error)
        }
        other => panic!("expected a file error for the full disk, got {other}"),
    }
    assert_eq!(failed.report.deleted, 0, "{:?}", failed.report);
    assert_eq!(on_server("fetch03"), 3, "nothing was deleted on the server");
    let leftovers: Vec<_> = std::fs::read_dir(mail.join("tmp")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(leftovers.is_empty(), "partial files left in tmp/: {leftovers:?}");
    assert!(contents(&mail).iter().all(|m| m.len() < large.len()), "no truncated copy of the large message");

    // With room again, the next sync saves the rest, each message once,
    // and empties the server.
    disk.grow("4m");
    let report = sync("fetch03", &options, &mail).expect("sync with room");
    assert_eq!(report.deleted, 3, "{report:?}");
    assert_eq!(on_server("fetch03"), 0);
    // Saved as the server sent it, with LF line ends: what was seeded.
    let saved = contents(&mail);
    let lengths = |v: &[Vec<u8>]| v.iter().map(Vec::len).collect::<Vec<_>>();
    let expected = sorted([message(1), large, message(3)]);
    assert!(saved == expected, "saved sizes {:?}, seeded {:?}", lengths(&saved), lengths(&expected));
}
