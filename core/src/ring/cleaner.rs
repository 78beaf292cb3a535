//! The cleaner: frees space for producers, under the ring's cleaner lock.
//!
//! A producer whose claim would pass its cached limit reloads `limit`, then calls
//! [`Ring::free_space`]. It takes the lowest gate (Block and Evict subscriptions, groups, the
//! persister). If no DropOldest reader is registered and some gate exists, `earliest` jumps to
//! that gate (a frame start) without reading frames. Otherwise it walks frame lengths from
//! `earliest`, stopping at the lowest gate, at the first frame not committed yet, or once the
//! claim's need is met, counting events: the count is what gives lapped DropOldest readers
//! their exact loss, and with no gate the walk is how a frame start is found. Then it announces
//! `intent`, zeroes at most a chunk of freed bytes (the word at the new limit too: the
//! sentinel) and raises `limit` (Release). An `Evict` gate that keeps a full ring from
//! advancing for its `after` is removed here and its reader marked evicted.
//!
//! The lock is held rarely: once per min(`capacity / 8`, 8 KiB) bytes published, or when the
//! ring is full.

use std::time::Instant;

use super::frame::{align, Word0};
use super::join::{Gate, GateKind};
use super::{Ring, SENTINEL};
use crate::sync::{atomic_fence, Ordering};

/// The cleaner's state, under the ring's cleaner lock (joins and leaves take it too).
#[derive(Debug)]
pub(super) struct Cleaner {
    /// Oldest intact frame (a frame start).
    pub(super) earliest: u64,
    /// Events (padding excluded) before `earliest`, counted while DropOldest readers exist
    /// (the count's base is arbitrary: only differences taken while one exists are used).
    pub(super) events_before: u64,
    /// DropOldest readers registered (they need exact loss counts, so the cleaner walks).
    pub(super) ungated: usize,
    pub(super) gates: Vec<Gate>,
    pub(super) next_gate_id: u64,
}

impl Cleaner {
    /// A cleaner whose oldest intact frame is at `start`, with no readers.
    pub(super) fn new(start: u64) -> Self {
        Self { earliest: start, events_before: 0, ungated: 0, gates: Vec::new(), next_gate_id: 0 }
    }
}

impl Ring {
    /// Frees space up to at least `need_end` if gates allow; returns the new limit.
    #[cold]
    pub(crate) fn free_space(&self, need_end: u64) -> u64 {
        let mut st = self.cleaner.lock();
        let limit = self.limit();
        if limit >= need_end {
            return limit;
        }
        let mut gate = u64::MAX;
        let mut holder = None;
        for (i, g) in st.gates.iter().enumerate() {
            let p = g.position();
            if p < gate {
                gate = p;
                holder = Some(i);
            }
        }
        let target = need_end.max(limit + self.chunk);
        if st.ungated == 0 && gate != u64::MAX {
            // Nobody needs the event count (only lapped DropOldest readers do), and the lowest
            // gate is a frame start: free up to it without walking the frames, a walk that
            // would chase one dependent load per frame through memory a lap old.
            st.earliest = st.earliest.max(gate);
        } else {
            // The sentinel word at the new limit belongs to position `limit - capacity`, so
            // that position must be freed too.
            self.walk(&mut st, gate.min(target + SENTINEL - self.capacity));
        }
        // Zero only a chunk ahead (or what the claim needs), so producers write into lines
        // that are still in their cache. The word at the new limit is zeroed too (the
        // sentinel), so its position is freed as well: `new_limit + 8 - capacity <= earliest`.
        let new_limit = (st.earliest + self.capacity - SENTINEL).min(target);
        if new_limit > limit {
            // Announce before zeroing: a lapped reader that sees a zeroed byte sees this too.
            self.intent.store(new_limit + SENTINEL, Ordering::Relaxed);
            atomic_fence(Ordering::Release);
            // The word at the old limit is already zero (the old sentinel).
            let from = self.index(limit + SENTINEL);
            let len = (new_limit - limit) as usize;
            let first = len.min(self.capacity as usize - from);
            // SAFETY: the bytes belong to positions below every gate and below the first
            // uncommitted frame of the lap before (the walk stopped there, or the lowest gate,
            // which no reader passes uncommitted), and above the old limit no producer has
            // claimed them: nobody but a validating lapped reader touches them.
            unsafe {
                self.mem.zero(from, first);
                self.mem.zero(0, len - first);
            }
            self.rare.earliest.store(st.earliest, Ordering::Release);
            // Release: producers that Acquire-load the limit see the zeroes, and so do the
            // readers of the frames those producers commit.
            self.limit.store(new_limit, Ordering::Release);
        }
        if new_limit < need_end {
            if let Some(i) = holder.filter(|_| gate == st.earliest) {
                self.note_stall(&mut st, i, gate);
            }
        } else {
            for g in st.gates.iter_mut() {
                g.stalled = None;
            }
        }
        new_limit
    }

    /// Advances the cleaner's `earliest` over committed frames while below `stop`, stopping
    /// at the first frame not committed yet.
    fn walk(&self, st: &mut Cleaner, stop: u64) {
        let (p, events) = self.count_committed(st.earliest, stop);
        (st.earliest, st.events_before) = (p, st.events_before + events);
    }

    /// Walks committed frames from the frame start `from` while below `stop`, stopping at the
    /// first frame not committed yet: (where it stopped, events passed). The caller keeps the
    /// frames from being freed meanwhile (the cleaner lock, or a gate).
    pub(super) fn count_committed(&self, from: u64, stop: u64) -> (u64, u64) {
        let (mut p, mut events) = (from, 0);
        while p < stop {
            match self.word0(p) {
                Word0::Uncommitted => break,
                Word0::Padding(n) => p += n as u64,
                Word0::Event(n) => {
                    p += align(n) as u64;
                    events += 1;
                }
            }
        }
        (p, events)
    }

    /// Records that gate `i` holds a full ring back; evicts it once its policy says so.
    fn note_stall(&self, st: &mut Cleaner, i: usize, at: u64) {
        let now = Instant::now();
        let g = &mut st.gates[i];
        let Some(after) = g.evict_after else { return };
        match g.stalled {
            Some((p, since)) if p == at => {
                if now.duration_since(since) >= after {
                    let gate = st.gates.remove(i);
                    if let GateKind::Cursor(c) = gate.kind {
                        c.evicted.store(true, Ordering::Release);
                    }
                    self.readable.wake_all();
                }
            }
            _ => g.stalled = Some((at, now)),
        }
    }
}
