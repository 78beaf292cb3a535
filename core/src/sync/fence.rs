//! Asymmetric fences for the park/wake handshake.
//!
//! A parking thread and a waking thread form a store-buffer (Dekker) pattern: the parker
//! stores "I am waiting" then loads the condition; the waker stores the condition then loads
//! "is anyone waiting". Both sides need a full fence between their store and their load, or
//! both can read stale values and the wake-up is lost. The waker is on the hot path (every
//! publish), the parker is not (it has already spun and yielded), so the cost is moved to the
//! parker: [`heavy_fence`] issues `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a
//! full barrier on every CPU currently running a thread of this process, and [`light_fence`] is
//! then only a compiler fence. Where membarrier is unavailable (old kernel, seccomp) both fall
//! back to `fence(SeqCst)`, which is correct but costs the light side a fence.
//! Under `cfg(loom)` both are `fence(SeqCst)`, the semantics the membarrier pair provides.
//!
//! Why the pair is correct: if the light side's load ran before the barrier membarrier forced
//! on its CPU, that barrier also drained the light side's earlier store, so the heavy side's
//! load after membarrier returns sees it; if the load ran after, it sees the heavy side's
//! store, which was globally visible before membarrier started (it is a locked instruction or
//! followed by one in every caller). A thread not running during membarrier has passed a
//! context switch, itself a full barrier.
//!
//! Users: the park/wake handshake (sleepers are heavy, wakers light), and taking exclusivity
//! away from a ring's lone publisher (`Ring::share` and close are heavy, the claim light). `TopicStats::late_wakeups`
//! and the park/wake integration test would show a wake-up the pair missed.

#[cfg(not(loom))]
use std::sync::atomic::{compiler_fence, fence, AtomicU8, Ordering};

/// 0: not probed yet, 1: membarrier registered, 2: unavailable.
#[cfg(not(loom))]
static MEMBARRIER: AtomicU8 = AtomicU8::new(0);

#[cfg(not(loom))]
fn membarrier_ready() -> bool {
    match MEMBARRIER.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ok = register_membarrier();
            MEMBARRIER.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

#[cfg(all(not(loom), target_os = "linux"))]
fn register_membarrier() -> bool {
    const QUERY: libc::c_long = 0;
    const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;
    // SAFETY: membarrier takes three integer arguments and touches no memory of ours.
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, QUERY, 0, 0) };
    if supported < 0 || supported & PRIVATE_EXPEDITED == 0 {
        return false;
    }
    // SAFETY: as above; registration only changes the process's membarrier state.
    unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 }
}

#[cfg(all(not(loom), not(target_os = "linux")))]
fn register_membarrier() -> bool {
    false
}

/// Makes sure the asymmetric fences are set up before any thread relies on them. Called when
/// a ring is created, before any reader or writer of it exists, so both sides agree on the
/// mode for the ring's whole life.
pub(crate) fn init_fences() {
    #[cfg(not(loom))]
    let _ = membarrier_ready();
}

/// The waker's side: orders its earlier stores before its later loads, cheaply.
#[inline]
pub(crate) fn light_fence() {
    #[cfg(loom)]
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    #[cfg(not(loom))]
    {
        if MEMBARRIER.load(Ordering::Relaxed) == 1 {
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }
}

/// The parker's side: a full barrier on every CPU running this process's threads.
pub(crate) fn heavy_fence() {
    #[cfg(loom)]
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    #[cfg(not(loom))]
    {
        if membarrier_ready() {
            const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
            // SAFETY: membarrier takes integer arguments only.
            let rc = unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0, 0) };
            if rc == 0 {
                return;
            }
            // Registration succeeded, so this cannot fail; if it ever does, the SeqCst fence
            // below still orders our side and the park loop's bounded waits limit the damage.
        }
        fence(Ordering::SeqCst);
    }
}
