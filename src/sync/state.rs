//! The state file: which UIDs this client has saved, with their size and
//! when it first saw them. One file per account, locked while a sync runs.
//!
//! Text, one record a line, written in batches that each end with a commit
//! line carrying the batch's record count and digest:
//!
//! ```text
//! mailtls-sync-state 1
//! + <uid> <size> <first seen, Unix seconds>
//! = <records in the batch> <first 8 bytes of the batch's SHA-256, hex>
//! ```
//!
//! A batch is appended in one write and flushed to disk before anything is
//! deleted on its strength. So only the last batch can be torn by a crash
//! (missing its commit line, or holding bytes that never reached the disk,
//! which its digest shows): it is dropped, and its messages are simply new
//! again. Anything else that does not read back is [`Error::StateCorrupt`],
//! never "everything is new". A later record of a UID replaces an earlier
//! one. Compaction rewrites the file (temporary file, flush, rename,
//! directory flush) with only the live records.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::lock::StateLock;
use crate::durable::PartFile;
use crate::error::{Error, Result};

const HEADER: &[u8] = b"mailtls-sync-state 1\n";

/// What the state knows of one UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// The size the server gave (LIST) when it was saved.
    pub size: u64,
    /// When this client first saw the UID, in Unix seconds.
    pub first_seen: u64,
}

/// An open, locked state file and what it holds.
#[derive(Debug)]
pub(crate) struct State {
    path: PathBuf,
    _lock: StateLock,
    records: HashMap<String, Record>,
    /// Records in the file, superseded ones included: compaction's measure.
    lines: usize,
    /// Append handle; None until the file exists.
    file: Option<File>,
}

impl State {
    /// Lock and read the state at `path` (a missing file is an empty
    /// state). A torn last batch is cut off the file before anything is
    /// appended after it.
    pub(crate) fn open(path: &Path) -> Result<State> {
        let lock = StateLock::acquire(path)?;
        let file_error = || Error::local_file(format!("the sync state {}", path.display()));
        let data = match std::fs::read(path) {
            Ok(data) => Some(data),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(file_error()(e)),
        };
        let mut state = State { path: path.to_path_buf(), _lock: lock, records: HashMap::new(), lines: 0, file: None };
        let Some(data) = data else { return Ok(state) };
        let parsed = parse(&data).map_err(|detail| Error::StateCorrupt { path: path.display().to_string(), detail })?;
        let file = OpenOptions::new().append(true).open(path).map_err(file_error())?;
        if parsed.valid_len < data.len() {
            file.set_len(parsed.valid_len as u64).and_then(|_| file.sync_all()).map_err(file_error())?;
        }
        state.records = parsed.records;
        state.lines = parsed.lines;
        state.file = Some(file);
        Ok(state)
    }

    pub(crate) fn get(&self, uid: &str) -> Option<&Record> {
        self.records.get(uid)
    }

    /// Append a batch of records and flush it to disk: when this returns,
    /// the batch survives a crash or power cut.
    pub(crate) fn append(&mut self, batch: &[(String, Record)]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for (uid, record) in batch {
            check_uid(uid)?;
            self.records.insert(uid.clone(), *record);
        }
        let Some(file) = self.file.as_mut() else {
            // The first records of a new state: written whole, under its name.
            return self.rewrite();
        };
        let bytes = encode_batch(batch.iter().map(|(u, r)| (u.as_str(), r)));
        let file_error = Error::local_file(format!("the sync state {}", self.path.display()));
        file.write_all(&bytes).and_then(|_| file.sync_data()).map_err(file_error)?;
        self.lines += batch.len();
        Ok(())
    }

    /// Whether the file holds records that [`Self::compact`] with this
    /// `keep` would drop.
    pub(crate) fn would_compact(&self, keep: impl Fn(&str) -> bool) -> bool {
        self.lines > self.records.len() || self.records.keys().any(|uid| !keep(uid))
    }

    /// Keep only the records whose UID `keep` accepts, and rewrite the file
    /// with them alone.
    pub(crate) fn compact(&mut self, keep: impl Fn(&str) -> bool) -> Result<()> {
        self.records.retain(|uid, _| keep(uid));
        self.rewrite()
    }

    /// Write every record to a new file and put it in place of the old one.
    fn rewrite(&mut self) -> Result<()> {
        let mut uids: Vec<&String> = self.records.keys().collect();
        uids.sort();
        let mut bytes = HEADER.to_vec();
        if !uids.is_empty() {
            bytes.extend(encode_batch(uids.iter().map(|u| (u.as_str(), &self.records[*u]))));
        }
        let mut part = PartFile::create_beside(&self.path)?;
        let file_error = || Error::local_file(format!("the sync state {}", self.path.display()));
        part.write_all(&bytes).map_err(file_error())?;
        // Close the old handle first: Windows renames over an open file
        // only when every handle allows it.
        self.file = None;
        part.commit()?;
        self.file = Some(OpenOptions::new().append(true).open(&self.path).map_err(file_error())?);
        self.lines = self.records.len();
        Ok(())
    }
}

/// UIDs are RFC 1939's printable characters without space (the listing
/// parser checks): a record line cannot be broken by one.
fn check_uid(uid: &str) -> Result<()> {
    if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidArgument(format!("{uid:?} is not a POP3 unique id")));
    }
    Ok(())
}

fn encode_batch<'a>(records: impl Iterator<Item = (&'a str, &'a Record)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut count = 0usize;
    for (uid, record) in records {
        out.extend_from_slice(format!("+ {uid} {} {}\n", record.size, record.first_seen).as_bytes());
        count += 1;
    }
    let commit = format!("= {count} {}\n", digest(&out));
    out.extend_from_slice(commit.as_bytes());
    out
}

fn digest(records: &[u8]) -> String {
    Sha256::digest(records)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A state file read back.
#[derive(Debug)]
struct Parsed {
    records: HashMap<String, Record>,
    lines: usize,
    /// Bytes up to the end of the last whole batch; what follows is torn.
    valid_len: usize,
}

/// Read a state file. `Err` says why it is not one, or where it is damaged.
fn parse(data: &[u8]) -> std::result::Result<Parsed, String> {
    if !data.starts_with(HEADER) {
        return Err("it does not start with the line \"mailtls-sync-state 1\": not a mailtls sync state".into());
    }
    let mut parsed = Parsed { records: HashMap::new(), lines: 0, valid_len: HEADER.len() };
    let mut batch: Vec<(String, Record)> = Vec::new();
    let mut batch_start = HEADER.len();
    let mut batch_damaged = false;
    // A batch that did not read back: fine if it is the last one (torn by
    // a crash), corruption if a whole batch follows it.
    let mut torn_batch_at: Option<usize> = None;
    let mut at = HEADER.len();
    while let Some(len) = memchr::memchr(b'\n', &data[at..]) {
        let line = &data[at..at + len];
        let line_end = at + len + 1;
        if let Some(rest) = line.strip_prefix(b"+ ") {
            match parse_record(rest) {
                Some(record) => batch.push(record),
                None => batch_damaged = true,
            }
        } else if let Some(rest) = line.strip_prefix(b"= ") {
            let whole = !batch_damaged && parse_commit(rest) == Some((batch.len(), digest(&data[batch_start..at])));
            if whole {
                if let Some(torn) = torn_batch_at {
                    return Err(format!("the records at byte {torn} are damaged, and more follow them"));
                }
                parsed.lines += batch.len();
                parsed.records.extend(batch.drain(..));
                parsed.valid_len = line_end;
            } else {
                torn_batch_at.get_or_insert(batch_start);
                batch.clear();
            }
            batch_start = line_end;
            batch_damaged = false;
        } else {
            batch_damaged = true;
        }
        at = line_end;
    }
    Ok(parsed)
}

fn parse_record(rest: &[u8]) -> Option<(String, Record)> {
    let text = std::str::from_utf8(rest).ok()?;
    let mut words = text.split(' ');
    let uid = words.next().filter(|u| check_uid(u).is_ok())?;
    let size = words.next()?.parse().ok()?;
    let first_seen = words.next()?.parse().ok()?;
    if words.next().is_some() {
        return None;
    }
    Some((uid.to_string(), Record { size, first_seen }))
}

fn parse_commit(rest: &[u8]) -> Option<(usize, String)> {
    let text = std::str::from_utf8(rest).ok()?;
    let (count, digest) = text.split_once(' ')?;
    Some((count.parse().ok()?, digest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mailtls-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rec(size: u64, first_seen: u64) -> Record {
        Record { size, first_seen }
    }

    fn batch(uids: &[&str]) -> Vec<(String, Record)> {
        uids.iter().map(|u| (u.to_string(), rec(100, 7))).collect()
    }

    #[test]
    fn records_survive_reopening_and_later_records_win() {
        let dir = scratch("reopen");
        let path = dir.join("s");
        let mut state = State::open(&path).unwrap();
        assert!(state.records.is_empty());
        state.append(&batch(&["a", "b"])).unwrap();
        state.append(&[("a".to_string(), rec(200, 9))]).unwrap();
        drop(state);
        let state = State::open(&path).unwrap();
        assert_eq!(state.get("a"), Some(&rec(200, 9)));
        assert_eq!(state.get("b"), Some(&rec(100, 7)));
        assert_eq!(state.get("c"), None);
        assert_eq!(state.lines, 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_last_batch_is_dropped_and_cut_off_before_the_next_append() {
        let dir = scratch("torn");
        let path = dir.join("s");
        let mut state = State::open(&path).unwrap();
        state.append(&batch(&["a"])).unwrap();
        state.append(&batch(&["b", "c"])).unwrap();
        drop(state);
        let whole = std::fs::read(&path).unwrap();
        // Every cut inside the last batch, and a last batch whose middle
        // never reached the disk (zeros), lose that batch only.
        let last_batch = whole.len() - (b"+ b 100 7\n+ c 100 7\n".len() + b"= 2 0123456789abcdef\n".len());
        let mut damaged: Vec<Vec<u8>> = (last_batch..whole.len()).map(|cut| whole[..cut].to_vec()).collect();
        let mut zeroed = whole.clone();
        zeroed[last_batch + 2..last_batch + 5].fill(0);
        damaged.push(zeroed);
        for bytes in damaged {
            std::fs::write(&path, &bytes).unwrap();
            let mut state = State::open(&path).unwrap();
            assert_eq!(state.get("a"), Some(&rec(100, 7)));
            assert_eq!(state.get("b"), None, "{:?}", String::from_utf8_lossy(&bytes));
            state.append(&batch(&["d"])).unwrap();
            drop(state);
            let state = State::open(&path).unwrap();
            assert!(state.get("a").is_some() && state.get("d").is_some() && state.get("b").is_none());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_state_or_is_damaged_before_its_end_is_an_error() {
        let dir = scratch("corrupt");
        let path = dir.join("s");
        let mut state = State::open(&path).unwrap();
        state.append(&batch(&["a"])).unwrap();
        state.append(&batch(&["b"])).unwrap();
        drop(state);
        let whole = std::fs::read(&path).unwrap();
        let mut flipped = whole.clone();
        let first_record = HEADER.len() + 2;
        flipped[first_record] = b'z';
        for bytes in [b"".to_vec(), b"uid1 100\nuid2 200\n".to_vec(), b"mailtls-sync-state 2\n".to_vec(), flipped] {
            std::fs::write(&path, &bytes).unwrap();
            match State::open(&path) {
                Err(Error::StateCorrupt { path: p, detail }) => {
                    assert!(p.ends_with("/s") && !detail.is_empty(), "{p}: {detail}")
                }
                other => panic!("{:?}: expected StateCorrupt, got {other:?}", String::from_utf8_lossy(&bytes)),
            }
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "a corrupt state is left as it was");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compaction_keeps_only_live_records_in_a_fresh_file() {
        let dir = scratch("compact");
        let path = dir.join("s");
        let mut state = State::open(&path).unwrap();
        state.append(&batch(&["a", "b", "c"])).unwrap();
        state.append(&[("a".to_string(), rec(5, 1))]).unwrap();
        assert!(state.would_compact(|_| true), "a superseded record");
        state.compact(|uid| uid != "b").unwrap();
        assert!(!state.would_compact(|_| true));
        assert!(state.would_compact(|uid| uid != "c"));
        state.append(&batch(&["e"])).unwrap();
        drop(state);
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("+ ")).count(), 3, "{text}");
        let state = State::open(&path).unwrap();
        assert_eq!(state.get("a"), Some(&rec(5, 1)));
        assert_eq!(state.get("b"), None);
        assert!(state.get("c").is_some() && state.get("e").is_some());
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "the state and its lock file only: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_locked_state_is_refused_without_reading_it() {
        let dir = scratch("locked");
        let path = dir.join("s");
        let _held = State::open(&path).unwrap();
        assert!(matches!(State::open(&path), Err(Error::StateLocked(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
