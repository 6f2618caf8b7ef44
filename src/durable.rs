//! Files that appear whole or not at all: written under a temporary name
//! beside the target, flushed to disk, renamed into place, and the
//! directory flushed, so that neither a failure nor a power cut leaves a
//! partial file under the final name.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Attempts at an unused temporary name before giving up.
const NAME_ATTEMPTS: usize = 16;

/// A temporary file beside its final path; removed unless committed.
#[derive(Debug)]
pub(crate) struct PartFile {
    writer: Option<BufWriter<File>>,
    temporary: PathBuf,
    path: PathBuf,
}

impl PartFile {
    /// Create the temporary file beside `path`: exclusively (an existing
    /// file or link there is never opened or followed) and under a name
    /// that cannot be guessed in advance.
    pub(crate) fn create_beside(path: &Path) -> Result<PartFile> {
        let dir = path.parent().unwrap_or(Path::new(""));
        PartFile::create_in(dir, path)
    }

    /// Create the temporary file in `temporary_dir` (on the same file
    /// system as `path`, so the rename is atomic), as [`Self::create_beside`]
    /// does: a Maildir writes in tmp/ and renames into new/.
    pub(crate) fn create_in(temporary_dir: &Path, path: &Path) -> Result<PartFile> {
        let name = path.file_name().ok_or_else(|| Error::InvalidArgument("the path names no file".into()))?;
        let mut last_error = None;
        for _ in 0..NAME_ATTEMPTS {
            let mut temporary_name = std::ffi::OsString::from(".");
            temporary_name.push(name);
            temporary_name.push(format!(".{:016x}.mailtls-part", unguessable()));
            let temporary = temporary_dir.join(temporary_name);
            match private_file().write(true).create_new(true).open(&temporary) {
                Ok(file) => {
                    let writer = Some(BufWriter::with_capacity(64 * 1024, file));
                    return Ok(PartFile { writer, temporary, path: path.to_path_buf() });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(Error::local_file(temporary.display())(e)),
            }
        }
        let e = last_error.unwrap_or_else(|| std::io::Error::other("no free temporary name"));
        Err(Error::local_file(path.display())(e))
    }

    pub(crate) fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.writer.as_mut().expect("written before commit").write_all(data)
    }

    /// Flush the file to disk, rename it into place and flush the
    /// directory that holds it.
    pub(crate) fn commit(self) -> Result<()> {
        let path = self.path.clone();
        self.commit_leaving_directory()?;
        sync_directory_of(&path).map_err(Error::local_file(path.display()))
    }

    /// Flush the file to disk and rename it into place, but leave the
    /// directory to the caller: who renames many files flushes their
    /// directory once ([`sync_directory_of`]), and until then the names may
    /// not survive a power cut.
    pub(crate) fn commit_leaving_directory(self) -> Result<()> {
        let path = self.path.clone();
        self.commit_to(&path)
    }

    /// [`Self::commit_leaving_directory`] under another final name (in the
    /// same directory or file system as the one it was created for).
    pub(crate) fn commit_to(mut self, path: &Path) -> Result<()> {
        self.path = path.to_path_buf();
        let file_error = Error::local_file(self.path.display());
        let writer = self.writer.take().expect("committed once");
        let file = writer.into_inner().map_err(|e| e.into_error());
        let durable = file.and_then(|f| f.sync_all()).and_then(|_| std::fs::rename(&self.temporary, &self.path));
        durable.map_err(file_error)
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        // Unless it was renamed into place, remove the partial file.
        self.writer = None;
        let _ = std::fs::remove_file(&self.temporary);
    }
}

/// 64 bits the OS's random source seeded (std seeds each `RandomState`
/// from it): enough that a temporary name cannot be planted in advance.
fn unguessable() -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Flush the directory entry of `path` to disk, so a rename into it
/// survives a power cut.
pub(crate) fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_directory(p),
        _ => sync_directory(Path::new(".")),
    }
}

/// Flush a directory's entries to disk. Windows has no such call: NTFS
/// journals renames.
pub(crate) fn sync_directory(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_files_appear_whole_and_others_leave_nothing() {
        let dir = std::env::temp_dir().join(format!("mailtls-durable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("message.eml");
        let mut part = PartFile::create_beside(&target).unwrap();
        part.write_all(b"hello\r\n").unwrap();
        assert!(!target.exists(), "nothing under the final name before commit");
        part.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello\r\n");
        #[cfg(unix)]
        {
            // Mail is private: the tests run with umask 022, which would
            // leave a plain new file readable by everyone.
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }

        let mut abandoned = PartFile::create_beside(&dir.join("other.eml")).unwrap();
        abandoned.write_all(b"partial").unwrap();
        drop(abandoned);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("message.eml")], "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_never_followed() {
        let dir = std::env::temp_dir().join(format!("mailtls-durable-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        // The old, predictable temporary name, planted as a link.
        std::os::unix::fs::symlink(&victim, dir.join(".m.eml.mailtls-part")).unwrap();
        let mut part = PartFile::create_beside(&dir.join("m.eml")).unwrap();
        part.write_all(b"new").unwrap();
        part.commit().unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(dir.join("m.eml")).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Options for a new file only its owner can read: mail and the sync state
/// are private (as Dovecot and mpop store them), whatever the umask.
pub(crate) fn private_file() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}
