//! Every change ringbus makes to a data directory goes through here: creating directories and
//! files, writing, preallocating, syncing, renaming, deleting, and directory fsyncs. The
//! persister's bulk writes go through [`Io`](super::io::Io), which reports to the same place.
//!
//! One door matters for the power-loss simulator (`powerloss.rs`, built with the `power-loss`
//! feature): it sees every change made under a directory it is attached to, keeps what the
//! page cache holds apart from what is durable, and can cut the power. Without the feature
//! each function is the plain system call.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;

#[cfg(feature = "power-loss")]
use super::powerloss;

/// Files are created readable and writable by the owner, readable by the group.
pub(crate) const FILE_MODE: u32 = 0o640;
/// Directories likewise (plus search).
pub(crate) const DIR_MODE: u32 = 0o750;

/// Creates `path` and its missing parents with [`DIR_MODE`].
pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_path(path) {
        return sim.create_dir(path, true);
    }
    make_dir(path, true)
}

/// Creates the directory `path`, which must not exist yet, with [`DIR_MODE`].
pub(crate) fn create_new_dir(path: &Path) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_path(path) {
        return sim.create_dir(path, false);
    }
    make_dir(path, false)
}

/// The system call behind [`create_dir_all`] (`recursive`) and [`create_new_dir`].
pub(crate) fn make_dir(path: &Path, recursive: bool) -> io::Result<()> {
    DirBuilder::new().recursive(recursive).mode(DIR_MODE).create(path)
}

/// Opens `path` for reading and writing, creating it with [`FILE_MODE`] if it is missing;
/// with `truncate`, empties it.
pub(crate) fn create_file(path: &Path, truncate: bool) -> io::Result<File> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_path(path) {
        return sim.create_file(path, truncate);
    }
    open_for_create(path, truncate)
}

/// The system call behind [`create_file`].
pub(crate) fn open_for_create(path: &Path, truncate: bool) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(truncate).mode(FILE_MODE).open(path)
}

/// Writes all of `bytes` at `offset`.
pub(crate) fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_file(file) {
        return sim.write(file, &[(offset, bytes)], false);
    }
    file.write_all_at(bytes, offset)
}

/// Makes the file's data and the metadata needed to read it durable (`fdatasync`).
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_file(file) {
        return sim.write(file, &[], true);
    }
    file.sync_data()
}

/// Reserves `len` bytes for the file (so appends do not allocate blocks); a filesystem that
/// cannot preallocate gets the file extended instead.
pub(crate) fn allocate(file: &File, len: u64) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_file(file) {
        return sim.allocate(file, len);
    }
    fallocate(file, len)
}

/// The system call behind [`allocate`].
pub(crate) fn fallocate(file: &File, len: u64) -> io::Result<()> {
    let len = i64::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
    match fallocate_call(file, len) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => file.set_len(len as u64),
        Err(e) => Err(e),
    }
}

fn fallocate_call(file: &File, len: i64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Renames `from` to `to` (in the same directory), replacing `to`.
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_path(from) {
        return sim.rename(from, to);
    }
    std::fs::rename(from, to)
}

/// Deletes the file `path`.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_path(path) {
        return sim.remove_file(path);
    }
    std::fs::remove_file(path)
}

/// Makes the entries of directory `path` durable (after creating, renaming or deleting in it).
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(feature = "power-loss")]
    if let Some(sim) = powerloss::for_path(path) {
        return sim.sync_dir(path);
    }
    File::open(path)?.sync_all()
}
