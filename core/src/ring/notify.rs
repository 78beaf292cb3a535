//! Park and wake without lost wake-ups.
//!
//! A [`Notifier`] is where threads sleep when spinning and yielding did not find what they wait
//! for: readers wait on their topic's notifier for new frames, producers on a partition's for
//! free space. The protocol (see `sync/fence.rs` for the fences):
//!
//! - waiter: lock, `waiters += 1`, SeqCst fence, check the condition, wait on the condvar,
//!   re-check after every wake-up, `waiters -= 1`;
//! - waker: make the condition true (a Release store), SeqCst fence, and only if `waiters != 0`
//!   lock and notify.
//!
//! The fences make the two store-then-load sequences sequentially consistent, so either the
//! waker sees `waiters != 0` or the waiter sees the condition; the lock makes the notify land
//! after the waiter is inside `wait`. A waker that sees no waiter pays one relaxed load.
#![deny(unsafe_code)]

use std::time::{Duration, Instant};

use crate::sync::{heavy_fence, light_fence, AtomicU64, CachePadded, Condvar, Mutex, Ordering};

/// A waiting room for one condition (data available, space available).
#[derive(Debug)]
pub(crate) struct Notifier {
    waiters: CachePadded<AtomicU64>,
    /// Condvar waits so far (written under the lock).
    sleeps: AtomicU64,
    /// Waits the safety-net timeout ended although the condition had become true: wake-ups
    /// the protocol failed to deliver. Should stay 0.
    late: AtomicU64,
    lock: Mutex<()>,
    cond: Condvar,
}

impl Default for Notifier {
    fn default() -> Self {
        Self::new()
    }
}

/// Longest single sleep: a safety net that bounds the cost of a wake-up the protocol failed to
/// deliver. Correct runs never need it (the loom model checks that without it).
const MAX_SLEEP: Duration = Duration::from_millis(100);

impl Notifier {
    /// A notifier with no waiters.
    pub(crate) fn new() -> Self {
        Self {
            waiters: CachePadded::new(AtomicU64::new(0)),
            sleeps: AtomicU64::new(0),
            late: AtomicU64::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Sleeps until `ready()` returns true (returns true) or `deadline` passes (returns false).
    /// `ready` must read the condition with Acquire (or stronger) loads.
    pub(crate) fn park_until(&self, mut ready: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
        let mut guard = self.lock.lock();
        self.waiters.fetch_add(1, Ordering::Relaxed);
        // Orders the increment before the condition's loads (pairs with light_fence in notify).
        heavy_fence();
        let result = loop {
            if ready() {
                break true;
            }
            let timeout = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break false;
                    }
                    Some((d - now).min(MAX_SLEEP))
                }
                None => Some(MAX_SLEEP),
            };
            self.sleeps.fetch_add(1, Ordering::Relaxed);
            let timed_out;
            (guard, timed_out) = self.cond.wait(guard, timeout);
            if timed_out && timeout == Some(MAX_SLEEP) && ready() {
                // The safety net ended the sleep, not a wake-up: one was lost.
                self.late.fetch_add(1, Ordering::Relaxed);
                break true;
            }
        };
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
        result
    }

    /// (condvar waits, late wake-ups) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.sleeps.load(Ordering::Relaxed), self.late.load(Ordering::Relaxed))
    }

    /// Wakes every sleeper if there is one. Call after the Release store that made the
    /// condition true.
    #[inline]
    pub(crate) fn notify(&self) {
        // Orders the caller's condition store before the waiters load (pairs with heavy_fence).
        light_fence();
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.wake_all();
        }
    }

    /// Wakes every sleeper unconditionally (close, leave: rare paths).
    pub(crate) fn wake_all(&self) {
        let _guard = self.lock.lock();
        self.cond.notify_all();
    }
}
