//! The lock that keeps two syncs of one account apart: a lock file beside
//! the state file, taken without waiting. It is a file of its own because
//! compaction replaces the state file (a lock on the old file would not
//! stop a sync that opens the new one). The operating system drops the
//! lock when the process ends, however it ends.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Held for as long as the sync runs.
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

/// The lock file of a state file: its name with ".lock" added.
pub(crate) fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl StateLock {
    /// Take the lock of `state`, or fail at once with
    /// [`Error::StateLocked`] if another sync holds it.
    pub(crate) fn acquire(state: &Path) -> Result<StateLock> {
        let path = lock_path(state);
        let file = open_exclusive(&path).map_err(|e| {
            if is_held_elsewhere(&e) {
                Error::StateLocked(state.display().to_string())
            } else {
                Error::local_file(format!("the lock file {}", path.display()))(e)
            }
        })?;
        Ok(StateLock { _file: file })
    }
}

#[cfg(unix)]
fn open_exclusive(path: &Path) -> std::io::Result<File> {
    use std::os::unix::io::AsRawFd;
    let file = crate::durable::private_file().read(true).write(true).create(true).truncate(false).open(path)?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(unix)]
fn is_held_elsewhere(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// Windows: the file opened with no sharing at all, so a second open fails
/// with a sharing violation until this handle closes.
#[cfg(windows)]
fn open_exclusive(path: &Path) -> std::io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    crate::durable::private_file().read(true).write(true).create(true).truncate(false).share_mode(0).open(path)
}

#[cfg(windows)]
fn is_held_elsewhere(e: &std::io::Error) -> bool {
    const ERROR_SHARING_VIOLATION: i32 = 32;
    e.raw_os_error() == Some(ERROR_SHARING_VIOLATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_at_once_and_the_first_release_frees_it() {
        let dir = std::env::temp_dir().join(format!("mailtls-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("account.state");
        let first = StateLock::acquire(&state).unwrap();
        // flock locks belong to the open file description: a second open in
        // the same process conflicts just as another process would.
        match StateLock::acquire(&state) {
            Err(Error::StateLocked(path)) => assert!(path.ends_with("account.state"), "{path}"),
            other => panic!("expected StateLocked, got {other:?}"),
        }
        drop(first);
        StateLock::acquire(&state).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
