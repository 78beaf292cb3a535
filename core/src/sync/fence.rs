//! Fences for the park/wake handshake.
//!
//! A parking thread and a waking thread form a store-buffer (Dekker) pattern: the parker
//! stores "I am waiting" then loads the condition; the waker stores the condition then loads
//! "is anyone waiting". Both sides need a full fence between their store and their load, or
//! both can read stale values and the wake-up is lost. Both functions are `fence(SeqCst)`;
//! they are named by side so the call sites read as protocol steps, and so a cheaper waker
//! side can go here: an asymmetric pair (membarrier on the parker's side, a compiler fence on
//! the waker's) is sound and was tried, but on its own it made no measurable difference (SPSC
//! single publish 15 M events/s either way), since the publish path still has a locked claim.
//! It can return together with a claim path that has none. `TopicStats::late_wakeups` and the
//! park/wake test would show a wake-up either version missed.

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
