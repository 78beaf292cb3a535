//! Fences for the park/wake handshake.
//!
//! A parking thread and a waking thread form a store-buffer (Dekker) pattern: the parker
//! stores "I am waiting" then loads the condition; the waker stores the condition then loads
//! "is anyone waiting". Both sides need a full fence between their store and their load, or
//! both can read stale values and the wake-up is lost. Both functions are `fence(SeqCst)`;
//! they are named by side so the call sites read as protocol steps, and so a cheaper waker
//! side can be put back here once it is shown correct. (An asymmetric version, membarrier on
//! the parker's side and a compiler fence on the waker's, lost wake-ups on this machine: runs
//! ended their sleeps by timeout. It is out until that is understood.)

use super::{atomic_fence, Ordering};

/// Kept for the ring's constructor; nothing to set up while both sides use plain fences.
pub(crate) fn init_fences() {}

/// The waker's side: orders its earlier stores before its later loads.
#[inline]
pub(crate) fn light_fence() {
    atomic_fence(Ordering::SeqCst);
}

/// The parker's side: orders its earlier stores before its later loads.
#[inline]
pub(crate) fn heavy_fence() {
    atomic_fence(Ordering::SeqCst);
}
