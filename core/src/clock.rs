//! Timestamps for records that carry none.
//!
//! `Precise` reads `CLOCK_REALTIME` per call. `Coarse` reads a process-wide cached clock: while
//! any publisher of a `Coarse` topic is alive, a ticker thread (`ringbus-clock`) stores
//! `CLOCK_REALTIME_COARSE` into one atomic word every millisecond, and a publish loads that word
//! (one load of a line written once a millisecond) instead of calling `clock_gettime` (about
//! 6 ns here, a fifth of a single publish). The ticker stops once the last such publisher is
//! dropped. Without a ticker (before the first publisher, in a child process after `fork`, under
//! loom) the clock is read directly, and a child restarts the ticker on its first read.
//!
//! The atomics are plain process-wide statics, outside every loom model: std's, taken from
//! `sync` like every other atomic of the crate.

use crate::config::TimestampSource;

/// Nanoseconds since the Unix epoch from `source`. Never allocates; at most one clock read.
#[inline]
pub(crate) fn now(source: TimestampSource) -> u64 {
    match source {
        TimestampSource::Coarse => cached::coarse(),
        TimestampSource::Precise => read(TimestampSource::Precise),
    }
}

/// One read of the clock behind `source`.
fn read(source: TimestampSource) -> u64 {
    #[cfg(target_os = "linux")]
    {
        let clock = match source {
            TimestampSource::Coarse => libc::CLOCK_REALTIME_COARSE,
            TimestampSource::Precise => libc::CLOCK_REALTIME,
        };
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid, writable timespec; clock_gettime writes only it.
        if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
    }
    let _ = source;
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Keeps the cached coarse clock ticking while it lives: each publisher of a `Coarse` topic
/// holds one.
#[derive(Debug)]
pub(crate) struct CoarseClock(());

impl CoarseClock {
    pub(crate) fn hold() -> Self {
        cached::hold();
        Self(())
    }
}

impl Drop for CoarseClock {
    fn drop(&mut self) {
        cached::release();
    }
}

#[cfg(not(loom))]
mod cached {
    use std::time::Duration;

    use crate::sync::{thread, AtomicBool, AtomicU64, AtomicUsize, Once, Ordering};

    use super::{read, TimestampSource};

    /// How often the ticker refreshes the cached time.
    const TICK: Duration = Duration::from_millis(1);

    /// The cached `CLOCK_REALTIME_COARSE`; 0 while no ticker runs.
    static NOW: AtomicU64 = AtomicU64::new(0);
    /// Live [`super::CoarseClock`] holders.
    static HOLDERS: AtomicUsize = AtomicUsize::new(0);
    /// A ticker thread runs (or is being started).
    static RUNNING: AtomicBool = AtomicBool::new(false);
    /// The ticker thread is inside its loop (its start-up, which allocates, is over).
    static TICKING: AtomicBool = AtomicBool::new(false);
    static AT_FORK: Once = Once::new();

    #[inline]
    pub(super) fn coarse() -> u64 {
        match NOW.load(Ordering::Relaxed) {
            0 => uncached(),
            t => t,
        }
    }

    /// No ticker runs: read the clock, and start a ticker if publishers want one (a child
    /// process after `fork` lost its parent's ticker).
    #[cold]
    fn uncached() -> u64 {
        if HOLDERS.load(Ordering::Relaxed) > 0 {
            start();
        }
        read(TimestampSource::Coarse)
    }

    pub(super) fn hold() {
        if HOLDERS.fetch_add(1, Ordering::AcqRel) == 0 {
            start();
        }
    }

    pub(super) fn release() {
        HOLDERS.fetch_sub(1, Ordering::AcqRel);
    }

    /// Starts the ticker unless one runs.
    fn start() {
        if RUNNING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return;
        }
        AT_FORK.call_once(|| {
            // SAFETY: the handler only stores to atomics (async-signal-safe), and the function
            // pointer stays valid for the life of the process.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        });
        NOW.store(read(TimestampSource::Coarse), Ordering::Relaxed);
        let spawned = thread::Builder::new().name("ringbus-clock".into()).spawn(tick);
        if spawned.is_err() {
            // No thread: publishers read the clock themselves.
            NOW.store(0, Ordering::Relaxed);
            RUNNING.store(false, Ordering::Release);
            return;
        }
        // Wait (at most 100 ms) for the thread's start-up to end, so that its allocations
        // happen inside the `Topic::publisher` call that started it, never during publishing.
        let started = std::time::Instant::now();
        while !TICKING.load(Ordering::Acquire) && started.elapsed() < Duration::from_millis(100) {
            thread::yield_now();
        }
    }

    fn tick() {
        TICKING.store(true, Ordering::Release);
        loop {
            thread::sleep(TICK);
            if HOLDERS.load(Ordering::Acquire) == 0 {
                NOW.store(0, Ordering::Relaxed);
                TICKING.store(false, Ordering::Release);
                RUNNING.store(false, Ordering::Release);
                // A publisher that came meanwhile may have seen RUNNING still set: go on for it.
                if HOLDERS.load(Ordering::Acquire) == 0
                    || RUNNING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_err()
                {
                    return;
                }
                TICKING.store(true, Ordering::Release);
            }
            NOW.store(read(TimestampSource::Coarse), Ordering::Relaxed);
        }
    }

    /// The child of a `fork` has no ticker thread: forget the parent's.
    extern "C" fn after_fork_in_child() {
        NOW.store(0, Ordering::Relaxed);
        TICKING.store(false, Ordering::Relaxed);
        RUNNING.store(false, Ordering::Relaxed);
    }
}

#[cfg(loom)]
mod cached {
    use super::{read, TimestampSource};

    pub(super) fn coarse() -> u64 {
        read(TimestampSource::Coarse)
    }

    pub(super) fn hold() {}

    pub(super) fn release() {}
}
