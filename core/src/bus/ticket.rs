//! Durability tickets: publish now, learn of the fsync later. A `Sync` publisher that waits
//! for each event's fsync gets one event per fsync; one that keeps many tickets in flight lets
//! the persister's group commit cover all of them with one write and one fsync (the way Kafka
//! producers and JetStream's async publish pipeline).
#![deny(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::record::Receipt;
use crate::error::Error;
use crate::log::shared::LogShared;
use crate::ring::notify::WakerSlot;
use crate::ring::wait::WaitStrategy;
use crate::sync::Arc;

/// What one publisher's tickets wait on: its topic's partition logs. Each publisher holds its
/// own, so a ticket's reference count is a cache line of that publisher's rather than one all
/// publishers write.
#[derive(Debug)]
pub(crate) struct TicketSource {
    logs: Box<[Arc<LogShared>]>,
    wait: WaitStrategy,
}

impl TicketSource {
    /// The source for a `Sync` topic's partition logs.
    pub(crate) fn new(logs: &[Arc<LogShared>], wait: WaitStrategy) -> Arc<Self> {
        Arc::new(Self { logs: logs.into(), wait })
    }
}

/// The (partition, end offset) pairs a ticket waits for.
#[derive(Debug, Clone)]
pub(crate) enum Covers {
    One([(u32, u64); 1]),
    Many(Box<[(u32, u64)]>),
}

impl Covers {
    /// The pairs, ascending by partition.
    pub(crate) fn as_slice(&self) -> &[(u32, u64)] {
        match self {
            Covers::One(one) => one,
            Covers::Many(many) => many,
        }
    }
}

/// A promise that what a publish appended becomes durable: returned by
/// [`Publisher::publish_ticket`](crate::Publisher::publish_ticket) and
/// [`Publisher::publish_batch_ticket`](crate::Publisher::publish_batch_ticket), which append
/// at once and do not wait for the fsync.
///
/// The ticket is complete once every partition it names is durable (fsynced) up to its end
/// offset: [`wait`](Self::wait) blocks for that, [`is_durable`](Self::is_durable) asks, and the
/// ticket is a [`Future`] (runtime-agnostic: the persister wakes its task) that resolves to
/// the same result. If the partition's log failed first, all three report
/// [`Error::Poisoned`]: what it covers may not be on disk.
///
/// On `Durability::Memory` and `Durability::Async` topics a ticket is complete at once (their
/// publishes are never acknowledged by an fsync; [`Topic::flush`](crate::Topic::flush) makes
/// an `Async` topic durable). Dropping a ticket loses nothing: the events are appended
/// whether or not anyone waits. `Send + Sync`; one ticket per publish call, so keep them in a
/// queue and wait for the oldest when too many are in flight.
#[derive(Debug)]
pub struct Ticket {
    /// `None`: complete at once (memory and `Async` topics).
    source: Option<Arc<TicketSource>>,
    covers: Covers,
    receipt: Option<Receipt>,
    /// The future's progress: covers before this index are durable.
    next: usize,
    /// The future's waker registration (on `covers[next]`'s log).
    slot: WakerSlot,
}

impl Clone for Ticket {
    /// A second ticket for the same events (its own future: it registers separately).
    fn clone(&self) -> Self {
        Self::new(self.source.clone(), self.covers.clone(), self.receipt)
    }
}

impl Ticket {
    pub(crate) fn new(source: Option<Arc<TicketSource>>, covers: Covers, receipt: Option<Receipt>) -> Self {
        Self { source, covers, receipt, next: 0, slot: WakerSlot::new() }
    }

    /// Where the event landed, for a ticket of one record
    /// ([`publish_ticket`](crate::Publisher::publish_ticket)); `None` for a batch's.
    pub fn receipt(&self) -> Option<Receipt> {
        self.receipt
    }

    /// The (partition, end offset) pairs the ticket waits for: everything of `partition`
    /// below `end offset` durable. One pair for a single record or a one-partition batch,
    /// ascending by partition.
    pub fn covers(&self) -> &[(u32, u64)] {
        self.covers.as_slice()
    }

    /// `Ok(true)` once everything the ticket covers is durable, `Ok(false)` while an fsync is
    /// still to come; [`Error::Poisoned`] if a partition's log failed before covering it.
    /// Never waits.
    pub fn is_durable(&self) -> Result<bool, Error> {
        let Some(source) = &self.source else { return Ok(true) };
        for &(partition, end) in self.covers() {
            if !source.logs[partition as usize].check_durable(end)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Waits until everything the ticket covers is durable (`Ok`), a partition's log failed
    /// ([`Error::Poisoned`]), or `timeout` passes ([`Error::FlushTimeout`]; `None`: no limit).
    /// Waits by the topic's wait strategy; the ticket stays usable after a timeout.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let Some(source) = &self.source else { return Ok(()) };
        let deadline = timeout.map(|t| Instant::now() + t);
        for &(partition, end) in self.covers() {
            source.logs[partition as usize].wait_durable(end, source.wait, deadline)?;
        }
        Ok(())
    }
}

impl Future for Ticket {
    type Output = Result<(), Error>;

    /// Resolves as [`Ticket::wait`] does, without blocking: the task is woken by the
    /// persister's fsync (or the poisoning). Dropping the future unregisters it.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(source) = &this.source else { return Poll::Ready(Ok(())) };
        while let Some(&(partition, end)) = this.covers.as_slice().get(this.next) {
            let log = &source.logs[partition as usize];
            if log.synced.poll_ready(&mut this.slot, cx, || log.durable_or_poisoned(end)).is_pending() {
                return Poll::Pending;
            }
            if let Err(e) = log.check_durable(end) {
                return Poll::Ready(Err(e));
            }
            this.next += 1;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let (Some(source), Some(&(partition, _))) = (&self.source, self.covers.as_slice().get(self.next)) {
            source.logs[partition as usize].synced.cancel(&mut self.slot);
        }
    }
}
