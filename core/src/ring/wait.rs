//! How a thread waits for data or space: the [`WaitStrategy`] and its loop.
#![deny(unsafe_code)]

use std::time::Instant;

use super::notify::Notifier;
use crate::sync::{spin_loop, yield_now};

/// How readers wait for events and producers wait for space.
///
/// Every strategy re-checks the condition between pauses, so none of them can miss an event;
/// they differ in latency and in what they cost idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin on the CPU with a pause hint. Lowest latency; burns a core per waiting thread and
    /// collapses when threads outnumber cores. For pinned, isolated cores only.
    BusySpin,
    /// Spin briefly, then `sched_yield` between checks. Low latency, a core per waiter when idle,
    /// but lets other threads run when cores are oversubscribed.
    Yield,
    /// Spin briefly, yield a few times, then park on a condition variable until a producer (or
    /// reader, for a producer waiting on space) wakes it. Producers pay one relaxed load per
    /// publish to learn whether anyone is parked and wake only then. The default.
    #[default]
    Park,
}

/// Spins before the first yield.
const SPINS: u32 = 256;
/// Yields before parking (Park only).
const YIELDS: u32 = 200;

impl WaitStrategy {
    /// Waits until `ready()` is true (returns true) or `deadline` passes (returns false).
    /// `ready` reads its condition with Acquire loads.
    pub(crate) fn wait(self, notifier: &Notifier, mut ready: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
        let expired = |d: Option<Instant>| d.is_some_and(|d| Instant::now() >= d);
        for _ in 0..SPINS {
            if ready() {
                return true;
            }
            spin_loop();
        }
        match self {
            WaitStrategy::BusySpin => loop {
                for _ in 0..SPINS {
                    if ready() {
                        return true;
                    }
                    spin_loop();
                }
                if expired(deadline) {
                    return ready();
                }
            },
            WaitStrategy::Yield => loop {
                if ready() {
                    return true;
                }
                if expired(deadline) {
                    return false;
                }
                yield_now();
            },
            WaitStrategy::Park => {
                for _ in 0..YIELDS {
                    if ready() {
                        return true;
                    }
                    if expired(deadline) {
                        return false;
                    }
                    yield_now();
                }
                notifier.park_until(ready, deadline)
            }
        }
    }
}
