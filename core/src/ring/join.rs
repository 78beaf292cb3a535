//! Readers joining and leaving a ring, and the gates that hold producers back.
//!
//! A join takes the cleaner lock, so a gate is registered atomically with respect to
//! cleaning: the cleaner either frees before the join (the reader starts at or after the new
//! `earliest`) or sees the gate. A `Latest` join walks from `earliest` to the first frame not
//! committed; an `Offset` join walks to the offset and refuses one that is not a frame start.
//! Lag for stats is counted the same way, by walking committed frames from a position.
#![deny(unsafe_code)]

use std::time::{Duration, Instant};

use super::group::GroupCursor;
use super::Ring;
use crate::sync::{Arc, AtomicBool, AtomicU64, CachePadded, Ordering};

/// A gating reader's shared position.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// The reader has consumed everything before this position. Written only by the reader
    /// (Release, after it is done with the bytes), read by the cleaner (Acquire).
    position: CachePadded<AtomicU64>,
    /// Set by the cleaner when an `Evict` reader held producers back for too long.
    pub(super) evicted: AtomicBool,
}

impl Cursor {
    /// A cursor at `position`.
    pub(crate) fn new(position: u64) -> Self {
        Self { position: CachePadded::new(AtomicU64::new(position)), evicted: AtomicBool::new(false) }
    }

    /// Releases everything before `position` to producers (Release: the reader's reads of those
    /// bytes happen before the cleaner's zeroing, which Acquire-loads this).
    #[inline]
    pub(crate) fn release(&self, position: u64) {
        self.position.store(position, Ordering::Release);
    }

    /// The last released position.
    pub(crate) fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// Whether the cleaner evicted this reader.
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }
}

/// Something producers must not overtake.
#[derive(Debug, Clone)]
pub(crate) enum GateKind {
    /// A `Block` or `Evict` fanout subscription.
    Cursor(Arc<Cursor>),
    /// A work-queue group (its gate is the start of its oldest claim in flight).
    Group(Arc<GroupCursor>),
}

/// A gate a reader asks for when it joins: what holds producers back, its eviction policy,
/// and a name for diagnostics ("subscription #3", `group "billing"`, "the persister").
#[derive(Debug, Clone)]
pub(crate) struct GateSpec {
    pub(crate) kind: GateKind,
    /// `Evict` policy: the gate may be removed once it stalls a full ring this long.
    pub(crate) evict_after: Option<Duration>,
    pub(crate) name: String,
}

impl GateSpec {
    /// A gate that is never evicted.
    pub(crate) fn new(kind: GateKind, name: impl Into<String>) -> Self {
        Self { kind, evict_after: None, name: name.into() }
    }

    /// The same gate, evicted once it stalls a full ring for `after` (`None`: never).
    pub(crate) fn evict_after(mut self, after: Option<Duration>) -> Self {
        self.evict_after = after;
        self
    }
}

/// A registered gate.
#[derive(Debug)]
pub(super) struct Gate {
    pub(super) id: u64,
    pub(super) kind: GateKind,
    pub(super) evict_after: Option<Duration>,
    pub(super) name: String,
    /// (gate position, since when) while this gate is the one holding a full ring back.
    pub(super) stalled: Option<(u64, Instant)>,
}

impl Gate {
    pub(super) fn position(&self) -> u64 {
        match &self.kind {
            GateKind::Cursor(c) => c.position(),
            GateKind::Group(g) => g.gate(),
        }
    }
}

/// Where a reader joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinAt {
    /// The oldest intact frame.
    Earliest,
    /// The first frame not yet committed (events published from now on).
    Latest,
    /// This exact frame start.
    Offset(u64),
}

/// Why a join failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinError {
    /// The offset is older than the oldest event kept.
    Trimmed { earliest: u64 },
    /// The offset is past the end of the log.
    Beyond { next: u64 },
    /// The offset is inside the log but not at an event's start.
    NotABoundary,
    /// The offset is behind a frame whose producer has not committed it yet.
    Pending,
}

/// A joined reader: where it starts and how many events precede that position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Joined {
    pub(crate) position: u64,
    pub(crate) event_index: u64,
    pub(crate) gate_id: Option<u64>,
}

impl Ring {
    /// Registers a reader at `at`. With `gate`, producers will not overtake it until
    /// [`Ring::leave`]; its `evict_after` makes the gate removable when it stalls a full ring.
    pub(crate) fn join(&self, at: JoinAt, gate: Option<GateSpec>) -> Result<Joined, JoinError> {
        let mut st = self.cleaner.lock();
        let mut position = st.earliest;
        let mut index = st.events_before;
        let tail = self.tail();
        let target = match at {
            JoinAt::Earliest => position,
            // The walk below stops at the first frame not committed yet.
            JoinAt::Latest => tail,
            JoinAt::Offset(n) => {
                if n < st.earliest {
                    return Err(JoinError::Trimmed { earliest: st.earliest });
                }
                if n > tail {
                    return Err(JoinError::Beyond { next: tail });
                }
                n
            }
        };
        let (reached, events) = self.count_committed(position, target);
        (position, index) = (reached, index + events);
        if let JoinAt::Offset(n) = at {
            if position < n {
                return Err(JoinError::Pending);
            }
            if position != n {
                return Err(JoinError::NotABoundary);
            }
        }
        if gate.is_none() {
            st.ungated += 1;
        }
        let gate_id = gate.map(|GateSpec { kind, evict_after, name }| {
            let id = st.next_gate_id;
            st.next_gate_id += 1;
            match &kind {
                GateKind::Cursor(c) => c.release(position),
                GateKind::Group(g) => g.start_at(position),
            }
            st.gates.push(Gate { id, kind, evict_after, name, stalled: None });
            id
        });
        Ok(Joined { position, event_index: index, gate_id })
    }

    /// Unregisters a reader that joined without a gate (a DropOldest subscription leaving).
    pub(crate) fn leave_ungated(&self) {
        let mut st = self.cleaner.lock();
        st.ungated -= 1;
    }

    /// Events committed from `position` (or the oldest event held, if later) up to the first
    /// frame not committed yet: a reader's lag. Walks the frames under the cleaner lock (so
    /// none is freed meanwhile); for stats.
    pub(crate) fn events_from(&self, position: u64) -> u64 {
        let st = self.cleaner.lock();
        self.count_committed(position.max(st.earliest), self.tail()).1
    }

    /// Removes gate `id` (a reader leaving) and wakes producers waiting for space.
    pub(crate) fn leave(&self, id: u64) {
        let mut st = self.cleaner.lock();
        st.gates.retain(|g| g.id != id);
        drop(st);
        self.writable.wake_all();
    }

    /// The oldest intact frame and the number of events before it, read consistently (a lapped
    /// reader's restart point and loss count).
    pub(crate) fn earliest_with_index(&self) -> (u64, u64) {
        let st = self.cleaner.lock();
        (st.earliest, st.events_before)
    }

    /// Number of gates (readers and groups holding producers back).
    pub(crate) fn gate_count(&self) -> usize {
        self.cleaner.lock().gates.len()
    }

    /// The gate holding producers back the most: its name and position (`None`: no gate).
    /// For diagnostics (a publisher blocked on a full ring); takes the cleaner lock.
    pub(crate) fn holder(&self) -> Option<(String, u64)> {
        let st = self.cleaner.lock();
        st.gates.iter().map(|g| (g.position(), &g.name)).min_by_key(|(p, _)| *p).map(|(p, n)| (n.clone(), p))
    }
}
