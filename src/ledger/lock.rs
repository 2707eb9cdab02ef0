//! Ledger: the run lock — one run per campaign ledger at a time (`<db>.lock` file → `RunLock`).
//!
//! Why an OS file lock (`File::try_lock`, i.e. `flock` on Unix, `LockFileEx` on Windows) and not
//! a pid file checked for liveness: the kernel releases the lock the instant its holder dies,
//! however it dies (SIGKILL, OOM, power loss), so a stale lock cannot exist and needs no
//! clean-up. A pid file has to guess whether its pid is still *our* run: pids are reused (after a
//! reboot the pid of a dead run may belong to any process), the check-then-write is racy between
//! two cron runs starting together, and it breaks across containers with separate pid
//! namespaces. The pid written inside the lock file is only for the message
//! "already running (pid N)"; it is never used to decide anything.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Held for the duration of a run; dropping it (or the process dying) releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live run holds the lock. `pid` is `None` if the holder had not written it yet.
    #[error(
        "already running{}: {} is locked by another run",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        path.display()
    )]
    Held { path: PathBuf, pid: Option<u32> },
    #[error("cannot use lock file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl RunLock {
    /// Takes the lock beside the ledger (`campaign.db` → `campaign.db.lock`), creating the file
    /// and its folder if needed. Never blocks: a second run fails at once with `Held`.
    pub fn acquire(db_path: &Path) -> Result<RunLock, LockError> {
        let path = lock_path(db_path);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        // No truncate on open: the file may belong to a live holder whose pid we want to read.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let mut tries = 0;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                // `status` probes the lock for an instant (see `RunLock::is_free`); a run
                // starting in that instant waits it out instead of reporting a run that is not
                // there. A real holder keeps the lock far longer than these few milliseconds.
                Err(TryLockError::WouldBlock) if tries < PROBE_RETRIES => {
                    tries += 1;
                    std::thread::sleep(PROBE_WAIT);
                }
                Err(TryLockError::WouldBlock) => {
                    let pid = read_pid(&mut file);
                    return Err(LockError::Held { path, pid });
                }
                Err(TryLockError::Error(source)) => return Err(io_err(source)),
            }
        }
        write_pid(&mut file).map_err(io_err)?;
        Ok(RunLock { file, path })
    }

    /// Whether no run holds the lock of the ledger at `db_path`, found by taking and at once
    /// releasing it (there is no way to ask without taking it). Never creates the lock file:
    /// without one, no run has ever held it. Errors (a lock file that cannot be opened) count as
    /// "not free", so a reader that cannot tell leaves the ledger alone.
    pub fn is_free(db_path: &Path) -> bool {
        let path = lock_path(db_path);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) => return e.kind() == io::ErrorKind::NotFound,
        };
        let free = file.try_lock().is_ok();
        if free {
            let _ = file.unlock();
        }
        free
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear our pid while still holding the lock so nobody reads a finished run's pid; the
        // file itself stays: deleting it would let a waiter lock the old inode while a newcomer
        // creates and locks a new one, and two runs would both hold "the" lock.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// How often, and how long apart, `acquire` tries again when the lock is taken: long enough to
/// outlast a `status` probe, short enough that a second run still exits 6 at once.
const PROBE_RETRIES: u32 = 5;
const PROBE_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// `<db>.lock`, appended to the full file name so `a.db` and `a.sqlite` never share a lock.
pub fn lock_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_with_holder_pid_until_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("sub").join("c.db");
        let first = RunLock::acquire(&db).expect("first acquire");
        assert_eq!(first.path(), dir.path().join("sub").join("c.db.lock"));
        match RunLock::acquire(&db) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        RunLock::acquire(&db).expect("acquire after release");
    }

    #[test]
    fn stale_lock_file_of_a_dead_run_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("c.db");
        // A run that died left its pid behind; no process holds the OS lock.
        fs::write(lock_path(&db), "999999999\n").expect("write stale lock");
        let lock = RunLock::acquire(&db).expect("stale lock is taken over");
        let text = fs::read_to_string(lock.path()).expect("read lock");
        assert_eq!(text.trim(), std::process::id().to_string());
    }

    #[test]
    fn is_free_probes_without_keeping_or_creating_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("c.db");
        assert!(RunLock::is_free(&db), "no lock file: never held");
        assert!(!lock_path(&db).exists(), "the probe creates nothing");
        let held = RunLock::acquire(&db).expect("acquire");
        assert!(!RunLock::is_free(&db));
        drop(held);
        assert!(RunLock::is_free(&db));
        // The probe let go: a run can take the lock right after it.
        RunLock::acquire(&db).expect("acquire after a probe");
    }

    #[test]
    fn held_message_names_the_pid() {
        let err = LockError::Held {
            path: PathBuf::from("c.db.lock"),
            pid: Some(42),
        };
        assert_eq!(
            err.to_string(),
            "already running (pid 42): c.db.lock is locked by another run"
        );
    }
}
