//! The one place that names atomics, cells, locks and threads.
//!
//! Under `cfg(loom)` the items the ring's protocols use re-export loom's model-checked
//! versions, so those protocols can be explored exhaustively by the models in `ring/loom/`.
//! The layers above the ring (`bus`, `log`, the clock), which are not built under loom, take
//! their atomics, locks and threads from here too (std's and parking_lot's); nothing else in
//! the crate imports `std::sync`, `std::cell::UnsafeCell`, `std::thread` or `parking_lot`
//! directly.

mod fence;
mod mem;

pub(crate) use crossbeam_utils::CachePadded;
pub(crate) use fence::{heavy_fence, init_fences, light_fence};
pub(crate) use mem::RingMemory;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence as atomic_fence, AtomicBool, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence as atomic_fence, AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

/// For the layers above the ring (never built under loom): weak references, a reader-writer
/// lock, one-time initialisation, threads, and the `usize` atomic of the clock's statics.
#[cfg(not(loom))]
pub(crate) use {
    parking_lot::RwLock,
    std::sync::atomic::AtomicUsize,
    std::sync::{Once, Weak},
    std::thread,
};

/// Gives the CPU to another thread (loom: lets the model switch threads).
#[inline]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// A pause inside a spin loop (loom: a yield, so models with spinning threads terminate).
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// A mutex with parking_lot's panic-free guard API, backed by loom's mutex under `cfg(loom)`.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
}

/// The guard returned by [`Mutex::lock`].
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;
/// The guard returned by [`Mutex::lock`].
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(value),
        }
    }

    /// Locks the mutex, blocking until it is free. Never poisons: the data is plain state that
    /// every holder leaves consistent before it can panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(loom)]
        return self.inner.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(not(loom))]
        return self.inner.lock();
    }
}

/// A condition variable paired with [`Mutex`].
#[derive(Debug, Default)]
pub(crate) struct Condvar {
    #[cfg(loom)]
    inner: loom::sync::Condvar,
    #[cfg(not(loom))]
    inner: parking_lot::Condvar,
}

impl Condvar {
    /// Creates a condition variable with no waiters.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Releases the guard's lock and blocks until notified or until `timeout` has passed
    /// (`None`: no limit); returns the guard and whether the timeout ended the wait. Spurious
    /// wake-ups are possible; callers re-check their condition.
    #[cfg(not(loom))]
    pub(crate) fn wait<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Option<std::time::Duration>,
    ) -> (MutexGuard<'a, T>, bool) {
        let timed_out = match timeout {
            Some(t) => self.inner.wait_for(&mut guard, t).timed_out(),
            None => {
                self.inner.wait(&mut guard);
                false
            }
        };
        (guard, timed_out)
    }

    /// As above, under loom: the timeout is ignored (models wait without one, so a lost
    /// wake-up shows up as a deadlock that loom reports) and never reported as the reason.
    #[cfg(loom)]
    pub(crate) fn wait<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        _timeout: Option<std::time::Duration>,
    ) -> (MutexGuard<'a, T>, bool) {
        (self.inner.wait(guard).unwrap_or_else(|e| e.into_inner()), false)
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        self.inner.notify_all();
    }
}
