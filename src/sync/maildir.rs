//! A Maildir destination: each message written in tmp/, flushed, renamed
//! into new/; new/ flushed once per batch ([`Destination::flush`]).
//!
//! The file holds the message as the server sent it, dot-unstuffed, with
//! CRLF line ends turned into LF (as Dovecot, mpop and getmail store mail
//! on Unix), no header added. Its name comes from the UID and the size
//! alone, `<UID, encoded>,W=<size>` (W= is the size with CRLF line ends,
//! the size LIST gives, as Dovecot uses it), so delivery is idempotent: a
//! message whose name is already in new/, or in cur/ with the ":2,flags"
//! that Maildir readers add, is not delivered again, even when the state
//! file that would have said so was lost.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Destination;
use crate::durable::{PartFile, sync_directory};
use crate::error::{Error, Result};

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
        Ok(Maildir { root: root.to_path_buf(), present: None, message: None, unflushed: false })
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

fn not_a_maildir(root: &Path, why: &str) -> Error {
    let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("not a Maildir: {why}"));
    Error::local_file(root.display())(e)
}

/// A Maildir file name without the info that readers add after ':' (or
/// ';' or '!' where ':' cannot be used in file names).
fn base_name(name: &str) -> &str {
    name.split([':', ';', '!']).next().unwrap_or(name)
}

/// The file name of a message: its UID, encoded, and its size.
///
/// Letters a–z, digits and '-' stand for themselves; every other byte,
/// capital letters included, is `%` and two hex digits. So the name holds
/// nothing a file system forbids or reads specially ('/', '\', ':', a
/// leading '.', ',' which starts Maildir fields), and two UIDs that differ
/// only in case stay apart on case-insensitive file systems (Windows,
/// macOS). A 70-character UID gives at most 210 characters.
pub(crate) fn file_name(uid: &str, size: u64) -> String {
    let mut name = String::with_capacity(uid.len() * 3 + 24);
    for b in uid.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
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
    fn contains(&mut self, uid: &str, size: u64) -> Result<bool> {
        let name = file_name(uid, size);
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
        let provisional = uid.map_or_else(|| format!("x-nouid,W={size}"), |u| file_name(u, size));
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
            (Some(uid), _) => file_name(uid, m.size),
            (None, Some(digest)) => content_name(digest, m.size),
            (None, None) => unreachable!("a message without UID has a digest"),
        };
        if self.present()?.contains(&name) {
            // Delivered before (found by content): the copy is dropped.
            self.unflushed = true;
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
        if std::mem::take(&mut self.unflushed) {
            for sub in ["new", "cur"] {
                let dir = self.root.join(sub);
                sync_directory(&dir).map_err(Error::local_file(format!("flushing the Maildir {}", dir.display())))?;
            }
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
        assert_eq!(file_name("0000000158f5a6b1", 120), "0000000158f5a6b1,W=120");
        assert_eq!(file_name("AbC", 1), "%41b%43,W=1");
        assert_eq!(file_name("../x:2,S", 9), "%2E%2E%2Fx%3A2%2C%53,W=9");
        assert_ne!(file_name("abc", 1), file_name("ABC", 1));
        let longest = file_name(&"~".repeat(70), u64::MAX - 1);
        assert!(longest.len() < 240, "{}", longest.len());
        for uid in ["a/b", "a\\b", ".hidden", "a:b", "a*b?c<d>e|f\"g", "a,W=3"] {
            let name = file_name(uid, 3);
            assert!(!name.starts_with('.') && name.bytes().all(|b| !b"/\\:*?<>|\"".contains(&b)), "{name}");
            assert_eq!(name.matches(",W=").count(), 1, "{name}");
        }
    }

    #[test]
    fn delivery_writes_lf_files_into_new_and_is_idempotent_across_new_and_cur() {
        let root = scratch("deliver");
        let mut m = Maildir::open(&root).unwrap();
        deliver(&mut m, Some("U1/x"), &[b"Subject: one\r", b"\n\r\nbody\r\n"]);
        assert_eq!(files(&root.join("new")), vec![(file_name("U1/x", 22), b"Subject: one\n\nbody\n".to_vec())]);
        assert!(files(&root.join("tmp")).is_empty(), "nothing left in tmp/");
        assert!(m.contains("U1/x", 22).unwrap());
        assert!(!m.contains("U1/x", 23).unwrap(), "another size is another message");

        // A reader moved it to cur/ and flagged it; a fresh sync (new
        // lookup) still finds it.
        let name = file_name("U1/x", 22);
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
