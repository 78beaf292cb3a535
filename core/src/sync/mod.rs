//! The one place that names atomics, cells, locks and threads.
//!
//! Under `cfg(loom)` every item re-exports loom's model-checked version, so the ring's
//! protocols can be explored exhaustively by the models in `ring/loom_models.rs`. Nothing else
//! in the crate may import `std::sync::atomic`, `std::cell::UnsafeCell` or `std::thread`
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
    /// (`None`: no limit); returns whether the timeout ended the wait. Spurious wake-ups are
    /// possible; callers re-check their condition.
    #[cfg(not(loom))]
    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Option<std::time::Duration>) -> bool {
        match timeout {
            Some(t) => self.inner.wait_for(guard, t).timed_out(),
            None => {
                self.inner.wait(guard);
                false
            }
        }
    }

    /// Releases the guard's lock and blocks until notified. Loom models wait without a
    /// timeout, so a lost wake-up shows up as a deadlock that loom reports.
    #[cfg(loom)]
    pub(crate) fn wait<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        _timeout: Option<std::time::Duration>,
    ) -> MutexGuard<'a, T> {
        self.inner.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        self.inner.notify_all();
    }
}
