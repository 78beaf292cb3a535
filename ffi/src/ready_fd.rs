//! The readiness file descriptor of a subscription: an eventfd a helper thread keeps readable
//! while the reader may have something to read, for epoll, poll or select.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ringbus_core::Readiness;

use crate::args::put;
use crate::panic::boundary;
use crate::status::{fail, rb_status, RB_ERR_IO, RB_ERR_NULL_ARG};
use crate::subscription::{rb_subscription, Reader};

/// An eventfd kept readable while the reader may have something to read, by a helper thread.
pub(crate) struct ReadyFd {
    pub(crate) fd: OwnedFd,
    pub(crate) shared: Arc<FdShared>,
    pub(crate) thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
pub(crate) struct FdShared {
    /// The eventfd holds a count (is readable).
    pub(crate) signalled: Mutex<bool>,
    pub(crate) cleared: Condvar,
    pub(crate) stop: AtomicBool,
}

impl ReadyFd {
    pub(crate) fn new(readiness: Readiness) -> std::io::Result<Self> {
        // SAFETY: eventfd takes integers only and returns a new descriptor or -1.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let shared = Arc::new(FdShared::default());
        let (helper_shared, write_fd) = (shared.clone(), fd.as_raw_fd());
        let thread = std::thread::Builder::new().name("ringbus-readyfd".into()).spawn(move || {
            let s = helper_shared;
            while !s.stop.load(Ordering::Acquire) {
                if !readiness.wait(Some(Duration::from_millis(50))) {
                    continue;
                }
                let mut signalled = s.signalled.lock().unwrap_or_else(|e| e.into_inner());
                if !*signalled {
                    let one: u64 = 1;
                    // SAFETY: writes 8 bytes from a local to our eventfd, which outlives this
                    // thread (joined before the descriptor is closed).
                    unsafe { libc::write(write_fd, (&one as *const u64).cast(), 8) };
                    *signalled = true;
                }
                // Level-triggered: stay signalled until the reader finds nothing and clears it.
                while *signalled && !s.stop.load(Ordering::Acquire) {
                    signalled = s
                        .cleared
                        .wait_timeout(signalled, Duration::from_millis(50))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        })?;
        Ok(Self { fd, shared, thread: Some(thread) })
    }

    /// The reader found nothing: drain the eventfd so it stops being readable.
    pub(crate) fn clear(&self) {
        let mut signalled = self.shared.signalled.lock().unwrap_or_else(|e| e.into_inner());
        if *signalled {
            let mut count: u64 = 0;
            // SAFETY: reads 8 bytes into a local from our non-blocking eventfd.
            unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
            *signalled = false;
            self.shared.cleared.notify_all();
        }
    }
}

impl Drop for ReadyFd {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.cleared.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes a file descriptor to `out_fd` that is readable (level-triggered, for epoll, poll or
/// select) while the reader may have something to read: an event, or the end of a closed
/// topic. Do not read or close it: it belongs to the subscription and is closed by
/// `rb_subscription_free`. It stays readable until a poll of this subscription finds nothing
/// (returns `RB_ERR_TIMED_OUT`); it can be readable spuriously, never silent while an event
/// waits. The first call starts a helper thread for the subscription; a follower's
/// subscription or member needs none: its descriptor is its inotify instance, readable once
/// the owner has written since the last poll that found nothing.
///
/// Threads: one thread at a time per subscription (it may move between threads).
///
/// # Safety
/// `sub` NULL or live and unshared; `out_fd` writable.
#[no_mangle]
pub unsafe extern "C" fn rb_subscription_fd(sub: *mut rb_subscription, out_fd: *mut i32) -> rb_status {
    boundary! {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(s) = (unsafe { sub.as_mut() }) else { return fail(RB_ERR_NULL_ARG, "subscription is NULL") };
        if out_fd.is_null() {
            return fail(RB_ERR_NULL_ARG, "out_fd is NULL");
        }
        // A follower's descriptor is its inotify instance: readable once the owner wrote.
        let inotify = match &s.reader {
            Reader::Follow(f) => Some(std::os::fd::AsRawFd::as_raw_fd(f)),
            Reader::FollowMember(m) => Some(std::os::fd::AsRawFd::as_raw_fd(m)),
            _ => None,
        };
        if let Some(fd) = inotify {
            // SAFETY: checked non-NULL; writable per the contract.
            return unsafe { put(out_fd, fd) };
        }
        if s.fd.is_none() {
            let readiness = match &s.reader {
                Reader::Fanout(sub) => sub.readiness(),
                Reader::Member(m) => m.readiness(),
                Reader::Follow(_) | Reader::FollowMember(_) => unreachable!("answered above"),
            };
            match ReadyFd::new(readiness) {
                Ok(fd) => s.fd = Some(fd),
                Err(e) => return fail(RB_ERR_IO, format!("creating the readiness descriptor: {e}")),
            }
        }
        let fd = s.fd.as_ref().expect("set above").fd.as_raw_fd();
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { put(out_fd, fd) }
    }
}
