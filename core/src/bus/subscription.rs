//! Fanout subscriptions: each owns a cursor per partition and sees every event. The poll loop
//! is the readers' shared one (`reader.rs`); this file finds and takes a subscription's events.

use std::time::{Duration, Instant};

use super::event::{event_from_bytes, event_from_frame, Event, EventRef};
use super::reader::{self, join_ring, switch_to_ring, wrap, LoopState, ReaderCore};
use super::readiness::Readiness;
use super::stats::ReaderCounters;
use super::topic::TopicInner;
use crate::config::{SlowConsumerPolicy, Start, SubscribeOptions};
use crate::error::Error;
use crate::log::reader::LogReader;
use crate::log::timeindex;
use crate::ring::frame::{align, FrameHeader, Word0};
use crate::ring::notify::Notifier;
use crate::ring::{Cursor, GateKind, GateSpec};
use crate::sync::{Arc, CachePadded};

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
pub(crate) struct FoundFrame {
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
    /// `Evict` policy: for gates made when a disk reader joins the ring.
    evict_after: Option<Duration>,
    /// How the topic's diagnostics name this subscription's gates ("subscription #3 (Block)").
    name: String,
    state: LoopState,
}

/// For a persisted topic: a reader of the segment files when `start` lies before what the
/// ring holds (`Earliest` with older events on disk, or an older `Offset`).
fn disk_start(topic: &TopicInner, partition: u32, start: Start) -> Result<Option<LogReader>, Error> {
    let Some(log) = topic.log(partition) else { return Ok(None) };
    let ring_earliest = topic.parts.rings[partition as usize].earliest_hint();
    let at = match start {
        Start::Earliest => log.earliest(),
        Start::Offset(n) => n,
        Start::Timestamp(t) => timeindex::seek(log, t)?,
        Start::Latest | Start::Committed => return Ok(None),
    };
    if at >= ring_earliest {
        return Ok(None);
    }
    LogReader::at(log.clone(), at).map(Some)
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
        let id = {
            let mut reg = topic.registry.lock();
            reg.next_subscription += 1;
            reg.next_subscription
        };
        counters.id.set(id);
        let mut sub = Self {
            topic: topic.clone(),
            parts: Vec::new(),
            turn: 0,
            mode,
            counters,
            scratch: Vec::new(),
            evicted: false,
            evict_after,
            name: format!("subscription #{id} ({:?})", options.policy),
            state: LoopState::default(),
        };
        let skip_before = if let Start::Timestamp(t) = options.start { Some(t) } else { None };
        for p in partitions {
            let ring = &topic.parts.rings[p as usize];
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
            let gate = cursor.clone().map(|c| sub.gate(c));
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
        topic.registry.lock().readers.push(Arc::downgrade(&sub.counters));
        Ok(sub)
    }

    /// The next event if one is ready; never waits. `Ok(None)`: nothing yet.
    ///
    /// # Errors
    /// [`Error::Lagged`] (a `DropOldest` reader lost events; the next call continues with the
    /// oldest event held), [`Error::Evicted`], [`Error::Closed`] (closed and drained), an error
    /// reading segment files ([`Error::Io`], [`Error::CorruptLog`], [`Error::OffsetTrimmed`]).
    pub fn try_poll(&mut self) -> Result<Option<EventRef<'_>>, Error> {
        reader::try_poll(self, 1)
    }

    /// The next event, waiting up to `timeout` (`None`: until one arrives or the topic closes).
    /// `Ok(None)` when the timeout passed.
    ///
    /// # Errors
    /// As for [`try_poll`](Self::try_poll).
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Option<EventRef<'_>>, Error> {
        reader::poll(self, 1, timeout)
    }

    /// Hands up to `max` ready events to `f`, waiting up to `timeout` for the first one
    /// (`None`: no limit). Returns how many were handled (0: timed out). The events are
    /// borrowed for the call of `f` only; producers are released once, after the batch.
    ///
    /// ```
    /// # use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};
    /// # use std::time::Duration;
    /// let bus = Bus::new();
    /// let topic = bus.create_topic("readings", TopicConfig::new())?;
    /// let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest))?;
    /// topic.publisher()?.publish_batch(&[Record::new(b"21.5"), Record::new(b"21.7")])?;
    /// let mut total = 0.0;
    /// let n = sub.poll_batch(64, Some(Duration::from_secs(1)), |event| {
    ///     total += std::str::from_utf8(event.payload).unwrap().parse::<f64>().unwrap();
    /// })?;
    /// assert_eq!((n, total), (2, 43.2));
    /// # Ok::<(), ringbus::Error>(())
    /// ```
    ///
    /// # Errors
    /// As for [`try_poll`](Self::try_poll); an error after some events were handled is
    /// returned by the next call, so no event goes unreported.
    pub fn poll_batch<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>),
    {
        let n = reader::batch(self, max, timeout, &mut |e, _| {
            f(e);
            true
        })?;
        self.release();
        Ok(n)
    }

    /// As [`poll_batch`](Self::poll_batch), but stops after the first event for which `f`
    /// returns false (it counts as handled); the events after it stay unread for the next call.
    ///
    /// # Errors
    /// As for [`poll_batch`](Self::poll_batch).
    pub fn poll_batch_while<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>) -> bool,
    {
        let n = reader::batch(self, max, timeout, &mut |e, _| f(e))?;
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
    ///
    /// # Errors
    /// As for [`poll_batch`](Self::poll_batch).
    pub fn poll_batch_held<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>, bool),
    {
        reader::batch(self, max, timeout, &mut |e, in_place| {
            f(e, in_place);
            true
        })
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
        Readiness::for_subscription(
            self.topic.clone(),
            self.counters.clone(),
            self.parts.iter().map(|p| p.partition).collect(),
        )
    }

    /// The gate this subscription holds on a ring, at `cursor`.
    fn gate(&self, cursor: Arc<Cursor>) -> GateSpec {
        GateSpec::new(GateKind::Cursor(cursor), self.name.clone()).evict_after(self.evict_after)
    }

    /// Per partition read: the offset of the next event this subscription will read.
    pub fn positions(&self) -> Vec<(u32, u64)> {
        self.parts.iter().map(|p| (p.partition, p.position)).collect()
    }
}

impl ReaderCore for Subscription {
    type Found = FoundFrame;

    fn loop_state(&mut self) -> &mut LoopState {
        &mut self.state
    }

    /// Releases what was read to producers (gating modes) and publishes the counters.
    fn release(&mut self) {
        for part in &mut self.parts {
            if part.released != part.position {
                part.released = part.position;
                self.counters.position[part.partition as usize].set(part.position);
                if let Some(c) = &part.cursor {
                    c.release(part.position);
                    self.topic.parts.rings[part.partition as usize].writable.notify();
                }
            }
        }
    }

    /// Finds the next event in round-robin partition order, skipping padding; copies it into
    /// `scratch` in copying modes.
    fn find(&mut self, _max_run: usize) -> Result<Option<FoundFrame>, Error> {
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
                        if FrameHeader::parse(&self.scratch).timestamp < t {
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
            let ring = &self.topic.parts.rings[part.partition as usize];
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
                        return Ok(Some(FoundFrame {
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

    /// Gated mode's batch path: hands every committed event of each partition (up to `max`,
    /// stopping at the first frame not committed yet) to `f` straight from the ring, without
    /// waiting, until `f` returns false.
    /// Returns how many, and whether `f` wants more.
    fn drain<F: FnMut(EventRef<'_>, bool) -> bool>(&mut self, max: usize, f: &mut F) -> (usize, bool) {
        if self.mode != Mode::Gated {
            return (0, true);
        }
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
            let ring = &topic.parts.rings[part.partition as usize];
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
    fn take(&mut self, found: FoundFrame) -> (EventRef<'_>, bool) {
        let part = &mut self.parts[found.slot];
        part.position = found.position + align(found.len) as u64;
        part.index += 1;
        let partition = part.partition;
        self.counters.position[partition as usize].set(part.position);
        self.counters.delivered.add(1);
        if found.copied {
            return (event_from_bytes(found.position, partition, &self.scratch[..found.len]), false);
        }
        let ring = &self.topic.parts.rings[partition as usize];
        let (timestamp, meta) = ring.header(found.position);
        // SAFETY: the frame is committed (find Acquire-loaded its word 0) and this
        // subscription's gate sits at or before it until the next `release`, which needs
        // &mut self and so cannot happen while the returned borrow lives.
        let body = unsafe { ring.body(found.position, found.len) };
        (event_from_frame(found.position, partition, timestamp, meta, body), true)
    }

    /// Waits until some partition may have an event; false when the deadline passed.
    fn is_ready(&self) -> bool {
        self.parts.iter().any(|part| {
            let ring = &self.topic.parts.rings[part.partition as usize];
            // A lapped copying reader finds no frame of its lap: `find` reports the loss.
            part.disk.is_some()
                || ring.is_ready_at(part.position)
                || (self.mode != Mode::Gated && ring.lapped(part.position))
                || part.cursor.as_ref().is_some_and(|c| c.is_evicted())
                || ring.drained_at(part.position)
        })
    }

    fn readable(&self) -> &Arc<Notifier> {
        &self.topic.parts.readable
    }

    fn wait(&self, deadline: Option<Instant>) -> bool {
        self.topic.config.wait.wait(&self.topic.parts.readable, || self.is_ready(), deadline)
    }
}

impl Subscription {
    /// The next event of disk-reading partition `slot`, copied into `scratch`; joins the ring
    /// instead once the reader has reached what the ring still holds (`None` then, and when
    /// the persister has not written further yet).
    fn find_on_disk(&mut self, slot: usize) -> Result<Option<FoundFrame>, Error> {
        let gate = self.parts[slot].cursor.clone().map(|c| self.gate(c));
        let part = &mut self.parts[slot];
        let ring = &self.topic.parts.rings[part.partition as usize];
        let at = part.disk.as_ref().expect("a disk reader").position();
        if let Some(joined) = switch_to_ring(ring, part.partition, at, gate)? {
            part.disk = None;
            part.position = joined.position;
            part.index = joined.event_index;
            part.released = joined.position;
            part.gate_id = joined.gate_id;
            return Ok(None);
        }
        let reader = part.disk.as_mut().expect("a disk reader");
        self.scratch.clear();
        match reader.next_event(&mut self.scratch)? {
            Some((position, len)) => {
                part.position = reader.position();
                Ok(Some(FoundFrame { slot, position, len, copied: true }))
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
        let ring = &self.topic.parts.rings[part.partition as usize];
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
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for part in self.parts.iter().filter(|p| p.disk.is_none()) {
            let ring = &self.topic.parts.rings[part.partition as usize];
            match part.gate_id {
                Some(id) => ring.leave(id),
                None => ring.leave_ungated(),
            }
        }
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
