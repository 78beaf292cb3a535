//! Work-queue groups: members share one cursor and claim runs of frames with one CAS.
//!
//! - `next`: the first frame no member has claimed. A member walks committed frames from
//!   `next` (up to a batch), records the run's start in its own slot, then CASes `next` past
//!   the run. The CAS (AcqRel) publishes the slot store to the cleaner, which loads `next`
//!   before the slots.
//! - A member's slot holds the start of the run it is processing (`IDLE` when none). The
//!   group's gate, computed by the cleaner under the group lock, is the minimum of `next`, every
//!   slot and every returned run, so nothing claimed is freed before its member is done.
//! - A member that leaves with part of a run unprocessed returns that part under the group lock;
//!   other members take returned runs before claiming new ones.
#![deny(unsafe_code)]

use std::collections::VecDeque;

use super::frame::{align, Word0};
use super::Ring;
use crate::sync::{Arc, AtomicU64, CachePadded, Mutex, Ordering};

/// A member slot's value when it holds no run.
pub(crate) const IDLE: u64 = u64::MAX;

/// One member's claim slot.
#[derive(Debug)]
pub(crate) struct MemberSlot {
    /// Start of the run this member is processing, or `IDLE`. Written by the member, read by
    /// the cleaner under the group lock.
    claim_start: CachePadded<AtomicU64>,
}

impl MemberSlot {
    /// Marks the member's run done (Release: its reads of the run happen before the cleaner
    /// frees the bytes).
    #[inline]
    pub(crate) fn release(&self) {
        self.claim_start.store(IDLE, Ordering::Release);
    }

    /// Marks the part of the member's run before `position` done (Release, as for `release`):
    /// the gate may pass it. `position` lies in the run, at or after its recorded start.
    #[inline]
    pub(crate) fn advance(&self, position: u64) {
        self.claim_start.store(position, Ordering::Release);
    }
}

#[derive(Debug, Default)]
struct Shared {
    slots: Vec<Arc<MemberSlot>>,
    /// Runs returned by members that left: (start, end) positions.
    returned: VecDeque<(u64, u64)>,
}

/// A group's shared cursor on one ring.
#[derive(Debug)]
pub(crate) struct GroupCursor {
    next: CachePadded<AtomicU64>,
    /// The group reads the ring through this cursor (it may first read segment files).
    joined: crate::sync::AtomicBool,
    /// Number of runs in `shared.returned` (a lock-free hint for members).
    returned: AtomicU64,
    shared: Mutex<Shared>,
}

/// A claimed run of frames: positions `start .. end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl GroupCursor {
    /// A cursor with no members; `start_at` sets its position when it joins the ring.
    pub(crate) fn new() -> Self {
        Self {
            next: CachePadded::new(AtomicU64::new(0)),
            joined: crate::sync::AtomicBool::new(false),
            returned: AtomicU64::new(0),
            shared: Mutex::new(Shared::default()),
        }
    }

    /// Sets the first unclaimed position (called once, under the ring's cleaner lock).
    pub(crate) fn start_at(&self, position: u64) {
        self.next.store(position, Ordering::Release);
    }

    /// Records that the cursor joined its ring (members may claim through it from now on).
    pub(crate) fn set_joined(&self) {
        self.joined.store(true, Ordering::Release);
    }

    /// Whether the cursor joined its ring.
    pub(crate) fn is_joined(&self) -> bool {
        self.joined.load(Ordering::Acquire)
    }

    /// The first position no member has claimed.
    pub(crate) fn next(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    /// The group's gate: nothing at or after it may be overwritten.
    pub(crate) fn gate(&self) -> u64 {
        let shared = self.shared.lock();
        // `next` first: a claim's slot store happens before its CAS, so a `next` past the run
        // implies the slot load below sees the run's start (or a later value).
        let mut gate = self.next.load(Ordering::Acquire);
        for slot in &shared.slots {
            gate = gate.min(slot.claim_start.load(Ordering::Acquire));
        }
        for run in &shared.returned {
            gate = gate.min(run.0);
        }
        gate
    }

    /// Adds a member.
    pub(crate) fn add_member(&self) -> Arc<MemberSlot> {
        let slot = Arc::new(MemberSlot { claim_start: CachePadded::new(AtomicU64::new(IDLE)) });
        self.shared.lock().slots.push(slot.clone());
        slot
    }

    /// Removes a member; `unprocessed` is the part of its run it did not process, handed to the
    /// other members. Atomic with respect to the gate computation.
    pub(crate) fn remove_member(&self, slot: &Arc<MemberSlot>, unprocessed: Option<Run>) {
        let mut shared = self.shared.lock();
        if let Some(run) = unprocessed.filter(|r| r.start < r.end) {
            shared.returned.push_back((run.start, run.end));
            self.returned.fetch_add(1, Ordering::Release);
        }
        slot.claim_start.store(IDLE, Ordering::Release);
        shared.slots.retain(|s| !Arc::ptr_eq(s, slot));
    }

    /// Whether a member could claim something now (for wait loops).
    pub(crate) fn has_work(&self, ring: &Ring) -> bool {
        if self.returned.load(Ordering::Acquire) != 0 {
            return true;
        }
        ring.is_ready_at(self.next())
    }

    /// Claims a run of at most `max_events` committed events (padding frames ride along) for
    /// the member owning `slot`. Returned runs are taken first. `None` when nothing is ready.
    pub(crate) fn claim(&self, ring: &Ring, slot: &MemberSlot, max_events: usize) -> Option<Run> {
        if self.returned.load(Ordering::Acquire) != 0 {
            let mut shared = self.shared.lock();
            if let Some((start, end)) = shared.returned.pop_front() {
                slot.claim_start.store(start, Ordering::Relaxed);
                self.returned.fetch_sub(1, Ordering::Relaxed);
                return Some(Run { start, end });
            }
        }
        let mut start = self.next.load(Ordering::Acquire);
        loop {
            let mut end = start;
            let mut events = 0;
            // The frames from `start` are protected by the gate as long as `next == start`; if
            // another member moves `next` meanwhile, these reads may see freed bytes, and the
            // CAS below fails, discarding them. The walk stops at the first frame not
            // committed yet (its word 0 reads as uncommitted: see the ring's module docs).
            while events < max_events {
                match ring.word0(end) {
                    Word0::Uncommitted => break,
                    Word0::Padding(n) => end += n as u64,
                    Word0::Event(n) => {
                        end += align(n) as u64;
                        events += 1;
                    }
                }
            }
            if end == start {
                slot.claim_start.store(IDLE, Ordering::Release);
                return None;
            }
            // A run of padding only needs no processing: step `next` over it without a slot.
            slot.claim_start.store(if events == 0 { IDLE } else { start }, Ordering::Relaxed);
            match self.next.compare_exchange(start, end, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if events == 0 => start = end,
                Ok(_) => return Some(Run { start, end }),
                Err(now) => start = now,
            }
        }
    }
}
