//! The data directory: its lock, file and directory modes, and the two ways ringbus changes
//! files safely (a directory fsync after every create, rename or delete; whole-file
//! replacement through a temporary file and a rename).

use std::fs::File;
use std::path::{Path, PathBuf};

use super::fs;
use super::fs::DIR_MODE;

use crate::config::validate_name;
use crate::error::Error;
use crate::sync::Mutex;

/// The configuration file's name in a topic directory: a directory of the data directory
/// that holds one is a persisted topic (`conf.rs` reads and writes it).
pub(crate) const TOPIC_CONF: &str = "topic.conf";

/// The data directory a bus has open: its path and lock.
#[derive(Debug)]
pub(crate) struct DataDir {
    pub(crate) path: PathBuf,
    /// Held open: the flock lives as long as this file.
    lock: File,
    /// Names of the memory-only topics of the bus, which `LOCK` lists for followers.
    memory_topics: Mutex<Vec<String>>,
}

/// The line that ends what `LOCK` says (older, longer contents may follow it).
pub(crate) const LOCK_END: &str = "end";

impl DataDir {
    /// Creates `path` if needed and takes its lock.
    ///
    /// # Errors
    /// [`Error::Locked`] when another bus holds it, [`Error::Io`].
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        create_dir(path)?;
        let lock_path = path.join("LOCK");
        let lock = fs::create_file(&lock_path, false)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), &e))?;
        lock_exclusive(&lock).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked { dir: path.display().to_string() }
            } else {
                Error::io(format!("locking {}", lock_path.display()), &e)
            }
        })?;
        let dir = Self { path: path.to_owned(), lock, memory_topics: Mutex::new(Vec::new()) };
        dir.describe(&[]);
        Ok(dir)
    }

    /// Notes in `LOCK` that topic `name` lives in this process's memory only, so a follower
    /// that asks for it is told so rather than waiting for its files.
    pub(crate) fn note_memory_topic(&self, name: &str) {
        let mut names = self.memory_topics.lock();
        names.push(name.to_owned());
        self.describe(&names);
    }

    /// Writes `LOCK`'s contents: `pid <owner>`, a `memory <topic>` line per memory-only topic,
    /// `end`. Followers read it (FORMAT.md: the lock file); it is never fsynced, since it
    /// describes a running process.
    fn describe(&self, memory_topics: &[String]) {
        let mut text = format!("pid {}\n", std::process::id());
        for name in memory_topics {
            text.push_str(&format!("memory {name}\n"));
        }
        text.push_str(LOCK_END);
        text.push('\n');
        if let Err(e) = fs::write_at(&self.lock, text.as_bytes(), 0) {
            crate::diag::warn!("{}: could not describe this bus in LOCK for followers: {e}", self.path.display());
        }
    }

    /// Names of the topics persisted here (see [`topic_names`]).
    pub(crate) fn topic_names(&self) -> Result<Vec<String>, Error> {
        topic_names(&self.path)
    }
}

/// Names of the topics persisted in data directory `dir` (directories with a `topic.conf`),
/// sorted. Reads only.
pub(crate) fn topic_names(dir: &Path) -> Result<Vec<String>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), &e))?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if validate_name(&name).is_err() || name == "LOCK" {
            continue;
        }
        // A topic directory, or a link posing as one: checked before anything in it is read.
        if entry.path().join(TOPIC_CONF).exists() || entry.file_type().is_ok_and(|t| t.is_symlink()) {
            check_entry(&entry.path(), true)?;
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// What `LOCK` says about the process holding data directory `dir`: its pid and its
/// memory-only topics; `None` when no process holds the lock now. Takes no lock: it looks the
/// lock up in `/proc/locks` by the file's inode.
pub(crate) fn lock_holder(dir: &Path) -> Option<(u32, Vec<String>)> {
    use std::os::unix::fs::MetadataExt;
    let lock = dir.join("LOCK");
    let inode = std::fs::symlink_metadata(&lock).ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF": the holder and the file's inode.
    let pid = locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let held = fields.get(1) == Some(&"FLOCK") && fields.get(3) == Some(&"WRITE");
        let ino = fields.get(5)?.rsplit(':').next()?.parse::<u64>().ok()?;
        (held && ino == inode).then(|| fields.get(4)?.parse::<u32>().ok()).flatten()
    })?;
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let memory = text
        .lines()
        .take_while(|l| *l != LOCK_END)
        .filter_map(|l| l.strip_prefix("memory ").map(str::to_owned))
        .collect();
    Some((pid, memory))
}

/// Creates `path` and its missing parents with `DIR_MODE` (`fs.rs`), durably: each directory
/// it creates has its entry fsynced in its parent, so a power cut cannot take it (and what is
/// later synced inside it) away.
pub(crate) fn create_dir(path: &Path) -> Result<(), Error> {
    let missing: Vec<&Path> = path.ancestors().take_while(|p| !p.as_os_str().is_empty() && !p.is_dir()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(path).map_err(|e| Error::io(format!("creating {}", path.display()), &e))?;
    for created in missing {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Creates the directory `path`, which must not exist yet, with `DIR_MODE` (`fs.rs`).
pub(crate) fn create_new_dir(path: &Path) -> Result<(), Error> {
    fs::create_new_dir(path).map_err(|e| Error::io(format!("creating {}", path.display()), &e))
}

/// `flock(LOCK_EX | LOCK_NB)`: fails with `WouldBlock` if another open file description holds it.
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    if try_lock(file, libc::LOCK_EX)? {
        Ok(())
    } else {
        Err(std::io::Error::from(std::io::ErrorKind::WouldBlock))
    }
}

/// `flock(how | LOCK_NB)` (`how`: `LOCK_EX` or `LOCK_SH`): whether it was taken (false:
/// another open file description holds a conflicting lock). The kernel releases it when the
/// file is closed or the process dies.
pub(crate) fn try_lock(file: &File, how: libc::c_int) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a file descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// Fsyncs a directory (after creating, renaming or deleting entries in it).
pub(crate) fn sync_dir(path: &Path) -> Result<(), Error> {
    fs::sync_dir(path).map_err(|e| Error::io(format!("syncing directory {}", path.display()), &e))
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old or the new content
/// whole: writes `<path>.tmp` (mode 0640), fsyncs it, renames it over `path`, fsyncs the
/// directory.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().expect("a file in a directory");
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let write = || -> std::io::Result<()> {
        let tmp = Path::new(&tmp);
        let f = fs::create_file(tmp, true)?;
        fs::write_at(&f, bytes, 0)?;
        fs::sync_data(&f)?;
        fs::rename(tmp, path)
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), &e))?;
    sync_dir(dir)
}

/// Checks an entry of the data directory before ringbus reads it: a regular file (or, with
/// `want_dir`, a directory) and not a symbolic link (ringbus follows none, so nothing outside
/// the directory is read), owned by the owner of the directory that holds it, and not
/// writable by every user. A directory written by someone else fails here with an error
/// naming the entry.
///
/// # Errors
/// [`Error::Io`] (kind `PermissionDenied` for an untrusted entry, `NotFound` when missing).
pub(crate) fn check_entry(path: &Path, want_dir: bool) -> Result<(), Error> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let refuse = |why: String| {
        Error::io(
            format!("opening {}", path.display()),
            &std::io::Error::new(std::io::ErrorKind::PermissionDenied, why),
        )
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(format!("opening {}", path.display()), &e))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(refuse("it is a symbolic link, and ringbus follows none in its data directory".into()));
    }
    if want_dir && !kind.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    if !want_dir && !kind.is_file() {
        return Err(refuse("it is not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(refuse(format!(
            "every user may write it (mode {mode:04o}; ringbus creates {:04o}): restore it with chmod",
            if want_dir { DIR_MODE } else { fs::FILE_MODE }
        )));
    }
    if let Some(parent) = path.parent() {
        let owner = std::fs::metadata(parent).map(|m| m.uid()).unwrap_or(meta.uid());
        if meta.uid() != owner {
            return Err(refuse(format!(
                "it belongs to user {} while its directory belongs to user {owner}: someone else wrote it",
                meta.uid()
            )));
        }
    }
    Ok(())
}
