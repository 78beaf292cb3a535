//! Waking a follower when the owner writes: inotify on the directories it reads.
//!
//! A watch on a partition directory reports every write to a file in it (`IN_MODIFY`, which
//! the kernel raises for `pwrite` and io_uring writes alike), new segments (`IN_CREATE`,
//! `IN_MOVED_TO`) and deletions; a watch on a group's directory reports members that come and
//! go (a process that dies closes its files: `IN_CLOSE_*`). The follower drains the queue,
//! looks at the files, and only then blocks in `poll(2)` on the inotify descriptor, so a write
//! after its look always wakes it and an idle follower sleeps in the kernel. Directories that
//! do not exist yet (an owner that has not started) are looked for again at every wake-up,
//! which is at least every [`RECHECK`].

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The longest a follower sleeps without looking at the files: the safety net for what
/// inotify cannot report (a directory that does not exist yet, a queue overflow).
pub(crate) const RECHECK: Duration = Duration::from_millis(100);

/// What a watch reports: files that appear, go, or are written (and closed after writing:
/// a process that dies closes its files). Never a file opened for reading, so a reader's own
/// looks never wake it or another reader.
const MASK: u32 =
    libc::IN_MODIFY | libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_CLOSE_WRITE | libc::IN_ONLYDIR;

/// An inotify instance and the directories it watches.
#[derive(Debug)]
pub(crate) struct Watch {
    fd: OwnedFd,
    /// Directories to watch, and their watch descriptor once watched.
    dirs: Vec<(PathBuf, Option<i32>)>,
}

impl Watch {
    /// A new inotify instance watching nothing.
    pub(crate) fn new() -> Result<Self, Error> {
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io("creating an inotify instance", &std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a descriptor we just created and own alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd, dirs: Vec::new() })
    }

    /// The inotify descriptor.
    pub(crate) fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Watches directory `dir` from now on (from when it exists, if it does not yet).
    pub(crate) fn add(&mut self, dir: &Path) {
        if !self.dirs.iter().any(|(d, _)| d == dir) {
            self.dirs.push((dir.to_owned(), None));
            self.watch_missing();
        }
    }

    /// Whether every directory is watched (none is still missing).
    fn complete(&self) -> bool {
        self.dirs.iter().all(|(_, wd)| wd.is_some())
    }

    /// Adds the watches of directories that have appeared.
    fn watch_missing(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        for (dir, wd) in self.dirs.iter_mut().filter(|(_, wd)| wd.is_none()) {
            let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { continue };
            // SAFETY: `path` is a NUL-terminated string that outlives the call; the descriptor
            // is ours.
            let w = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), path.as_ptr(), MASK) };
            if w >= 0 {
                *wd = Some(w);
            }
        }
    }

    /// Empties the event queue (without blocking), forgetting watches the kernel dropped (a
    /// deleted directory): call before looking at the files. Returns which directories had
    /// events: bit `i` for the `i`-th added (the 64th and later share bit 63).
    pub(crate) fn drain(&mut self) -> u64 {
        let mut fired = 0u64;
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: `buf` is writable for its length; the descriptor is ours and non-blocking.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let mut at = 0usize;
            let n = n as usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            while at + header <= n {
                // The kernel writes whole events: wd (i32), mask (u32), cookie (u32), len (u32),
                // then `len` bytes of name.
                let word = |i: usize| u32::from_ne_bytes(buf[at + i..at + i + 4].try_into().expect("4 bytes"));
                let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
                if let Some(i) = self.dirs.iter().position(|(_, w)| *w == Some(wd)) {
                    fired |= 1 << i.min(63);
                }
                if mask & libc::IN_IGNORED != 0 {
                    for (_, w) in self.dirs.iter_mut().filter(|(_, w)| *w == Some(wd)) {
                        *w = None;
                    }
                }
                at += header + len;
            }
        }
        self.watch_missing();
        fired
    }

    /// Blocks up to `timeout` until the queue holds an event (without taking it); true if it
    /// does, or if a directory is still missing (the caller should look at the files).
    pub(crate) fn wait_readable(&mut self, timeout: Duration) -> bool {
        self.watch_missing();
        if !self.complete() {
            std::thread::sleep(timeout.min(Duration::from_millis(20)));
            return true;
        }
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        n > 0
    }

    /// Blocks until something changes in a watched directory, `deadline` passes, or
    /// [`RECHECK`] has gone by (sooner while a directory is still missing).
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) {
        let now = Instant::now();
        let mut sleep = RECHECK;
        if let Some(d) = deadline {
            sleep = sleep.min(d.saturating_duration_since(now));
        }
        if !self.complete() {
            sleep = sleep.min(Duration::from_millis(20));
        }
        let ms = sleep.as_micros().div_ceil(1000) as libc::c_int;
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }
}
