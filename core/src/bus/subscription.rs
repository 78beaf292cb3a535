//! Fanout subscriptions: each owns a cursor per partition and sees every event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{SlowConsumerPolicy, Start, SubscribeOptions};
use super::error::Error;
use super::event::{event_from_frame, Event, EventRef};
use super::stats::ReaderCounters;
use super::topic::TopicInner;
use crate::log::reader::LogReader;
use crate::ring::frame::{align, Word0, HEADER_LEN};
use crate::ring::{Cursor, GateKind, JoinAt, JoinError, Ring};
use crossbeam_utils::CachePadded;

/// How a subscription reads the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `Block`: gated, events borrowed from the ring.
    Gated,
    /// `DropOldest`: not gated, events copied and validated.
    Copying,
    /// `Evict`: gated until evicted, events copied (eviction may come at any moment).
    GatedCopying,
}

#[derive(Debug)]
struct PartReader {
    partition: u32,
    /// Next frame to read.
    position: u64,
    /// Events before `position` in the partition (absolute).
    index: u64,
    /// Position last released to producers.
    released: u64,
    cursor: Option<Arc<Cursor>>,
    gate_id: Option<u64>,
    /// Reading segment files, behind the ring (persisted topics); not joined to the ring then.
    disk: Option<LogReader>,
    /// `Start::Timestamp(t)`: events older than `t` are skipped until the first that is not.
    skip_before: Option<u64>,
}

/// A found frame: partition reader slot, position, unaligned length, and whether it was copied
/// into `scratch` (copying modes, and frames read from disk).
#[derive(Debug, Clone, Copy)]
struct Found {
    slot: usize,
    position: u64,
    len: usize,
    copied: bool,
}

/// A fanout reader: sees every event of its partitions from its start on, at its own pace,
/// in order within each partition (partitions are interleaved round-robin).
///
/// `Send`, not `Sync`: one thread polls it. Polling never allocates (the owned-event iterator
/// allocates each event it returns). Dropping the subscription leaves the topic and releases
/// any producers it held back.
#[derive(Debug)]
pub struct Subscription {
    topic: Arc<TopicInner>,
    /// Padded: written per event; must not share a line with anything a producer touches.
    parts: Vec<CachePadded<PartReader>>,
    turn: usize,
    mode: Mode,
    counters: Arc<ReaderCounters>,
    /// Copy of the current event for copying modes.
    scratch: Vec<u8>,
    evicted: bool,
    /// An error met after some events of a batch were handled, reported by the next call.
    pending: Option<Error>,
    /// `Evict` policy: for gates made when a disk reader joins the ring.
    evict_after: Option<Duration>,
    /// Events the last batch call returned (see [`STREAMING`]).
    last_batch: usize,
}

/// A batch call that returned at least this many events found the producer streaming: the
/// next call that finds nothing waits [`BACK_OFF`] before it looks at the ring again.
pub(crate) const STREAMING: usize = 2;

/// How long a streaming reader stays off the ring once it caught up. Reading the frame a
/// producer is writing takes its cache line away mid-write (a cross-core round trip for each
/// of the producer's next stores to it); letting the producer fill a few lines first turns
/// that into one transfer per line, read in a batch. A reader that gets one event per call
/// (a request-reply exchange) never waits here. 20 µs lets a producer at 40 M events/s fill
/// about 800 frames (26 KB of 32-byte frames, against a default ring of 4 MiB; a ring smaller
/// than that makes its producer wait for room meanwhile); shorter back-offs measured slower (5 µs:
/// MPSC 8-byte 19.5-25 M/s against 30-45 at 20 µs; the README's table of steps).
const BACK_OFF: Duration = Duration::from_micros(20);

/// Spins for [`BACK_OFF`] (or until `deadline`) without touching shared memory.
#[cold]
pub(crate) fn back_off(deadline: Option<Instant>) {
    let now = Instant::now();
    let until = deadline.map_or(now + BACK_OFF, |d| d.min(now + BACK_OFF));
    // A clock read costs more than a pause: look at the clock every few pauses only (a
    // deadline is overshot by at most those pauses, about a microsecond).
    while Instant::now() < until {
        for _ in 0..PAUSES_PER_CLOCK_READ {
            std::hint::spin_loop();
        }
    }
}

/// Pauses between two clock reads in [`back_off`].
const PAUSES_PER_CLOCK_READ: u32 = 16;

/// `i % n` for `i < 2 * n`, without a division (on the per-event path).
#[inline]
pub(crate) fn wrap(i: usize, n: usize) -> usize {
    if i >= n {
        i - n
    } else {
        i
    }
}

pub(crate) fn join_error(partition: u32, offset: u64, e: JoinError) -> Error {
    match e {
        JoinError::Trimmed { earliest } => Error::OffsetTrimmed { partition, offset, earliest },
        JoinError::Beyond { next } => Error::OffsetBeyondEnd { partition, offset, next },
        JoinError::NotABoundary => Error::NotAnEventOffset { partition, offset },
        JoinError::Pending => Error::Timeout,
    }
}

/// For a persisted topic: a reader of the segment files when `start` lies before what the
/// ring holds (`Earliest` with older events on disk, or an older `Offset`).
fn disk_start(topic: &TopicInner, partition: u32, start: Start) -> Result<Option<LogReader>, Error> {
    let Some(log) = topic.log(partition) else { return Ok(None) };
    let ring_earliest = topic.rings[partition as usize].earliest_hint();
    let at = match start {
        Start::Earliest => log.earliest(),
        Start::Offset(n) => n,
        Start::Timestamp(t) => crate::log::seek_timestamp(log, t)?,
        Start::Latest | Start::Committed => return Ok(None),
    };
    if at >= ring_earliest {
        return Ok(None);
    }
    LogReader::at(log.clone(), at).map(Some)
}

/// Joins a ring at `start`, retrying for a moment when the offset sits behind a frame whose
/// producer has not committed it yet.
pub(crate) fn join_ring(
    ring: &Ring,
    partition: u32,
    start: Start,
    gate: Option<(GateKind, Option<Duration>)>,
) -> Result<crate::ring::Joined, Error> {
    let at = match start {
        Start::Earliest => JoinAt::Earliest,
        Start::Latest => JoinAt::Latest,
        Start::Offset(n) => JoinAt::Offset(n),
        // The reader skips what is older (`PartReader::skip_before`).
        Start::Timestamp(_) => JoinAt::Earliest,
        Start::Committed => {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Committed is for groups of persisted topics".into(),
            })
        }
    };
    let offset = if let Start::Offset(n) = start { n } else { 0 };
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match ring.join(at, gate.clone()) {
            Ok(j) => return Ok(j),
            Err(JoinError::Pending) if Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => return Err(join_error(partition, offset, e)),
        }
    }
}

impl Subscription {
    pub(crate) fn new(topic: Arc<TopicInner>, options: SubscribeOptions) -> Result<Self, Error> {
        let partitions = match options.partitions {
            Some(list) => {
                if list.is_empty() {
                    return Err(Error::InvalidConfig { field: "partitions", reason: "the list is empty".into() });
                }
                for &p in &list {
                    topic.check_partition(p)?;
                }
                let mut sorted = list.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if sorted.len() != list.len() {
                    return Err(Error::InvalidConfig {
                        field: "partitions",
                        reason: "a partition is listed twice".into(),
                    });
                }
                list
            }
            None => (0..topic.partitions()).collect(),
        };
        if matches!(options.start, Start::Offset(_)) && partitions.len() != 1 {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Offset needs a subscription to exactly one partition".into(),
            });
        }
        let (mode, evict_after) = match options.policy {
            SlowConsumerPolicy::Block => (Mode::Gated, None),
            SlowConsumerPolicy::DropOldest => (Mode::Copying, None),
            SlowConsumerPolicy::Evict { after } => (Mode::GatedCopying, Some(after)),
        };
        let n = topic.partitions() as usize;
        let counters = Arc::new(ReaderCounters::new(n));
        for i in 0..n {
            counters.position[i].set(u64::MAX);
        }
        let mut sub = Self {
            topic: topic.clone(),
            parts: Vec::new(),
            turn: 0,
            mode,
            counters,
            scratch: Vec::new(),
            evicted: false,
            pending: None,
            evict_after: None,
            last_batch: 0,
        };
        let skip_before = if let Start::Timestamp(t) = options.start { Some(t) } else { None };
        for p in partitions {
            let ring = &topic.rings[p as usize];
            let cursor = (mode != Mode::Copying).then(|| Arc::new(Cursor::new(0)));
            if let Some(reader) = disk_start(&topic, p, options.start)? {
                let position = reader.position();
                sub.parts.push(CachePadded::new(PartReader {
                    partition: p,
                    position,
                    index: 0,
                    released: position,
                    cursor,
                    gate_id: None,
                    disk: Some(reader),
                    skip_before,
                }));
                sub.counters.position[p as usize].set(position);
                continue;
            }
            let gate = cursor.clone().map(|c| (GateKind::Cursor(c), evict_after));
            // On error, `sub` drops and leaves the partitions joined so far.
            let joined = join_ring(ring, p, options.start, gate)?;
            sub.parts.push(CachePadded::new(PartReader {
                partition: p,
                position: joined.position,
                index: joined.event_index,
                released: joined.position,
                cursor,
                gate_id: joined.gate_id,
                disk: None,
                skip_before,
            }));
            sub.counters.position[p as usize].set(joined.position);
        }
        sub.evict_after = evict_after;
        topic.registry.lock().readers.push(Arc::downgrade(&sub.counters));
        Ok(sub)
    }

    /// The next event if one is ready; never waits. `Ok(None)`: nothing yet.
    ///
    /// Errors: [`Error::Lagged`] (a `DropOldest` reader lost events; the next call continues
    /// with the oldest event held), [`Error::Evicted`], [`Error::Closed`] (closed and drained).
    pub fn try_poll(&mut self) -> Result<Option<EventRef<'_>>, Error> {
        self.release();
        match self.find()? {
            Some(found) => Ok(Some(self.take(found))),
            None => Ok(None),
        }
    }

    /// The next event, waiting up to `timeout` (`None`: until one arrives or the topic closes).
    /// `Ok(None)` when the timeout passed. Errors as for [`try_poll`](Self::try_poll).
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Option<EventRef<'_>>, Error> {
        self.release();
        let deadline = timeout.map(|t| Instant::now() + t);
        let found = loop {
            if let Some(found) = self.find()? {
                break found;
            }
            if !self.wait(deadline) {
                return Ok(None);
            }
        };
        Ok(Some(self.take(found)))
    }

    /// Hands up to `max` ready events to `f`, waiting up to `timeout` for the first one
    /// (`None`: no limit). Returns how many were handled (0: timed out). The events are
    /// borrowed for the call of `f` only; producers are released once, after the batch.
    ///
    /// Errors as for [`try_poll`](Self::try_poll); an error after some events were handled is
    /// returned by the next call, so no event goes unreported.
    pub fn poll_batch<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>),
    {
        let n = self.batch(max, timeout, &mut |e, _| {
            f(e);
            true
        })?;
        self.release();
        Ok(n)
    }

    /// As [`poll_batch`](Self::poll_batch), but stops after the first event for which `f`
    /// returns false (it counts as handled); the events after it stay unread for the next call.
    pub fn poll_batch_while<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>) -> bool,
    {
        let n = self.batch(max, timeout, &mut |e, _| f(e))?;
        self.release();
        Ok(n)
    }

    /// As [`poll_batch`](Self::poll_batch), but producers stay held where the batch began
    /// until the next call on this subscription that takes `&mut self` (or its drop). `f`
    /// gets each event with `in_place`: true when the event was read straight from the ring
    /// and so stays valid and unchanged until then, false when it was copied (from disk, or
    /// by a `DropOldest` or `Evict` reader) and is valid for the call of `f` only. For
    /// bindings that lend events past the call (the C API's `rb_poll_views`); Rust code
    /// wants `poll_batch`, whose borrows the compiler checks.
    pub fn poll_batch_held<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>, bool),
    {
        self.batch(max, timeout, &mut |e, in_place| {
            f(e, in_place);
            true
        })
    }

    /// The batch loop of the `poll_batch` family: releases what the last call handed out,
    /// then hands up to `max` events to `f` with whether each is in place, stopping after
    /// one for which `f` returns false.
    #[inline(always)]
    fn batch<F>(&mut self, max: usize, timeout: Option<Duration>, f: &mut F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>, bool) -> bool,
    {
        self.release();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut n = 0;
        while n < max {
            if self.mode == Mode::Gated && self.pending.is_none() {
                let (k, go_on) = self.drain_gated(max - n, f);
                n += k;
                if !go_on {
                    break;
                }
                if k > 0 {
                    continue;
                }
            }
            match self.find() {
                Ok(Some(found)) => {
                    let in_place = !found.copied;
                    n += 1;
                    if !f(self.take(found), in_place) {
                        break;
                    }
                }
                Ok(None) if n > 0 => break,
                Ok(None) => {
                    if self.last_batch >= STREAMING {
                        back_off(deadline);
                    }
                    if !self.wait(deadline) {
                        break;
                    }
                }
                Err(e) if n == 0 => return Err(e),
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
        }
        self.last_batch = n;
        Ok(n)
    }

    /// Owned events, waiting for each; ends after the topic is closed and drained. Each item
    /// allocates its key and payload. Lagging and eviction come through as `Err` items.
    pub fn iter(&mut self) -> Iter<'_> {
        Iter { sub: self, done: false }
    }

    /// The partitions this subscription reads.
    pub fn partitions(&self) -> Vec<u32> {
        self.parts.iter().map(|p| p.partition).collect()
    }

    /// A handle another thread can wait on until this subscription may have something to
    /// read (an event, or the end of a closed topic): for event loops that wait on many
    /// sources (the C API's readiness file descriptor is built on it). It may report ready
    /// spuriously; it never misses an event published after the subscription's last poll.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            topic: self.topic.clone(),
            kind: ReadinessKind::Subscription {
                counters: self.counters.clone(),
                partitions: self.parts.iter().map(|p| p.partition).collect(),
            },
        }
    }

    /// Per partition read: the offset of the next event this subscription will read.
    pub fn positions(&self) -> Vec<(u32, u64)> {
        self.parts.iter().map(|p| (p.partition, p.position)).collect()
    }

    /// Releases what was read to producers (gating modes) and publishes the counters.
    fn release(&mut self) {
        for part in &mut self.parts {
            if part.released != part.position {
                part.released = part.position;
                self.counters.position[part.partition as usize].set(part.position);
                if let Some(c) = &part.cursor {
                    c.release(part.position);
                    self.topic.rings[part.partition as usize].writable.notify();
                }
            }
        }
    }

    /// Finds the next event in round-robin partition order, skipping padding; copies it into
    /// `scratch` in copying modes.
    fn find(&mut self) -> Result<Option<Found>, Error> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        if self.mode == Mode::GatedCopying
            && (self.evicted || self.parts.iter().any(|p| p.cursor.as_ref().is_some_and(|c| c.is_evicted())))
        {
            self.evicted = true;
            return Err(Error::Evicted);
        }
        let n = self.parts.len();
        let mut closed = 0;
        for step in 0..n {
            let slot = wrap(self.turn + step, n);
            if self.parts[slot].disk.is_some() {
                while let Some(found) = self.find_on_disk(slot)? {
                    let part = &mut self.parts[slot];
                    if let Some(t) = part.skip_before {
                        let ts = u64::from_le_bytes(self.scratch[8..16].try_into().expect("8 bytes"));
                        if ts < t {
                            part.index += 1;
                            continue;
                        }
                        part.skip_before = None;
                    }
                    self.turn = wrap(slot + 1, n);
                    return Ok(Some(found));
                }
                if self.parts[slot].disk.is_some() {
                    continue;
                }
                // It just joined the ring: read on there in this same call.
            }
            let part = &mut self.parts[slot];
            let ring = &self.topic.rings[part.partition as usize];
            loop {
                match ring.word0(part.position) {
                    Word0::Padding(len) => part.position += len as u64,
                    Word0::Event(len) => {
                        if let Some(t) = part.skip_before {
                            let older = ring.header(part.position).0 < t;
                            if self.mode != Mode::Gated && ring.lapped(part.position) {
                                match self.lagged(slot) {
                                    Some(e) => return Err(e),
                                    None => break,
                                }
                            }
                            if older {
                                part.position += align(len) as u64;
                                part.index += 1;
                                continue;
                            }
                            part.skip_before = None;
                        }
                        if self.mode != Mode::Gated {
                            ring.copy_frame(part.position, len, &mut self.scratch);
                            if ring.lapped(part.position) {
                                match self.lagged(slot) {
                                    Some(e) => return Err(e),
                                    None => break,
                                }
                            }
                        }
                        self.turn = wrap(slot + 1, n);
                        return Ok(Some(Found {
                            slot,
                            position: part.position,
                            len,
                            copied: self.mode != Mode::Gated,
                        }));
                    }
                    Word0::Uncommitted => {
                        if self.mode != Mode::Gated && ring.lapped(part.position) {
                            match self.lagged(slot) {
                                Some(e) => return Err(e),
                                None => break,
                            }
                        }
                        closed += usize::from(ring.drained_at(part.position));
                        break;
                    }
                }
            }
        }
        if closed == n {
            return Err(Error::Closed);
        }
        Ok(None)
    }

    /// The next event of disk-reading partition `slot`, copied into `scratch`; joins the ring
    /// instead once the reader has reached what the ring still holds (`None` then, and when
    /// the persister has not written further yet).
    fn find_on_disk(&mut self, slot: usize) -> Result<Option<Found>, Error> {
        let part = &mut self.parts[slot];
        let ring = &self.topic.rings[part.partition as usize];
        let at = part.disk.as_ref().expect("a disk reader").position();
        if at >= ring.earliest_hint() {
            let gate = part.cursor.clone().map(|c| (GateKind::Cursor(c), self.evict_after));
            match ring.join(JoinAt::Offset(at), gate) {
                Ok(joined) => {
                    part.disk = None;
                    part.position = joined.position;
                    part.index = joined.event_index;
                    part.released = joined.position;
                    part.gate_id = joined.gate_id;
                    return Ok(None);
                }
                Err(JoinError::Trimmed { .. }) => {}
                Err(e) => return Err(join_error(part.partition, at, e)),
            }
        }
        let reader = part.disk.as_mut().expect("a disk reader");
        self.scratch.clear();
        match reader.next_event(&mut self.scratch)? {
            Some((position, len)) => {
                part.position = reader.position();
                Ok(Some(Found { slot, position, len, copied: true }))
            }
            None => Ok(None),
        }
    }

    /// Handles a lapped partition reader: on a persisted topic, continue from disk where it
    /// was (nothing lost); otherwise jump to the oldest event held and count the loss.
    /// Returns the error to report, or `None` when the reader went to disk.
    #[cold]
    fn lagged(&mut self, slot: usize) -> Option<Error> {
        let part = &mut self.parts[slot];
        let ring = &self.topic.rings[part.partition as usize];
        if let Some(log) = self.topic.log(part.partition) {
            if let Ok(reader) = LogReader::at(log.clone(), part.position) {
                match part.gate_id.take() {
                    Some(id) => ring.leave(id),
                    None => ring.leave_ungated(),
                }
                part.disk = Some(reader);
                return None;
            }
        }
        let (earliest, index) = ring.earliest_with_index();
        let lost = index.saturating_sub(part.index);
        part.position = earliest;
        part.index = index;
        self.counters.dropped.add(lost);
        Some(Error::Lagged { partition: part.partition, lost })
    }

    /// Gated mode's batch path: hands every committed event of each partition (up to `max`,
    /// stopping at the first frame not committed yet) to `f` straight from the ring, without
    /// waiting, until `f` returns false.
    /// Returns how many, and whether `f` wants more.
    fn drain_gated<F: FnMut(EventRef<'_>, bool) -> bool>(&mut self, max: usize, f: &mut F) -> (usize, bool) {
        let count = self.parts.len();
        let topic = &self.topic;
        let mut n = 0;
        let mut go_on = true;
        for step in 0..count {
            let slot = wrap(self.turn + step, count);
            let part = &mut self.parts[slot];
            if part.disk.is_some() || part.skip_before.is_some() {
                continue;
            }
            let ring = &topic.rings[part.partition as usize];
            let mut position = part.position;
            let start_n = n;
            while n < max && go_on {
                match ring.word0(position) {
                    Word0::Uncommitted => break,
                    Word0::Padding(len) => position += len as u64,
                    Word0::Event(len) => {
                        let (timestamp, meta) = ring.header(position);
                        // SAFETY: this thread Acquire-loaded the frame's word 0 (committed), and
                        // our gate stays at or before it until the next `release`, which needs
                        // &mut self, after `f` has returned.
                        let body = unsafe { ring.body(position, len) };
                        go_on = f(event_from_frame(position, part.partition, timestamp, meta, body), true);
                        n += 1;
                        position += align(len) as u64;
                    }
                }
            }
            part.position = position;
            part.index += (n - start_n) as u64;
            self.counters.position[part.partition as usize].set(position);
            if n >= max || !go_on {
                self.turn = wrap(slot + 1, count);
                break;
            }
        }
        self.counters.delivered.add(n as u64);
        (n, go_on)
    }

    /// Advances past `found` and returns it as an event.
    fn take(&mut self, found: Found) -> EventRef<'_> {
        let part = &mut self.parts[found.slot];
        part.position = found.position + align(found.len) as u64;
        part.index += 1;
        let partition = part.partition;
        self.counters.position[partition as usize].set(part.position);
        self.counters.delivered.add(1);
        let ring = &self.topic.rings[partition as usize];
        let (timestamp, meta, body) = if found.copied {
            let s = &self.scratch;
            let ts = u64::from_le_bytes(s[8..16].try_into().expect("8 bytes"));
            let meta = u64::from_le_bytes(s[16..24].try_into().expect("8 bytes"));
            (ts, meta, &s[HEADER_LEN..found.len])
        } else {
            let (ts, meta) = ring.header(found.position);
            // SAFETY: the frame is committed (find Acquire-loaded its word 0) and this
            // subscription's gate sits at or before it until the next `release`, which needs
            // &mut self and so cannot happen while the returned borrow lives.
            (ts, meta, unsafe { ring.body(found.position, found.len) })
        };
        event_from_frame(found.position, partition, timestamp, meta, body)
    }

    /// Waits until some partition may have an event; false when the deadline passed.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let ready = || {
            self.parts.iter().any(|part| {
                let ring = &self.topic.rings[part.partition as usize];
                // A lapped copying reader finds no frame of its lap: `find` reports the loss.
                part.disk.is_some()
                    || ring.is_ready_at(part.position)
                    || (self.mode != Mode::Gated && ring.lapped(part.position))
                    || part.cursor.as_ref().is_some_and(|c| c.is_evicted())
                    || ring.drained_at(part.position)
            })
        };
        self.topic.config.wait.wait(&self.topic.readable, ready, deadline)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for part in self.parts.iter().filter(|p| p.disk.is_none()) {
            let ring = &self.topic.rings[part.partition as usize];
            match part.gate_id {
                Some(id) => ring.leave(id),
                None => ring.leave_ungated(),
            }
        }
    }
}

/// What a [`Readiness`] watches.
#[derive(Debug)]
enum ReadinessKind {
    Subscription { counters: Arc<ReaderCounters>, partitions: Vec<u32> },
    Group(Arc<super::group::GroupShared>),
}

/// See [`Subscription::readiness`] and [`Member::readiness`](crate::Member::readiness).
/// `Send + Sync`: made for a thread other than the reader's.
#[derive(Debug)]
pub struct Readiness {
    topic: Arc<TopicInner>,
    kind: ReadinessKind,
}

impl Readiness {
    pub(crate) fn for_group(topic: Arc<TopicInner>, group: Arc<super::group::GroupShared>) -> Self {
        Self { topic, kind: ReadinessKind::Group(group) }
    }

    /// Whether the reader may have something to read now.
    pub fn is_ready(&self) -> bool {
        match &self.kind {
            ReadinessKind::Subscription { counters, partitions } => partitions.iter().any(|&p| {
                let ring = &self.topic.rings[p as usize];
                let position = counters.position[p as usize].get();
                // Read from another thread: the frame at `position` may be of another lap by
                // now, which reads as not committed, or as lapped (worth a look either way).
                ring.is_closed() || (position != u64::MAX && (ring.is_ready_at(position) || ring.lapped(position)))
            }),
            ReadinessKind::Group(g) => g.may_have_work(),
        }
    }

    /// Waits until [`is_ready`](Self::is_ready) or `timeout` passes (`None`: no limit), by the
    /// topic's wait strategy. Returns whether it is ready.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        self.topic.config.wait.wait(&self.topic.readable, || self.is_ready(), deadline)
    }
}

/// Iterator of owned events from [`Subscription::iter`].
#[derive(Debug)]
pub struct Iter<'s> {
    sub: &'s mut Subscription,
    done: bool,
}

impl Iterator for Iter<'_> {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.sub.poll(None) {
            Ok(Some(e)) => Some(Ok(e.to_owned())),
            Ok(None) => None,
            Err(Error::Closed) => {
                self.done = true;
                None
            }
            Err(e @ Error::Evicted) => {
                self.done = true;
                Some(Err(e))
            }
            Err(e) => Some(Err(e)),
        }
    }
}
