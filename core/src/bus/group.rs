//! Work-queue groups: each event goes to exactly one member.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::config::{validate_name, Start};
use super::error::Error;
use super::event::{event_from_frame, EventRef};
use super::stats::{ReaderCounters, ReaderKind, ReaderStats};
use super::subscription::join_error;
use super::subscription::{back_off, join_ring, wrap, STREAMING};
use super::topic::TopicInner;
use crate::log::reader::LogReader;
use crate::ring::frame::{align, Word0, HEADER_LEN};
use crate::ring::group::{GroupCursor, MemberSlot, Run};
use crate::ring::{GateKind, JoinAt, JoinError};

/// Events a member claims at once when polling one at a time.
const RUN_EVENTS: usize = 32;

/// Events a member takes from segment files at once.
const DISK_RUN_EVENTS: usize = 256;

/// State shared by a group's handles.
#[derive(Debug)]
pub(crate) struct GroupShared {
    name: String,
    topic: Arc<TopicInner>,
    cursors: Vec<Arc<GroupCursor>>,
    /// Per partition: the ring gate once the group reads the ring there.
    gate_ids: Mutex<Vec<Option<u64>>>,
    /// Per partition: reading segment files, before the group reaches the ring (persisted
    /// topics whose group starts behind what the ring holds).
    disk: Vec<Mutex<DiskState>>,
    members: Mutex<Vec<Weak<ReaderCounters>>>,
    /// Deliveries by members that left.
    retired: AtomicU64,
    next_member_id: AtomicU64,
}

/// A partition's segment-file side of a group.
#[derive(Debug, Default)]
struct DiskState {
    /// The shared reader; `None` once the group reads the ring (or never read disk).
    feed: Option<LogReader>,
    /// Disk runs members are processing: (member id, start).
    inflight: Vec<(u64, u64)>,
    /// Disk runs members left unfinished: (start, end), taken before new ones.
    returned: Vec<(u64, u64)>,
}

impl DiskState {
    fn has_work(&self) -> bool {
        self.feed.is_some() || !self.returned.is_empty()
    }
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

impl GroupShared {
    /// Partition `k`'s position below which every event handed to a member was processed:
    /// the oldest run still in flight (disk or ring), else where the group reads next.
    fn committed_position(&self, k: usize) -> u64 {
        let disk = self.disk[k].lock();
        let mut p = match &disk.feed {
            Some(reader) => reader.position(),
            None => self.cursors[k].gate(),
        };
        for &(_, start) in &disk.inflight {
            p = p.min(start);
        }
        for &(start, _) in &disk.returned {
            p = p.min(start);
        }
        p
    }

    /// Whether a member may find work now (or the end of a closed topic).
    pub(crate) fn may_have_work(&self) -> bool {
        self.cursors.iter().enumerate().any(|(k, c)| {
            let ring = &self.topic.rings[k];
            ring.is_closed() || self.disk[k].lock().has_work() || (c.is_joined() && c.has_work(ring))
        })
    }

    /// Stores the group's committed positions (persisted topics).
    fn commit(&self) -> Result<Vec<u64>, Error> {
        let Some(topic_dir) = self.topic.dir() else {
            return Err(Error::NotPersisted(format!("committing group {:?}", self.name)));
        };
        let released = self.topic.released.read();
        if *released {
            // The bus is gone and the directory may be another bus's by now.
            return Err(Error::Closed);
        }
        let offsets: Vec<u64> = (0..self.cursors.len()).map(|k| self.committed_position(k)).collect();
        crate::log::write_group_offsets(topic_dir, &self.name, &offsets)?;
        Ok(offsets)
    }

    /// Joins partition `k`'s ring at `position` (the disk feed caught up).
    fn join_ring_at(&self, k: usize, position: u64) -> Result<bool, Error> {
        let ring = &self.topic.rings[k];
        match ring.join(JoinAt::Offset(position), Some((GateKind::Group(self.cursors[k].clone()), None))) {
            Ok(joined) => {
                self.gate_ids.lock()[k] = joined.gate_id;
                self.cursors[k].set_joined();
                Ok(true)
            }
            Err(JoinError::Trimmed { .. }) => Ok(false),
            Err(e) => Err(join_error(k as u32, position, e)),
        }
    }
}

impl Drop for GroupShared {
    fn drop(&mut self) {
        for (i, id) in self.gate_ids.lock().iter().enumerate() {
            if let Some(id) = id {
                self.topic.rings[i].leave(*id);
            }
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
        if matches!(start, Start::Timestamp(_)) {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Timestamp is for subscriptions".into(),
            });
        }
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
        // Where each partition starts: an offset on disk, or a ring join.
        let committed = match (start, topic.dir()) {
            (Start::Committed, Some(dir)) => crate::log::read_group_offsets(dir, name, topic.partitions())?,
            (Start::Committed, None) => {
                return Err(Error::NotPersisted(format!("Start::Committed for group {name:?}")));
            }
            _ => None,
        };
        let n = topic.partitions() as usize;
        let shared = GroupShared {
            name: name.to_owned(),
            topic: topic.clone(),
            cursors: (0..n).map(|_| Arc::new(GroupCursor::new())).collect(),
            gate_ids: Mutex::new(vec![None; n]),
            disk: (0..n).map(|_| Mutex::new(DiskState::default())).collect(),
            members: Mutex::new(Vec::new()),
            retired: AtomicU64::new(0),
            next_member_id: AtomicU64::new(0),
        };
        // On error, `shared` drops and leaves the rings joined so far.
        for (k, ring) in topic.rings.iter().enumerate() {
            let at = match (start, &committed, topic.log(k as u32)) {
                (Start::Committed, Some(offsets), _) => Some(offsets[k]),
                (Start::Committed, None, Some(log)) | (Start::Earliest, _, Some(log)) => Some(log.earliest()),
                (Start::Offset(o), _, Some(_)) => Some(o),
                _ => None,
            };
            match (at, topic.log(k as u32)) {
                (Some(at), Some(log)) if at < ring.earliest_hint() => {
                    shared.disk[k].lock().feed = Some(LogReader::at(log.clone(), at)?);
                }
                (Some(at), Some(_)) => {
                    let joined = join_ring(
                        ring,
                        k as u32,
                        Start::Offset(at),
                        Some((GateKind::Group(shared.cursors[k].clone()), None)),
                    )?;
                    shared.gate_ids.lock()[k] = joined.gate_id;
                    shared.cursors[k].set_joined();
                }
                _ => {
                    let joined =
                        join_ring(ring, k as u32, start, Some((GateKind::Group(shared.cursors[k].clone()), None)))?;
                    shared.gate_ids.lock()[k] = joined.gate_id;
                    shared.cursors[k].set_joined();
                }
            }
        }
        let shared = Arc::new(shared);
        reg.groups.insert(name.to_owned(), Arc::downgrade(&shared));
        Ok(Self { shared })
    }

    /// Stores where the group stands: per partition, the offset before which every event was
    /// handed to a member that has finished it (the oldest run any member still processes), so
    /// `Start::Committed` resumes there after a restart. Returns the offsets. Persisted topics
    /// only ([`Error::NotPersisted`] otherwise); the file is fsynced before this returns.
    /// After the bus has shut down (its directory lock released) it fails with
    /// [`Error::Closed`] and writes nothing. A topic merely closed still commits, so members
    /// can drain it and commit what they finished.
    pub fn commit(&self) -> Result<Vec<u64>, Error> {
        self.shared.commit()
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
        let id = self.shared.next_member_id.fetch_add(1, Ordering::Relaxed);
        Member {
            shared: self.shared.clone(),
            slots,
            run: None,
            disk_run: DiskRun::default(),
            id,
            turn: 0,
            counters,
            last_batch: 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct CurrentRun {
    slot: usize,
    position: u64,
    end: u64,
}

/// A run of events read from segment files, copied into the member's buffer.
#[derive(Debug, Default)]
struct DiskRun {
    slot: usize,
    /// (offset, unaligned frame length, index in `buf`) of each event.
    frames: Vec<(u64, usize, usize)>,
    next: usize,
    buf: Vec<u8>,
    /// Offset after the run's last frame.
    end: u64,
}

/// Where a found event lies.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// In the ring: (partition, offset, unaligned frame length).
    Ring(usize, u64, usize),
    /// In the member's disk run, at this index of its frames.
    Disk(usize),
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
    /// A run taken from segment files (`frames` empty: none).
    disk_run: DiskRun,
    /// Identifies this member's disk runs in the group's in-flight lists.
    id: u64,
    turn: usize,
    counters: Arc<ReaderCounters>,
    /// Events the last batch call returned (a streaming producer: see `STREAMING`).
    last_batch: usize,
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
        self.poll_batch_while(max, timeout, |e| {
            f(e);
            true
        })
    }

    /// As [`poll_batch`](Self::poll_batch), but stops after the first event for which `f`
    /// returns false (it counts as handled); the rest of this member's run stays its own for
    /// the next call.
    pub fn poll_batch_while<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>) -> bool,
    {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut n = 0;
        while n < max {
            match self.find(max - n) {
                Ok(Some(found)) => {
                    n += 1;
                    if !f(self.take(found)) {
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
                Err(_) => break,
            }
        }
        self.finish_run_if_done();
        self.last_batch = n;
        Ok(n)
    }

    /// A handle another thread can wait on until the group may have work for a member (see
    /// [`Subscription::readiness`](crate::Subscription::readiness)).
    pub fn readiness(&self) -> super::subscription::Readiness {
        super::subscription::Readiness::for_group(self.shared.topic.clone(), self.shared.clone())
    }

    /// Commits for the group (see [`Group::commit`]): everything this member was handed counts
    /// as processed, and the group's offsets are stored and fsynced. Returns them.
    ///
    /// Errors: [`Error::NotPersisted`] on an in-memory topic, [`Error::Closed`] once the bus
    /// has shut down, [`Error::Io`].
    pub fn commit(&mut self) -> Result<Vec<u64>, Error> {
        self.finish_run_if_done();
        if let Some(run) = self.run {
            // The events before `position` were handed out: done.
            self.slots[run.slot].advance(run.position);
        }
        if !self.disk_run.frames.is_empty() {
            let done_to = match self.disk_run.frames.get(self.disk_run.next) {
                Some(&(offset, _, _)) => offset,
                None => self.disk_run.end,
            };
            if self.disk_run.next == self.disk_run.frames.len() {
                self.finish_disk_run();
            } else {
                let mut disk = self.shared.disk[self.disk_run.slot].lock();
                for entry in disk.inflight.iter_mut().filter(|(id, _)| *id == self.id) {
                    entry.1 = done_to;
                }
            }
        }
        self.shared.commit()
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
        if !self.disk_run.frames.is_empty() && self.disk_run.next == self.disk_run.frames.len() {
            self.finish_disk_run();
        }
    }

    /// Ends the current disk run (all of it was handed out).
    fn finish_disk_run(&mut self) {
        let mut disk = self.shared.disk[self.disk_run.slot].lock();
        disk.inflight.retain(|(id, _)| *id != self.id);
        drop(disk);
        self.disk_run.frames.clear();
        self.disk_run.buf.clear();
        self.disk_run.next = 0;
    }

    /// Takes a run of events from partition `k`'s segment files if the group reads them there:
    /// returned runs first, then the shared reader. Switches the partition to the ring once the
    /// reader reaches what the ring holds. Whether a run was taken.
    fn take_disk_run(&mut self, k: usize, max: usize) -> Result<bool, Error> {
        let shared = &self.shared;
        let mut disk = shared.disk[k].lock();
        if !disk.has_work() {
            return Ok(false);
        }
        let run = &mut self.disk_run;
        run.slot = k;
        let max = max.clamp(1, DISK_RUN_EVENTS);
        let start;
        if let Some((from, to)) = disk.returned.pop() {
            let log = shared.topic.log(k as u32).expect("a persisted topic");
            let mut reader = LogReader::at(log.clone(), from)?;
            start = from;
            while reader.position() < to && run.frames.len() < max {
                let at = run.buf.len();
                match reader.next_event(&mut run.buf)? {
                    Some((offset, len)) => run.frames.push((offset, len, at)),
                    None => break,
                }
            }
            run.end = reader.position();
            if run.end < to {
                disk.returned.push((run.end, to));
            }
        } else {
            let ring = &shared.topic.rings[k];
            let feed = disk.feed.as_mut().expect("has_work: a feed");
            if feed.position() >= ring.earliest_hint() && shared.join_ring_at(k, feed.position())? {
                disk.feed = None;
                return Ok(false);
            }
            start = feed.position();
            while run.frames.len() < max {
                let at = run.buf.len();
                match feed.next_event(&mut run.buf)? {
                    Some((offset, len)) => run.frames.push((offset, len, at)),
                    None => break,
                }
            }
            run.end = feed.position();
        }
        if run.frames.is_empty() {
            return Ok(false);
        }
        run.next = 0;
        disk.inflight.push((self.id, start));
        Ok(true)
    }

    fn find(&mut self, max_run: usize) -> Result<Option<Found>, Error> {
        loop {
            if self.disk_run.next < self.disk_run.frames.len() {
                return Ok(Some(Found::Disk(self.disk_run.next)));
            }
            if !self.disk_run.frames.is_empty() {
                self.finish_disk_run();
            }
            if let Some(run) = &mut self.run {
                let ring = &self.shared.topic.rings[run.slot];
                while run.position < run.end {
                    match ring.word0(run.position) {
                        Word0::Padding(n) => run.position += n as u64,
                        Word0::Event(len) => return Ok(Some(Found::Ring(run.slot, run.position, len))),
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
                if self.take_disk_run(k, max_run)? {
                    self.turn = wrap(k + 1, n);
                    claimed = true;
                    break;
                }
                let cursor = &self.shared.cursors[k];
                if !cursor.is_joined() {
                    continue;
                }
                let ring = &self.shared.topic.rings[k];
                if let Some(Run { start, end }) = cursor.claim(ring, &self.slots[k], max_run.max(1)) {
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
            c.is_joined() && !self.shared.disk[k].lock().has_work() && ring.drained_at(c.next()) && !c.has_work(ring)
        })
    }

    fn take(&mut self, found: Found) -> EventRef<'_> {
        self.counters.delivered.add(1);
        match found {
            Found::Disk(i) => {
                let run = &mut self.disk_run;
                run.next = i + 1;
                let (offset, len, at) = run.frames[i];
                let frame = &run.buf[at..at + len];
                let timestamp = u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes"));
                let meta = u64::from_le_bytes(frame[16..24].try_into().expect("8 bytes"));
                event_from_frame(offset, run.slot as u32, timestamp, meta, &frame[HEADER_LEN..])
            }
            Found::Ring(slot, position, len) => {
                let run = self.run.as_mut().expect("find set the run");
                run.position = position + align(len) as u64;
                let ring = &self.shared.topic.rings[slot];
                let (timestamp, meta) = ring.header(position);
                // SAFETY: the frame is committed (the claim walked its Acquire-loaded word 0)
                // and this member's slot holds the group's gate at or before it until the run
                // is released, which needs &mut self and so cannot happen while the returned
                // borrow lives.
                let body = unsafe { ring.body(position, len) };
                event_from_frame(position, slot as u32, timestamp, meta, body)
            }
        }
    }

    fn wait(&self, deadline: Option<Instant>) -> bool {
        let topic = &self.shared.topic;
        let ready = || {
            self.shared.cursors.iter().enumerate().any(|(k, c)| {
                let ring = &topic.rings[k];
                self.shared.disk[k].lock().has_work()
                    || (c.is_joined() && (c.has_work(ring) || ring.drained_at(c.next())))
            })
        };
        topic.config.wait.wait(&topic.readable, ready, deadline)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if !self.disk_run.frames.is_empty() {
            // Hand the unprocessed rest of the disk run back to the group.
            let rest = self.disk_run.frames.get(self.disk_run.next).map(|&(offset, _, _)| offset);
            let mut disk = self.shared.disk[self.disk_run.slot].lock();
            disk.inflight.retain(|(id, _)| *id != self.id);
            if let Some(from) = rest {
                disk.returned.push((from, self.disk_run.end));
            }
        }
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
