//! The async API: readers and publishers that wait as tasks rather than threads.
//!
//! Runtime-agnostic: it uses `std::task` wakers only (the `Stream` trait comes from
//! `futures-core`), so it runs on tokio, smol, async-std or `futures::executor::block_on`
//! alike. A task waits on the same notifiers as parked threads, by the same protocol
//! (`ring/notify.rs`): producers that find nobody waiting still pay one load, and a task is
//! woken by the commit (or the freed space, or the fsync) it waits for. Every wait is
//! cancellation-safe: events are handed out only inside a poll, space is claimed only when
//! the event is written in the same poll, and a dropped future takes its waker back.
#![deny(unsafe_code)]

use std::future::poll_fn;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;

use super::event::{Event, EventRef};
use super::member::Member;
use super::publisher::Publisher;
use super::reader::{ReaderCore, BACK_OFF, STREAMING};
use super::record::{Receipt, Record};
use super::subscription::Subscription;
use super::ticket::Ticket;
use super::topic::TopicInner;
use crate::error::Error;
use crate::ring::notify::{Notifier, WakerSlot};
use crate::sync::Arc;

/// A task's registration with one notifier; dropping it takes the waker back.
pub(super) struct Registration<N: Deref<Target = Notifier>> {
    notifier: N,
    slot: WakerSlot,
}

impl<N: Deref<Target = Notifier>> Registration<N> {
    pub(super) fn new(notifier: N) -> Self {
        Self { notifier, slot: WakerSlot::new() }
    }

    /// `Ready` if `ready()` holds, else registers the task and returns `Pending`.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>, ready: impl FnMut() -> bool) -> Poll<()> {
        self.notifier.poll_ready(&mut self.slot, cx, ready)
    }
}

impl<N: Deref<Target = Notifier>> Drop for Registration<N> {
    fn drop(&mut self) {
        self.notifier.cancel(&mut self.slot);
    }
}

/// A partition ring's `writable` notifier, held through its topic.
struct Writable {
    topic: Arc<TopicInner>,
    partition: usize,
}

impl Deref for Writable {
    type Target = Notifier;

    fn deref(&self) -> &Notifier {
        &self.topic.parts.rings[self.partition].writable
    }
}

/// How a reader's task waits after a step found nothing.
struct ReadWait {
    reg: Option<Registration<Arc<Notifier>>>,
    /// The reader was getting events: give the producer [`BACK_OFF`] to fill a few cache
    /// lines (yielding to the executor meanwhile) before registering, as the blocking poll
    /// spins for it.
    streaming: bool,
    idle_since: Option<Instant>,
}

impl ReadWait {
    fn new(streaming: bool) -> Self {
        Self { reg: None, streaming, idle_since: None }
    }

    /// A step found events.
    fn found(&mut self) {
        self.streaming = true;
        self.idle_since = None;
    }

    /// After a step found nothing: `Ready` when the reader is worth another step now,
    /// `Pending` when the task will be woken (by a commit, or by its own yield).
    fn poll_wait<R: ReaderCore>(&mut self, r: &R, cx: &mut Context<'_>) -> Poll<()> {
        if self.streaming {
            let now = Instant::now();
            let since = *self.idle_since.get_or_insert(now);
            if now.duration_since(since) < BACK_OFF {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.streaming = false;
        }
        self.reg.get_or_insert_with(|| Registration::new(r.readable().clone())).poll(cx, || r.is_ready())
    }
}

/// The async batch loop over a reader's non-waiting batch `step`.
async fn batch_async<R: ReaderCore>(
    r: &mut R,
    max: usize,
    mut step: impl FnMut(&mut R) -> Result<usize, Error>,
) -> Result<usize, Error> {
    if max == 0 {
        return Ok(0);
    }
    let mut wait = ReadWait::new(r.loop_state().last_batch >= STREAMING);
    poll_fn(|cx| loop {
        match step(r) {
            Ok(0) => {}
            done => return Poll::Ready(done),
        }
        if wait.poll_wait(r, cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await
}

impl Subscription {
    /// [`poll_batch`](Self::poll_batch) as a task: hands up to `max` ready events to `f`,
    /// waiting without blocking the thread until at least one is ready. Returns how many were
    /// handled (0 only when `max` is 0).
    ///
    /// Cancellation-safe: events are handed to `f` only inside a poll of the future, so a
    /// future dropped while it waits has handed out nothing and loses nothing. While a
    /// producer streams, the task yields to the executor for up to 20 µs before it registers
    /// its waker (the blocking poll spins then); an idle subscriber's task costs no CPU.
    ///
    /// # Errors
    /// As for [`poll_batch`](Self::poll_batch); [`Error::Closed`] once the topic is closed and
    /// drained.
    pub async fn poll_batch_async<F>(&mut self, max: usize, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>),
    {
        batch_async(self, max, |s| s.poll_batch(max, Some(Duration::ZERO), &mut f)).await
    }

    /// Owned events as a [`Stream`], one per item, waiting as a task; ends (`None`) once the
    /// topic is closed and drained. Lagging and eviction come through as `Err` items. Each
    /// item allocates its key and payload; [`poll_batch_async`](Self::poll_batch_async) does
    /// not. Dropping the stream loses no event.
    pub fn stream(&mut self) -> EventStream<'_> {
        EventStream { reader: StreamReader::Subscription(self), wait: ReadWait::new(false), done: false }
    }
}

impl Member {
    /// [`poll_batch`](Self::poll_batch) as a task, as
    /// [`Subscription::poll_batch_async`] is: hands up to `max` events of the group to `f`,
    /// waiting without blocking the thread. Cancellation-safe.
    ///
    /// # Errors
    /// As for [`poll_batch`](Self::poll_batch).
    pub async fn poll_batch_async<F>(&mut self, max: usize, mut f: F) -> Result<usize, Error>
    where
        F: FnMut(EventRef<'_>),
    {
        batch_async(self, max, |m| m.poll_batch(max, Some(Duration::ZERO), &mut f)).await
    }

    /// The group's events for this member as a [`Stream`] of owned events (see
    /// [`Subscription::stream`]).
    pub fn stream(&mut self) -> EventStream<'_> {
        EventStream { reader: StreamReader::Member(self), wait: ReadWait::new(false), done: false }
    }
}

/// Which reader a stream reads.
enum StreamReader<'a> {
    Subscription(&'a mut Subscription),
    Member(&'a mut Member),
}

/// Owned events of a [`Subscription`] or [`Member`], as a [`Stream`]: see
/// [`Subscription::stream`]. Takes the reader one event at a time, so dropping the stream
/// leaves every event it has not yielded with the reader.
pub struct EventStream<'a> {
    reader: StreamReader<'a>,
    wait: ReadWait,
    done: bool,
}

impl std::fmt::Debug for EventStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("done", &self.done).finish_non_exhaustive()
    }
}

impl Stream for EventStream<'_> {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            let mut event = None;
            let take = |e: EventRef<'_>| event = Some(e.to_owned());
            let step = match &mut this.reader {
                StreamReader::Subscription(s) => s.poll_batch(1, Some(Duration::ZERO), take),
                StreamReader::Member(m) => m.poll_batch(1, Some(Duration::ZERO), take),
            };
            match step {
                Ok(0) => {}
                Ok(_) => {
                    this.wait.found();
                    return Poll::Ready(event.map(Ok));
                }
                Err(Error::Closed) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            let waited = match &this.reader {
                StreamReader::Subscription(s) => this.wait.poll_wait(&**s, cx),
                StreamReader::Member(m) => this.wait.poll_wait(&**m, cx),
            };
            if waited.is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Publisher {
    /// [`publish`](Self::publish) as a task: waits for room without blocking the thread, and
    /// on a `Durability::Sync` topic for the fsync that covers the event. Returns where it
    /// landed.
    ///
    /// Cancellation-safe: the event is claimed and written inside one poll, so a future
    /// dropped while it waits for room has published nothing, and one dropped while it waits
    /// for the fsync has published the event (which stays published).
    ///
    /// # Errors
    /// As for [`publish`](Self::publish).
    pub async fn publish_async<'a>(&mut self, record: impl Into<Record<'a>>) -> Result<Receipt, Error> {
        let ticket = self.publish_ticket_async(record).await?;
        let receipt = ticket.receipt().expect("a ticket of one record");
        ticket.await?;
        Ok(receipt)
    }

    /// [`publish_ticket`](Self::publish_ticket) as a task: waits for room without blocking
    /// the thread, appends the record and returns its [`Ticket`] (itself a future) without
    /// waiting for the fsync. Cancellation-safe, as
    /// [`publish_async`](Self::publish_async).
    ///
    /// # Errors
    /// As for [`publish_ticket`](Self::publish_ticket).
    pub async fn publish_ticket_async<'a>(&mut self, record: impl Into<Record<'a>>) -> Result<Ticket, Error> {
        let record = record.into();
        let mut reg: Option<Registration<Writable>> = None;
        poll_fn(|cx| loop {
            match self.try_append(&record) {
                Ok((receipt, end)) => return Poll::Ready(Ok(self.ticket_for(receipt, end))),
                Err(Error::Full) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let partition = match self.route(&record) {
                Ok(p) => p as usize,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let reg = reg.get_or_insert_with(|| Registration::new(Writable { topic: self.topic.clone(), partition }));
            if reg.poll(cx, || self.has_room_for(&record, partition)).is_pending() {
                return Poll::Pending;
            }
        })
        .await
    }
}
