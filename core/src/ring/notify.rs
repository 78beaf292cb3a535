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
//!
//! Tasks of the async API wait on the same notifiers, by the same protocol: a task's
//! [`Notifier::poll_ready`] registers its `Waker` under the lock and counts itself in
//! `waiters`, then fences and checks the condition (ready: it takes itself out again). A wake
//! takes every registered waker out, uncounts it and wakes it; the task's next poll checks
//! again and registers anew. A future dropped while registered takes its waker out
//! ([`Notifier::cancel`]), so nothing is left counted. Model:
//! `loom/park.rs::a_registered_task_is_woken_or_sees_the_condition`.
#![deny(unsafe_code)]

use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{heavy_fence, light_fence, AtomicU64, CachePadded, Condvar, Mutex, Ordering};

/// A waiting room for one condition (data available, space available).
#[derive(Debug)]
pub(crate) struct Notifier {
    /// Parked threads plus registered wakers (changed under the lock; read by wakers).
    waiters: CachePadded<AtomicU64>,
    /// Condvar waits so far (written under the lock).
    sleeps: AtomicU64,
    /// Waits the safety-net timeout ended although the condition had become true: wake-ups
    /// the protocol failed to deliver. Should stay 0.
    late: AtomicU64,
    /// Tasks woken so far (a statistic).
    task_wakes: AtomicU64,
    lock: Mutex<Wakers>,
    cond: Condvar,
}

/// The wakers of tasks waiting on a notifier: a slab whose slots carry a generation, so a
/// future's key to a slot that was woken (or reused since) no longer matches.
#[derive(Debug, Default)]
struct Wakers {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u64,
    waker: Option<Waker>,
}

/// A future's registration with one notifier: the slot its waker sits in, while it does.
/// Owned by the future; [`Notifier::cancel`] it when the future is dropped or done.
#[derive(Debug, Default)]
pub(crate) struct WakerSlot {
    key: Option<(usize, u64)>,
}

impl WakerSlot {
    /// A registration that holds no waker.
    pub(crate) const fn new() -> Self {
        Self { key: None }
    }
}

/// Wakers woken at once outside the lock; more are woken in further rounds.
const WAKE_BATCH: usize = 16;

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
            task_wakes: AtomicU64::new(0),
            lock: Mutex::new(Wakers::default()),
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

    /// Threads parked and tasks registered now.
    #[cfg(loom)]
    pub(crate) fn waiting(&self) -> u64 {
        self.waiters.load(Ordering::Relaxed)
    }

    /// Tasks woken so far.
    pub(crate) fn task_wakes(&self) -> u64 {
        self.task_wakes.load(Ordering::Relaxed)
    }

    /// The async side of [`park_until`](Self::park_until): `Ready` if `ready()` holds;
    /// otherwise registers the task's waker in `slot` (replacing the one registered before)
    /// and returns `Pending`, and a later [`notify`](Self::notify) wakes the task. `ready`
    /// reads with Acquire loads, as for `park_until`. Once `Ready`, nothing stays registered.
    pub(crate) fn poll_ready(
        &self,
        slot: &mut WakerSlot,
        cx: &mut Context<'_>,
        mut ready: impl FnMut() -> bool,
    ) -> Poll<()> {
        if ready() {
            self.cancel(slot);
            return Poll::Ready(());
        }
        let counted_before = {
            let mut w = self.lock.lock();
            match slot.key {
                Some((i, g)) if w.slots[i].generation == g && w.slots[i].waker.is_some() => {
                    let waker = w.slots[i].waker.as_mut().expect("checked");
                    if !waker.will_wake(cx.waker()) {
                        waker.clone_from(cx.waker());
                    }
                    true
                }
                _ => {
                    let i = w.free.pop().unwrap_or_else(|| {
                        w.slots.push(Slot::default());
                        w.slots.len() - 1
                    });
                    w.slots[i].waker = Some(cx.waker().clone());
                    slot.key = Some((i, w.slots[i].generation));
                    self.waiters.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
        };
        if !counted_before {
            // Orders the increment before the condition's loads (pairs with light_fence in
            // notify). A registration counted before was ordered by its own fence already.
            heavy_fence();
        }
        if ready() {
            self.cancel(slot);
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Takes the waker registered in `slot` out, if it is still there (a future that is
    /// dropped or done): it is no longer counted in `waiters`.
    pub(crate) fn cancel(&self, slot: &mut WakerSlot) {
        let Some((i, g)) = slot.key.take() else { return };
        let mut w = self.lock.lock();
        if w.slots[i].generation == g && w.slots[i].waker.is_some() {
            w.slots[i].waker = None;
            w.slots[i].generation += 1;
            w.free.push(i);
            self.waiters.fetch_sub(1, Ordering::Relaxed);
        }
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

    /// Wakes every sleeper, and every registered task, unconditionally (close, leave: rare
    /// paths). Wakers are taken out under the lock and woken outside it.
    pub(crate) fn wake_all(&self) {
        let mut w = self.lock.lock();
        self.cond.notify_all();
        let mut next = 0;
        // Every slot is either free or holds a waker.
        while w.free.len() < w.slots.len() {
            let mut batch: [Option<Waker>; WAKE_BATCH] = Default::default();
            let mut n = 0;
            while next < w.slots.len() && n < WAKE_BATCH {
                if let Some(waker) = w.slots[next].waker.take() {
                    w.slots[next].generation += 1;
                    w.free.push(next);
                    batch[n] = Some(waker);
                    n += 1;
                }
                next += 1;
            }
            self.waiters.fetch_sub(n as u64, Ordering::Relaxed);
            self.task_wakes.fetch_add(n as u64, Ordering::Relaxed);
            drop(w);
            for waker in batch.into_iter().flatten() {
                waker.wake();
            }
            if n < WAKE_BATCH {
                // The scan reached the end: a task registered since checks its condition
                // after its own fence, so it sees what this wake-up announced.
                return;
            }
            w = self.lock.lock();
        }
    }
}
