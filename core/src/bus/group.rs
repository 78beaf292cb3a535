//! Work-queue groups: each event goes to exactly one member.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::config::{validate_name, Start};
use super::error::Error;
use super::event::EventRef;
use super::stats::{ReaderCounters, ReaderKind, ReaderStats};
use super::subscription::{join_ring, wrap};
use super::topic::TopicInner;
use crate::ring::frame::{align, Word0};
use crate::ring::group::{GroupCursor, MemberSlot, Run};
use crate::ring::GateKind;

/// Events a member claims at once when polling one at a time.
const RUN_EVENTS: usize = 32;

/// State shared by a group's handles.
#[derive(Debug)]
pub(crate) struct GroupShared {
    name: String,
    topic: Arc<TopicInner>,
    cursors: Vec<Arc<GroupCursor>>,
    gate_ids: Vec<u64>,
    members: Mutex<Vec<Weak<ReaderCounters>>>,
    /// Deliveries by members that left.
    retired: AtomicU64,
}

impl GroupShared {
    pub(crate) fn stats(&self, topic: &TopicInner) -> ReaderStats {
        let mut members = self.members.lock();
        members.retain(|w| w.strong_count() > 0);
        let delivered = self.retired.load(Ordering::Relaxed)
            + members.iter().filter_map(Weak::upgrade).map(|c| c.delivered.get()).sum::<u64>();
        let mut lag = 0;
        let mut lag_bytes = 0;
        for (i, cursor) in self.cursors.iter().enumerate() {
            let ring = &topic.rings[i];
            let next = cursor.next();
            lag += ring.events_from(next);
            lag_bytes += ring.tail().saturating_sub(next);
        }
        ReaderStats {
            kind: ReaderKind::Group { name: self.name.clone(), members: members.len() },
            delivered,
            dropped: 0,
            lag,
            lag_bytes,
        }
    }
}

impl Drop for GroupShared {
    fn drop(&mut self) {
        for (i, id) in self.gate_ids.iter().enumerate() {
            self.topic.rings[i].leave(*id);
        }
    }
}

/// A work-queue group on a topic: its members share one cursor per partition and each event
/// goes to exactly one member. The group holds producers back like a `Block` reader, at the
/// start of the oldest run a member has claimed and not finished, so nothing claimed is lost
/// when a member leaves: the unprocessed rest of its run goes to the other members.
///
/// Cheap to clone, `Send + Sync`. The group exists while any `Group` or [`Member`] handle does.
#[derive(Debug, Clone)]
pub struct Group {
    shared: Arc<GroupShared>,
}

impl Group {
    pub(crate) fn open(topic: Arc<TopicInner>, name: &str, start: Start) -> Result<Self, Error> {
        validate_name(name)?;
        if matches!(start, Start::Offset(_)) && topic.partitions() != 1 {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Offset needs a topic with exactly one partition".into(),
            });
        }
        let mut reg = topic.registry.lock();
        if let Some(shared) = reg.groups.get(name).and_then(Weak::upgrade) {
            return Ok(Self { shared });
        }
        let mut cursors = Vec::new();
        let mut gate_ids = Vec::new();
        for (i, ring) in topic.rings.iter().enumerate() {
            let cursor = Arc::new(GroupCursor::new());
            match join_ring(ring, i as u32, start, Some((GateKind::Group(cursor.clone()), None))) {
                Ok(joined) => {
                    gate_ids.push(joined.gate_id.expect("gated join returns an id"));
                    cursors.push(cursor);
                }
                Err(e) => {
                    for (j, id) in gate_ids.iter().enumerate() {
                        topic.rings[j].leave(*id);
                    }
                    return Err(e);
                }
            }
        }
        let shared = Arc::new(GroupShared {
            name: name.to_owned(),
            topic: topic.clone(),
            cursors,
            gate_ids,
            members: Mutex::new(Vec::new()),
            retired: AtomicU64::new(0),
        });
        reg.groups.insert(name.to_owned(), Arc::downgrade(&shared));
        Ok(Self { shared })
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Adds a member. Members join and leave at any time; a new member takes events from the
    /// group's current position.
    pub fn join(&self) -> Member {
        let slots = self.shared.cursors.iter().map(|c| c.add_member()).collect();
        let counters = Arc::new(ReaderCounters::new(self.shared.cursors.len()));
        self.shared.members.lock().push(Arc::downgrade(&counters));
        Member { shared: self.shared.clone(), slots, run: None, turn: 0, counters }
    }
}

#[derive(Debug, Clone, Copy)]
struct CurrentRun {
    slot: usize,
    position: u64,
    end: u64,
}

/// One member of a work-queue [`Group`]: polls like a [`Subscription`](crate::Subscription),
/// but each event goes to only one member of the group.
///
/// A member claims runs of events with one atomic operation per run (up to 32 when polling
/// one at a time, up to the batch size in `poll_batch`); the events of a run are delivered in
/// partition order. Events are borrowed from the ring, never copied. `Send`, not `Sync`.
/// Dropping a member hands the unprocessed rest of its run back to the group.
#[derive(Debug)]
pub struct Member {
    shared: Arc<GroupShared>,
    slots: Vec<Arc<MemberSlot>>,
    run: Option<CurrentRun>,
    turn: usize,
    counters: Arc<ReaderCounters>,
}

impl Member {
    /// The next event if one is ready; never waits. Errors: [`Error::Closed`] once the topic
    /// is closed and the group has drained it.
    pub fn try_poll(&mut self) -> Result<Option<EventRef<'_>>, Error> {
        match self.find(RUN_EVENTS)? {
            Some(found) => Ok(Some(self.take(found))),
            None => Ok(None),
        }
    }

    /// The next event, waiting up to `timeout` (`None`: no limit). `Ok(None)`: timed out.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Option<EventRef<'_>>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let found = loop {
            if let Some(found) = self.find(RUN_EVENTS)? {
                break found;
            }
            if !self.wait(deadline) {
                return Ok(None);
            }
        };
        Ok(Some(self.take(found)))
    }

    /// Hands up to `max` events to `f`, waiting up to `timeout` for the first (`None`: no
    /// limit). Returns how many were handled; the run is released to producers after the batch.
    pub fn poll_batch<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>),
    {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut n = 0;
        while n < max {
            match self.find(max - n) {
                Ok(Some(found)) => {
                    f(self.take(found));
                    n += 1;
                }
                Ok(None) if n > 0 => break,
                Ok(None) => {
                    if !self.wait(deadline) {
                        break;
                    }
                }
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        self.finish_run_if_done();
        Ok(n)
    }

    /// Releases the current run when all of it was handed out.
    fn finish_run_if_done(&mut self) {
        if let Some(run) = self.run {
            let ring = &self.shared.topic.rings[run.slot];
            let mut p = run.position;
            while p < run.end {
                match ring.word0(p) {
                    Word0::Padding(n) => p += n as u64,
                    _ => return,
                }
            }
            self.slots[run.slot].release();
            ring.writable.notify();
            self.run = None;
        }
    }

    fn find(&mut self, max_run: usize) -> Result<Option<(usize, u64, usize)>, Error> {
        loop {
            if let Some(run) = &mut self.run {
                let ring = &self.shared.topic.rings[run.slot];
                while run.position < run.end {
                    match ring.word0(run.position) {
                        Word0::Padding(n) => run.position += n as u64,
                        Word0::Event(len) => return Ok(Some((run.slot, run.position, len))),
                        Word0::Uncommitted => unreachable!("a claimed run holds only committed frames"),
                    }
                }
                self.slots[run.slot].release();
                ring.writable.notify();
                self.run = None;
            }
            let n = self.slots.len();
            let mut claimed = false;
            for step in 0..n {
                let k = wrap(self.turn + step, n);
                let ring = &self.shared.topic.rings[k];
                if let Some(Run { start, end }) = self.shared.cursors[k].claim(ring, &self.slots[k], max_run.max(1)) {
                    self.run = Some(CurrentRun { slot: k, position: start, end });
                    self.turn = wrap(k + 1, n);
                    claimed = true;
                    break;
                }
            }
            if claimed {
                continue;
            }
            if self.drained() {
                return Err(Error::Closed);
            }
            return Ok(None);
        }
    }

    fn drained(&self) -> bool {
        self.shared.cursors.iter().enumerate().all(|(k, c)| {
            let ring = &self.shared.topic.rings[k];
            ring.drained_at(c.next()) && !c.has_work(ring)
        })
    }

    fn take(&mut self, (slot, position, len): (usize, u64, usize)) -> EventRef<'_> {
        let run = self.run.as_mut().expect("find set the run");
        run.position = position + align(len) as u64;
        self.counters.delivered.add(1);
        let ring = &self.shared.topic.rings[slot];
        let (timestamp, key_len) = ring.header(position);
        // SAFETY: the frame is committed (the claim walked its Acquire-loaded word 0) and this
        // member's slot holds the group's gate at or before it until the run is released, which
        // needs &mut self and so cannot happen while the returned borrow lives.
        let body = unsafe { ring.body(position, len) };
        let key_len = key_len.min(body.len());
        EventRef {
            offset: position,
            partition: slot as u32,
            timestamp,
            key: (key_len > 0).then(|| &body[..key_len]),
            payload: &body[key_len..],
        }
    }

    fn wait(&self, deadline: Option<Instant>) -> bool {
        let topic = &self.shared.topic;
        let ready = || {
            self.shared.cursors.iter().enumerate().any(|(k, c)| {
                let ring = &topic.rings[k];
                c.has_work(ring) || ring.drained_at(c.next())
            })
        };
        topic.config.wait.wait(&topic.readable, ready, deadline)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let run = self.run.take();
        for (k, slot) in self.slots.iter().enumerate() {
            let rest = run.filter(|r| r.slot == k).map(|r| Run { start: r.position, end: r.end });
            self.shared.cursors[k].remove_member(slot, rest);
        }
        self.shared.retired.fetch_add(self.counters.delivered.get(), Ordering::Relaxed);
        self.shared.topic.readable.wake_all();
        for ring in self.shared.topic.rings.iter() {
            ring.writable.wake_all();
        }
    }
}
