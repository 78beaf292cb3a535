//! Members of work-queue groups: each claims runs of events through its group's shared
//! cursor (one CAS per run) or takes runs from the group's reader of segment files, and polls
//! through the readers' shared loop (`reader.rs`).

use std::time::{Duration, Instant};

use super::event::{event_from_bytes, event_from_frame, EventRef};
use super::group::GroupShared;
use super::reader::{self, wrap, LoopState, ReaderCore};
use super::readiness::Readiness;
use super::stats::ReaderCounters;
use crate::error::Error;
use crate::log::reader::LogReader;
use crate::ring::frame::{align, Word0};
use crate::ring::group::{MemberSlot, Run};
use crate::ring::notify::Notifier;
use crate::sync::{Arc, Ordering};

/// Events a member claims at once when polling one at a time.
const RUN_EVENTS: usize = 32;

/// Events a member takes from segment files at once.
const DISK_RUN_EVENTS: usize = 256;

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
pub(crate) enum FoundEvent {
    /// In the ring: (partition, offset, unaligned frame length).
    Ring(usize, u64, usize),
    /// In the member's disk run, at this index of its frames.
    Disk(usize),
}

/// One member of a work-queue [`Group`](crate::Group): polls like a [`Subscription`](crate::Subscription),
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
    state: LoopState,
}

impl Member {
    pub(super) fn new(
        shared: Arc<GroupShared>,
        slots: Vec<Arc<MemberSlot>>,
        id: u64,
        counters: Arc<ReaderCounters>,
    ) -> Self {
        Self {
            shared,
            slots,
            run: None,
            disk_run: DiskRun::default(),
            id,
            turn: 0,
            counters,
            state: LoopState::default(),
        }
    }

    /// The next event if one is ready; never waits.
    ///
    /// # Errors
    /// [`Error::Closed`] once the topic is closed and the group has drained it; an error
    /// reading segment files ([`Error::Io`], [`Error::CorruptLog`], [`Error::OffsetTrimmed`]).
    pub fn try_poll(&mut self) -> Result<Option<EventRef<'_>>, Error> {
        reader::try_poll(self, RUN_EVENTS)
    }

    /// The next event, waiting up to `timeout` (`None`: no limit). `Ok(None)`: timed out.
    ///
    /// # Errors
    /// As for [`try_poll`](Self::try_poll).
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Option<EventRef<'_>>, Error> {
        reader::poll(self, RUN_EVENTS, timeout)
    }

    /// Hands up to `max` events to `f`, waiting up to `timeout` for the first (`None`: no
    /// limit). Returns how many were handled; the run is released to producers after the batch.
    ///
    /// # Errors
    /// As for [`try_poll`](Self::try_poll); an error after some events were handled is
    /// returned by the next call, so no event goes unreported.
    pub fn poll_batch<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>),
    {
        reader::batch(self, max, timeout, &mut |e, _| {
            f(e);
            true
        })
    }

    /// As [`poll_batch`](Self::poll_batch), but stops after the first event for which `f`
    /// returns false (it counts as handled); the rest of this member's run stays its own for
    /// the next call.
    ///
    /// # Errors
    /// As for [`poll_batch`](Self::poll_batch).
    pub fn poll_batch_while<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>) -> bool,
    {
        reader::batch(self, max, timeout, &mut |e, _| f(e))
    }

    /// A handle another thread can wait on until the group may have work for a member (see
    /// [`Subscription::readiness`](crate::Subscription::readiness)).
    pub fn readiness(&self) -> Readiness {
        Readiness::for_group(self.shared.topic.clone(), self.shared.clone())
    }

    /// Commits for the group (see [`Group::commit`](crate::Group::commit)): everything this member was handed counts
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
            let ring = &self.shared.topic.parts.rings[run.slot];
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
            let feed = disk.feed.as_mut().expect("has_work: a feed");
            if shared.switch_to_ring(k, feed.position())? {
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

    fn drained(&self) -> bool {
        self.shared.cursors.iter().enumerate().all(|(k, c)| {
            let ring = &self.shared.topic.parts.rings[k];
            c.is_joined() && !self.shared.disk[k].lock().has_work() && ring.drained_at(c.next()) && !c.has_work(ring)
        })
    }
}

impl ReaderCore for Member {
    type Found = FoundEvent;

    fn loop_state(&mut self) -> &mut LoopState {
        &mut self.state
    }

    fn find(&mut self, max_run: usize) -> Result<Option<FoundEvent>, Error> {
        loop {
            if self.disk_run.next < self.disk_run.frames.len() {
                return Ok(Some(FoundEvent::Disk(self.disk_run.next)));
            }
            if !self.disk_run.frames.is_empty() {
                self.finish_disk_run();
            }
            if let Some(run) = &mut self.run {
                let ring = &self.shared.topic.parts.rings[run.slot];
                while run.position < run.end {
                    match ring.word0(run.position) {
                        Word0::Padding(n) => run.position += n as u64,
                        Word0::Event(len) => return Ok(Some(FoundEvent::Ring(run.slot, run.position, len))),
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
                let ring = &self.shared.topic.parts.rings[k];
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

    /// Ring events are not in place for callers: a member releases a run it handed out whole
    /// at the end of the batch.
    fn take(&mut self, found: FoundEvent) -> (EventRef<'_>, bool) {
        self.counters.delivered.add(1);
        match found {
            FoundEvent::Disk(i) => {
                let run = &mut self.disk_run;
                run.next = i + 1;
                let (offset, len, at) = run.frames[i];
                (event_from_bytes(offset, run.slot as u32, &run.buf[at..at + len]), false)
            }
            FoundEvent::Ring(slot, position, len) => {
                let run = self.run.as_mut().expect("find set the run");
                run.position = position + align(len) as u64;
                let ring = &self.shared.topic.parts.rings[slot];
                let (timestamp, meta) = ring.header(position);
                // SAFETY: the frame is committed (the claim walked its Acquire-loaded word 0)
                // and this member's slot holds the group's gate at or before it until the run
                // is released, which needs &mut self and so cannot happen while the returned
                // borrow lives.
                let body = unsafe { ring.body(position, len) };
                (event_from_frame(position, slot as u32, timestamp, meta, body), false)
            }
        }
    }

    fn is_ready(&self) -> bool {
        let topic = &self.shared.topic;
        self.shared.cursors.iter().enumerate().any(|(k, c)| {
            let ring = &topic.parts.rings[k];
            self.shared.disk[k].lock().has_work() || (c.is_joined() && (c.has_work(ring) || ring.drained_at(c.next())))
        })
    }

    fn readable(&self) -> &Arc<Notifier> {
        &self.shared.topic.parts.readable
    }

    fn wait(&self, deadline: Option<Instant>) -> bool {
        let topic = &self.shared.topic;
        topic.config.wait.wait(&topic.parts.readable, || self.is_ready(), deadline)
    }

    fn end_batch(&mut self) {
        self.finish_run_if_done();
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
        self.shared.topic.parts.readable.wake_all();
        for ring in self.shared.topic.parts.rings.iter() {
            ring.writable.wake_all();
        }
    }
}
