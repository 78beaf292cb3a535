//! Waiting on a reader from another thread: for event loops that wait on many sources (the C
//! API's readiness file descriptor is built on it).
#![deny(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::asynchronous::Registration;
use super::group::GroupShared;
use super::stats::ReaderCounters;
use super::topic::TopicInner;
use crate::ring::notify::Notifier;
use crate::sync::Arc;

/// What a [`Readiness`] watches.
#[derive(Debug, Clone)]
enum Watched {
    /// A subscription's partitions, at the positions its counters publish.
    Subscription { counters: Arc<ReaderCounters>, partitions: Vec<u32> },
    /// A group's cursors and segment-file feeds.
    Group(Arc<GroupShared>),
}

/// See [`Subscription::readiness`](crate::Subscription::readiness) and
/// [`Member::readiness`](crate::Member::readiness). `Send + Sync`: made for a thread other
/// than the reader's. It may report ready spuriously; it never misses an event published
/// after the reader's last poll. Cloning it gives a second watcher of the same reader.
#[derive(Debug, Clone)]
pub struct Readiness {
    topic: Arc<TopicInner>,
    watched: Watched,
}

impl Readiness {
    /// Watches a subscription reading `partitions`, whose positions `counters` publish.
    pub(crate) fn for_subscription(
        topic: Arc<TopicInner>,
        counters: Arc<ReaderCounters>,
        partitions: Vec<u32>,
    ) -> Self {
        Self { topic, watched: Watched::Subscription { counters, partitions } }
    }

    /// Watches a group.
    pub(crate) fn for_group(topic: Arc<TopicInner>, group: Arc<GroupShared>) -> Self {
        Self { topic, watched: Watched::Group(group) }
    }

    /// Whether the reader may have something to read now (an event, or the end of a closed
    /// topic).
    pub fn is_ready(&self) -> bool {
        match &self.watched {
            Watched::Subscription { counters, partitions } => partitions.iter().any(|&p| {
                let ring = &self.topic.parts.rings[p as usize];
                let position = counters.position[p as usize].get();
                // Read from another thread: the frame at `position` may be of another lap by
                // now, which reads as not committed, or as lapped (worth a look either way).
                ring.is_closed() || (position != u64::MAX && (ring.is_ready_at(position) || ring.lapped(position)))
            }),
            Watched::Group(g) => g.may_have_work(),
        }
    }

    /// Waits until [`is_ready`](Self::is_ready) or `timeout` passes (`None`: no limit), by the
    /// topic's wait strategy. Returns whether it is ready.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        self.topic.config.wait.wait(&self.topic.parts.readable, || self.is_ready(), deadline)
    }

    /// A future that completes once [`is_ready`](Self::is_ready): [`wait`](Self::wait) as a
    /// task, woken by the producer's commit (no thread waits). Owns a clone of this
    /// readiness, so it is `'static` and `Send`; dropping it takes its waker back.
    pub fn ready(&self) -> ReadyFuture {
        ReadyFuture { registration: Registration::new(self.topic.parts.readable.clone()), readiness: self.clone() }
    }
}

/// See [`Readiness::ready`].
pub struct ReadyFuture {
    registration: Registration<Arc<Notifier>>,
    readiness: Readiness,
}

impl std::fmt::Debug for ReadyFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyFuture").field("readiness", &self.readiness).finish_non_exhaustive()
    }
}

impl Future for ReadyFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let readiness = &this.readiness;
        this.registration.poll(cx, || readiness.is_ready())
    }
}
