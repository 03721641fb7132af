//! One process per SQLite file.
//!
//! SQLite is the embedded, single-node store: two `switchboard` processes on one file would each think
//! they drive every instance. The first process to open a file holds an exclusive lock on
//! `<file>.lock` (holding the pid) for as long as it runs; a second one is refused with a message that
//! names the file and the pid. The operating system releases the lock when the holder exits, however it
//! exits (kill -9 included), so a crashed process never blocks its restart. Opening the same file again
//! in the same process (tests, `seed` after `migrate`) is allowed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Why a SQLite file cannot be used by this process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the SQLite database {file} is in use by another switchboard process (pid {pid}); one SQLite file \
         serves one process — stop that one, or run several nodes on PostgreSQL"
    )]
    InUse { file: String, pid: String },
    #[error("cannot lock {lock}: {cause}")]
    Io { lock: String, cause: std::io::Error },
}

/// The locks this process holds, by database file; kept until the process exits.
fn held() -> &'static Mutex<HashMap<PathBuf, File>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, File>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// Takes the lock of the SQLite file `database` for this process (a no-op if it holds it already).
///
/// # Errors
/// [`Error::InUse`] when another process holds it; [`Error::Io`] when the lock file cannot be made.
pub fn lock_sqlite_file(database: &Path) -> Result<(), Error> {
    let key = database.canonicalize().unwrap_or_else(|_| database.to_path_buf());
    let mut held = held().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if held.contains_key(&key) {
        return Ok(());
    }
    let lock_path = PathBuf::from(format!("{}.lock", database.display()));
    let io = |cause| Error::Io { lock: lock_path.display().to_string(), cause };
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lock_path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(Error::InUse {
                file: database.display().to_string(),
                pid: if pid.is_empty() { "unknown".into() } else { pid.to_string() },
            });
        }
        Err(TryLockError::Error(cause)) => return Err(io(cause)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    held.insert(key, file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_process_may_open_a_file_twice() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("a.db");
        lock_sqlite_file(&file).unwrap();
        lock_sqlite_file(&file).unwrap();
        let pid = std::fs::read_to_string(folder.path().join("a.db.lock")).unwrap();
        assert_eq!(pid, std::process::id().to_string());
    }

    #[test]
    fn another_holder_is_refused_with_file_and_pid() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("b.db");
        // Another open file description stands in for another process: flock locks conflict between them.
        let mut other = File::create(folder.path().join("b.db.lock")).unwrap();
        other.try_lock().unwrap();
        write!(other, "4242").unwrap();
        let error = lock_sqlite_file(&file).unwrap_err().to_string();
        assert!(error.contains("b.db") && error.contains("pid 4242"), "{error}");
    }
}
