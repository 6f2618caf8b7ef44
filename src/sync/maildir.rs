//! A Maildir destination: each message written in tmp/, flushed, renamed
//! into new/; new/ flushed once per batch ([`Destination::flush`]).
//!
//! Flushing: on Linux (5.8 and later, where `syncfs` reports write-back
//! errors) the messages of a batch are written and closed in tmp/, and at
//! the batch's flush one `syncfs` of tmp/'s file system makes all their
//! data durable at once; only then is each renamed into new/, and new/ is
//! flushed. One flush of the disk per batch instead of one per message,
//! and still no file in new/ before its data is on disk. Elsewhere each
//! file is flushed as it ends, then renamed.
//!
//! Leftovers: a sync that is killed leaves its partial files in tmp/. Their
//! names carry the writing process's ID (`,P=<pid>`); a Maildir opened for
//! a sync removes those of processes no longer running, and any of ours
//! older than 36 hours (the Maildir convention for tmp/). A live sync's
//! files are never touched, even another account's sharing the Maildir.
//!
//! The file holds the message as the server sent it, dot-unstuffed, with
//! CRLF line ends turned into LF (as Dovecot, mpop and getmail store mail
//! on Unix), no header added. Its name comes from the account, the UID and
//! the size, `<UID, encoded>,A=<account>,W=<size>` (W= is the size with
//! CRLF line ends, the size LIST gives, as Dovecot uses it), so delivery
//! is idempotent: a message whose name is already in new/, or in cur/ with
//! the ":2,flags" that Maildir readers add, is not delivered again, even
//! when the state file that would have said so was lost. The account tag
//! (from the state file's path, see [`Destination::set_account`]) keeps
//! apart two accounts delivering into one Maildir: UIDs are unique only
//! within a mailbox, and one account's message must never pass for
//! another's (it would be skipped, and deleted on the server unsaved).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::Destination;
use crate::durable::{ClosedPart, PartFile, sync_directory};
use crate::error::{Error, Result};

/// Ours in tmp/: `.<name>,P=<pid>.<random>.mailtls-part` (see PartFile).
const PART_SUFFIX: &str = ".mailtls-part";
/// tmp/ files older than this may be removed by anyone (Maildir convention).
const STALE_AFTER: Duration = Duration::from_secs(36 * 3600);
/// Of the final name, this much goes into the temporary one (which adds
/// the PID and 30 characters; a file name has at most 255 bytes).
const TEMPORARY_NAME_PREFIX: usize = 160;

/// A Maildir (tmp/, new/, cur/), created if missing.
#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    /// The names (without Maildir info) already in new/ and cur/, read once
    /// per sync on the first lookup.
    present: Option<HashSet<String>>,
    message: Option<InFlight>,
    /// new/ has entries not yet flushed to disk.
    unflushed: bool,
    /// Messages ended, waiting in tmp/ (closed) for the batch's flush, with
    /// their final names. Only with `batch_fs`.
    pending: Vec<(ClosedPart, String)>,
    /// tmp/, open since the Maildir was: the file system one `syncfs` per
    /// batch flushes, and the start from which it reports write-back
    /// errors. None where each file is flushed as it ends.
    batch_fs: Option<File>,
    /// The account whose messages these are (see the module).
    account: Option<String>,
}

/// The message being written.
#[derive(Debug)]
struct InFlight {
    part: PartFile,
    uid: Option<String>,
    size: u64,
    /// The last chunk ended in CR: it becomes LF if the next starts with LF.
    pending_cr: bool,
    /// Without a UID, the name comes from the content.
    content_digest: Option<Sha256>,
}

impl Maildir {
    /// Open the Maildir at `root`, creating it and its tmp/, new/ and cur/
    /// if missing. A path that is a file, or that cannot be written, is
    /// [`Error::LocalFile`].
    pub fn open(root: &Path) -> Result<Maildir> {
        let mut created = false;
        for sub in ["tmp", "new", "cur"] {
            let dir = root.join(sub);
            match std::fs::metadata(&dir) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => return Err(not_a_maildir(root, &format!("{sub} is not a directory"))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::local_file(format!("the Maildir {}", root.display()))(e)),
            }
            std::fs::create_dir_all(&dir)
                .map_err(Error::local_file(format!("creating the Maildir {}", dir.display())))?;
            created = true;
        }
        if created {
            sync_directory(root).map_err(Error::local_file(format!("the Maildir {}", root.display())))?;
        }
        remove_stale_parts(&root.join("tmp"), SystemTime::now());
        let batch_fs = if syncfs_reports_errors() {
            File::open(root.join("tmp")).ok().filter(syncfs_flushes_like_fsync)
        } else {
            None
        };
        Ok(Maildir {
            root: root.to_path_buf(),
            present: None,
            message: None,
            unflushed: false,
            pending: Vec::new(),
            batch_fs,
            account: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn present(&mut self) -> Result<&mut HashSet<String>> {
        if self.present.is_none() {
            let mut names = HashSet::new();
            for sub in ["new", "cur"] {
                let dir = self.root.join(sub);
                let listing_error = || Error::local_file(format!("reading the Maildir {}", dir.display()));
                for entry in std::fs::read_dir(&dir).map_err(listing_error())? {
                    let name = entry.map_err(listing_error())?.file_name();
                    let Some(name) = name.to_str() else { continue };
                    // Only names this module writes matter here.
                    if name.contains(",W=") {
                        names.insert(base_name(name).to_string());
                    }
                }
            }
            self.present = Some(names);
        }
        Ok(self.present.as_mut().expect("just read"))
    }
}

/// Remove our partial files left in `tmp` by processes that no longer run
/// (a killed sync), and any of ours older than [`STALE_AFTER`]. Another
/// sync's files, even another account's in the same Maildir, carry a live
/// PID and stay. Best effort: a file that cannot be removed is left.
fn remove_stale_parts(tmp: &Path, now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // Only names a Maildir of ours writes: `.<uid>,W=<size>...`.
        if !(name.starts_with('.') && name.ends_with(PART_SUFFIX) && name.contains(",W=")) {
            continue;
        }
        let writer_gone = part_writer(name).is_some_and(|pid| !process_runs(pid));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER));
        if writer_gone || old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The PID in a partial file's name (`,P=<pid>.`).
fn part_writer(name: &str) -> Option<u32> {
    let (_, rest) = name.rsplit_once(",P=")?;
    let digits = rest.split('.').next()?;
    digits.parse().ok().filter(|&pid| pid > 0)
}

/// Whether a process with this PID runs (on this machine). In doubt, yes.
fn process_runs(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        // Signal 0: only the checks. EPERM means it exists (another user's).
        if unsafe { libc::kill(pid, 0) } == 0 {
            return true;
        }
        std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Whether one `syncfs` per batch can stand for a flush of each file:
/// Linux 5.8 and later report write-back errors through it (earlier ones
/// return success regardless).
fn syncfs_reports_errors() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else { return false };
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (5, 8)
}

/// Whether `syncfs` on this directory's file system flushes file data as
/// `fsync` would: only local disk file systems are trusted with it. On
/// FUSE (sshfs, gocryptfs, ntfs-3g...) and network file systems (CIFS, NFS)
/// it may return success without asking the daemon or server to flush,
/// where `fsync` does; those keep one `fsync` per file.
#[cfg(target_os = "linux")]
fn syncfs_flushes_like_fsync(dir: &File) -> bool {
    use std::os::fd::AsRawFd;
    // f_type magic numbers (linux/magic.h).
    const LOCAL: [i64; 6] = [
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0xF2F5_2010, // f2fs
        0x0102_1994, // tmpfs (nothing to flush: memory only)
        0x2FC1_2FC1, // zfs
    ];
    // SAFETY: fstatfs on a descriptor the caller owns, into a zeroed struct.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(dir.as_raw_fd(), &mut fs) } != 0 {
        return false;
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    LOCAL.contains(&(fs.f_type as i64))
}

#[cfg(not(target_os = "linux"))]
fn syncfs_flushes_like_fsync(_dir: &File) -> bool {
    false
}

/// Flush every file of `dir`'s file system to disk.
#[cfg(target_os = "linux")]
fn syncfs(dir: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_dir: &File) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

fn not_a_maildir(root: &Path, why: &str) -> Error {
    let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("not a Maildir: {why}"));
    Error::local_file(root.display())(e)
}

/// A Maildir file name without the info that readers add after ':' (or
/// ';' or '!' where ':' cannot be used in file names).
fn base_name(name: &str) -> &str {
    name.split([':', ';', '!']).next().unwrap_or(name)
}

/// The file name of a message: its UID, encoded, its account's tag (when
/// known) and its size.
///
/// Letters a–z, digits and '-' stand for themselves; every other byte,
/// capital letters included, is `%` and two hex digits. So the name holds
/// nothing a file system forbids or reads specially ('/', '\', ':', a
/// leading '.', ',' which starts Maildir fields), and two UIDs that differ
/// only in case stay apart on case-insensitive file systems (Windows,
/// macOS). A 70-character UID gives at most 210 characters.
pub(crate) fn file_name(uid: &str, account: Option<&str>, size: u64) -> String {
    let mut name = String::with_capacity(uid.len() * 3 + 24);
    for b in uid.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if let Some(account) = account {
        name.push_str(&format!(",A={account}"));
    }
    name.push_str(&format!(",W={size}"));
    name
}

/// The name of a message that has no UID (a server without UIDL): from a
/// digest of its content, so it too is delivered once.
fn content_name(digest: Sha256, size: u64) -> String {
    let hex: String = digest.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("x-sha256-{hex},W={size}")
}

impl Destination for Maildir {
    fn set_account(&mut self, account: &str) {
        self.account = Some(account.to_string());
    }

    fn contains(&mut self, uid: &str, size: u64) -> Result<bool> {
        let name = file_name(uid, self.account.as_deref(), size);
        let found = self.present()?.contains(&name);
        // Found by name: its entry may not be on disk yet if the sync that
        // wrote it was killed before flushing the directory.
        self.unflushed |= found;
        Ok(found)
    }

    fn begin(&mut self, uid: Option<&str>, size: u64) -> Result<()> {
        self.abandon();
        // The final name decides the temporary one only in its prefix: for
        // a message without UID the name is known at the end.
        // The PID tells a later sync whether this file's writer still runs.
        let account = self.account.as_deref();
        let mut provisional = uid.map_or_else(|| format!("x-nouid,W={size}"), |u| file_name(u, account, size));
        if provisional.len() > TEMPORARY_NAME_PREFIX {
            // A long UID is cut, its fields (,A= ,W=) kept: the clean-up
            // of stale files knows ours by them. ASCII: any cut is a char
            // boundary.
            let fields = provisional.find(",A=").or_else(|| provisional.find(",W=")).unwrap_or(provisional.len());
            let keep = TEMPORARY_NAME_PREFIX.saturating_sub(provisional.len() - fields).min(fields);
            provisional = format!("{}{}", &provisional[..keep], &provisional[fields..]);
        }
        provisional.push_str(&format!(",P={}", std::process::id()));
        let part = PartFile::create_in(&self.root.join("tmp"), &self.root.join("new").join(&provisional))?;
        let content_digest = uid.is_none().then(Sha256::new);
        self.message = Some(InFlight { part, uid: uid.map(str::to_string), size, pending_cr: false, content_digest });
        Ok(())
    }

    fn data(&mut self, chunk: &[u8]) -> Result<()> {
        let m = self.message.as_mut().expect("data after begin");
        let lf = crlf_to_lf(chunk, &mut m.pending_cr);
        if let Some(d) = m.content_digest.as_mut() {
            d.update(&lf);
        }
        m.part.write_all(&lf).map_err(Error::local_file(format!("writing into the Maildir {}", self.root.display())))
    }

    fn end(&mut self) -> Result<()> {
        let mut m = self.message.take().expect("end after begin");
        let write_error = Error::local_file(format!("writing into the Maildir {}", self.root.display()));
        if std::mem::take(&mut m.pending_cr) {
            m.part.write_all(b"\r").map_err(write_error)?;
        }
        let name = match (&m.uid, m.content_digest.take()) {
            (Some(uid), _) => file_name(uid, self.account.as_deref(), m.size),
            (None, Some(digest)) => content_name(digest, m.size),
            (None, None) => unreachable!("a message without UID has a digest"),
        };
        if self.present()?.contains(&name) {
            // Delivered before (found by content): the copy is dropped.
            self.unflushed = true;
            return Ok(());
        }
        if self.batch_fs.is_some() {
            // Renamed into new/ at the flush, after its data is on disk.
            let closed = m.part.close_unflushed()?;
            self.present()?.insert(name.clone());
            self.pending.push((closed, name));
            return Ok(());
        }
        let final_path = self.root.join("new").join(&name);
        m.part.commit_to(&final_path)?;
        self.present()?.insert(name);
        self.unflushed = true;
        Ok(())
    }

    fn abandon(&mut self) {
        // Dropping the part removes the partial file.
        self.message = None;
    }

    fn flush(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            if let Err(e) = self.flush_pending(pending) {
                // Not delivered: what was pending is gone from tmp/ (and new/
                // has not been flushed), so no name of it counts as present.
                self.present = None;
                return Err(e);
            }
        }
        if std::mem::take(&mut self.unflushed) {
            for sub in ["new", "cur"] {
                let dir = self.root.join(sub);
                sync_directory(&dir).map_err(Error::local_file(format!("flushing the Maildir {}", dir.display())))?;
            }
        }
        Ok(())
    }
}

impl Maildir {
    /// The batch's messages: one `syncfs` for all their data, then each
    /// renamed into new/ (the caller flushes new/). On an error the files
    /// not yet renamed are removed.
    fn flush_pending(&mut self, pending: Vec<(ClosedPart, String)>) -> Result<()> {
        let tmp = self.root.join("tmp");
        let fs = self.batch_fs.as_ref().expect("pending only with batch_fs");
        match syncfs(fs) {
            Ok(()) => {}
            // Refused (a sandbox, an old system): one flush per file.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                for (part, _) in &pending {
                    part.sync().map_err(Error::local_file(format!("flushing into the Maildir {}", tmp.display())))?;
                }
            }
            Err(e) => return Err(Error::local_file(format!("flushing the Maildir {}", tmp.display()))(e)),
        }
        let new = self.root.join("new");
        for (part, name) in pending {
            let path = new.join(&name);
            part.rename_to(&path).map_err(Error::local_file(path.display()))?;
            self.unflushed = true;
        }
        Ok(())
    }
}

/// `chunk` with CRLF turned into LF; a CR at the end of a chunk waits in
/// `pending_cr` for the next one.
fn crlf_to_lf(chunk: &[u8], pending_cr: &mut bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() + 1);
    let mut rest = chunk;
    if std::mem::take(pending_cr) && !rest.starts_with(b"\n") {
        out.push(b'\r');
    }
    while let Some(i) = memchr::memchr(b'\r', rest) {
        out.extend_from_slice(&rest[..i]);
        match rest.get(i + 1) {
            Some(b'\n') => {}
            Some(_) => out.push(b'\r'),
            None => *pending_cr = true,
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mailtls-maildir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn deliver(m: &mut Maildir, uid: Option<&str>, chunks: &[&[u8]]) {
        let size = chunks.iter().map(|c| c.len() as u64).sum();
        m.begin(uid, size).unwrap();
        for c in chunks {
            m.data(c).unwrap();
        }
        m.end().unwrap();
        m.flush().unwrap();
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

    #[test]
    fn crlf_becomes_lf_across_chunk_boundaries_and_lone_crs_stay() {
        let whole = b"a\r\nb\rc\r\r\n\r";
        for split in 0..=whole.len() {
            let mut pending = false;
            let mut out = crlf_to_lf(&whole[..split], &mut pending);
            out.extend(crlf_to_lf(&whole[split..], &mut pending));
            if pending {
                out.push(b'\r');
            }
            assert_eq!(out, b"a\nb\rc\r\n\r", "split at {split}");
        }
    }

    #[test]
    fn names_are_safe_distinct_and_stable() {
        assert_eq!(file_name("0000000158f5a6b1", None, 120), "0000000158f5a6b1,W=120");
        assert_eq!(file_name("0000000158f5a6b1", Some("1a2b3c4d"), 120), "0000000158f5a6b1,A=1a2b3c4d,W=120");
        assert_eq!(file_name("AbC", None, 1), "%41b%43,W=1");
        assert_eq!(file_name("../x:2,S", None, 9), "%2E%2E%2Fx%3A2%2C%53,W=9");
        assert_ne!(file_name("abc", None, 1), file_name("ABC", None, 1));
        let longest = file_name(&"~".repeat(70), None, u64::MAX - 1);
        assert!(longest.len() < 240, "{}", longest.len());
        for uid in ["a/b", "a\\b", ".hidden", "a:b", "a*b?c<d>e|f\"g", "a,W=3"] {
            let name = file_name(uid, None, 3);
            assert!(!name.starts_with('.') && name.bytes().all(|b| !b"/\\:*?<>|\"".contains(&b)), "{name}");
            assert_eq!(name.matches(",W=").count(), 1, "{name}");
        }
    }

    #[test]
    fn delivery_writes_lf_files_into_new_and_is_idempotent_across_new_and_cur() {
        let root = scratch("deliver");
        let mut m = Maildir::open(&root).unwrap();
        deliver(&mut m, Some("U1/x"), &[b"Subject: one\r", b"\n\r\nbody\r\n"]);
        assert_eq!(files(&root.join("new")), vec![(file_name("U1/x", None, 22), b"Subject: one\n\nbody\n".to_vec())]);
        assert!(files(&root.join("tmp")).is_empty(), "nothing left in tmp/");
        assert!(m.contains("U1/x", 22).unwrap());
        assert!(!m.contains("U1/x", 23).unwrap(), "another size is another message");

        // A reader moved it to cur/ and flagged it; a fresh sync (new
        // lookup) still finds it.
        let name = file_name("U1/x", None, 22);
        std::fs::rename(root.join("new").join(&name), root.join("cur").join(format!("{name}:2,S"))).unwrap();
        let mut m = Maildir::open(&root).unwrap();
        assert!(m.contains("U1/x", 22).unwrap());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn messages_without_uid_are_named_by_content_and_delivered_once() {
        let root = scratch("nouid");
        let mut m = Maildir::open(&root).unwrap();
        deliver(&mut m, None, &[b"same\r\n"]);
        deliver(&mut m, None, &[b"same\r\n"]);
        deliver(&mut m, None, &[b"other\r\n"]);
        let new = files(&root.join("new"));
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(new.iter().all(|(n, _)| n.starts_with("x-sha256-")));
        assert!(files(&root.join("tmp")).is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_batch_reaches_new_only_at_its_flush_and_an_unflushed_one_leaves_nothing() {
        let root = scratch("batch");
        let mut m = Maildir::open(&root).unwrap();
        let batched = m.batch_fs.is_some();
        for uid in ["a", "b", "c"] {
            m.begin(Some(uid), 3).unwrap();
            m.data(b"x\r\n").unwrap();
            m.end().unwrap();
        }
        if batched {
            // Nothing visible in new/ before the data is flushed.
            assert!(files(&root.join("new")).is_empty());
            let tmp = files(&root.join("tmp"));
            assert_eq!(tmp.len(), 3, "{tmp:?}");
            assert!(tmp.iter().all(|(n, body)| n.contains(&format!(",P={}.", std::process::id())) && body == b"x\n"));
        }
        m.flush().unwrap();
        let new: Vec<String> = files(&root.join("new")).into_iter().map(|(n, _)| n).collect();
        assert_eq!(new, ["a,W=3", "b,W=3", "c,W=3"]);
        assert!(files(&root.join("tmp")).is_empty());

        // Ended but never flushed (the sync failed): removed with the Maildir.
        m.begin(Some("d"), 3).unwrap();
        m.data(b"y\r\n").unwrap();
        m.end().unwrap();
        drop(m);
        assert!(files(&root.join("tmp")).is_empty());
        assert_eq!(files(&root.join("new")).len(), 3);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn stale_partial_files_of_dead_writers_or_older_than_36_hours_go_and_others_stay() {
        let root = scratch("stale");
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        // A PID that ran and ended (a reaped child's is not reused at once).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let tmp = root.join("tmp");
        let put = |name: &str, age_hours: u64| {
            let path = tmp.join(name);
            std::fs::write(&path, b"partial").unwrap();
            let when = SystemTime::now() - Duration::from_secs(age_hours * 3600);
            File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
        };
        put(&format!(".u1,W=10,P={dead}.00112233aabbccdd.mailtls-part"), 0); // killed sync: goes
        put(&format!(".u2,W=10,P={me}.00112233aabbccdd.mailtls-part"), 0); // a live sync: stays
        put(&format!(".u3,W=10,P={me}.00112233aabbccdd.mailtls-part"), 37); // live but 37 h old: goes
        put(".u4,W=10.00112233aabbccdd.mailtls-part", 1); // no PID (older version), fresh: stays
        put(".u5,W=10.00112233aabbccdd.mailtls-part", 40); // no PID, 40 h: goes
        put("1700000000.M1P2.host", 100); // another program's: never ours to remove
        put(&format!(".notours,P={dead}.mailtls-part"), 100); // not a Maildir name of ours
        let _m = Maildir::open(&root).unwrap();
        let left: Vec<String> = files(&tmp).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            left,
            [
                format!(".notours,P={dead}.mailtls-part"),
                ".u4,W=10.00112233aabbccdd.mailtls-part".to_string(),
                format!(".u2,W=10,P={me}.00112233aabbccdd.mailtls-part"),
                "1700000000.M1P2.host".to_string(),
            ]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_pid_is_read_from_partial_names() {
        assert_eq!(part_writer(".abc,W=12,P=4711.00ff00ff00ff00ff.mailtls-part"), Some(4711));
        assert_eq!(part_writer(".abc,W=12.00ff00ff00ff00ff.mailtls-part"), None);
        assert_eq!(part_writer(".abc,W=12,P=0.00ff.mailtls-part"), None);
        assert!(process_runs(std::process::id()));
    }

    #[test]
    fn an_abandoned_message_leaves_nothing_and_a_file_in_the_way_is_an_error() {
        let root = scratch("abandon");
        let mut m = Maildir::open(&root).unwrap();
        m.begin(Some("u"), 10).unwrap();
        m.data(b"half").unwrap();
        m.abandon();
        assert!(files(&root.join("tmp")).is_empty() && files(&root.join("new")).is_empty());
        std::fs::remove_dir_all(&root).unwrap();

        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("new"), b"").unwrap();
        assert!(matches!(Maildir::open(&root), Err(Error::LocalFile { .. })));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
