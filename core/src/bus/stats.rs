//! Counters: per publisher and per reader, gathered into [`TopicStats`] on request.
//!
//! Every counter has a single writer (its publisher or reader) that updates it with a relaxed
//! load and store on its own cache line, so counting costs the hot path no shared traffic.
//! Reading stats sums the counters; the figures are a consistent-enough snapshot, not atomic
//! across counters.
#![deny(unsafe_code)]

use crate::log::shared::LogStats;
use crate::sync::{AtomicU64, CachePadded, Ordering};

/// A single-writer counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` (only the owning thread calls this).
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Sets the value (only the owning thread calls this).
    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// Reads the value.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One publisher's counters, per partition.
#[derive(Debug)]
pub(crate) struct PublisherCounters {
    pub(crate) published: Box<[CachePadded<Counter>]>,
    pub(crate) full_waits: Box<[CachePadded<Counter>]>,
}

impl PublisherCounters {
    pub(crate) fn new(partitions: usize) -> Self {
        Self {
            published: (0..partitions).map(|_| CachePadded::new(Counter::default())).collect(),
            full_waits: (0..partitions).map(|_| CachePadded::new(Counter::default())).collect(),
        }
    }
}

/// One reader's counters (a subscription, or a group member).
#[derive(Debug)]
pub(crate) struct ReaderCounters {
    /// A subscription's number within its topic (1, 2, ...; 0 for group members).
    pub(crate) id: Counter,
    pub(crate) delivered: CachePadded<Counter>,
    pub(crate) dropped: Counter,
    /// Per partition: the reader's position. Padded, as every per-thread block written on the
    /// hot path is: a small heap block could share a cache line with another thread's.
    pub(crate) position: Box<[CachePadded<Counter>]>,
}

impl ReaderCounters {
    pub(crate) fn new(partitions: usize) -> Self {
        Self {
            id: Counter::default(),
            delivered: CachePadded::new(Counter::default()),
            dropped: Counter::default(),
            position: (0..partitions).map(|_| CachePadded::new(Counter::default())).collect(),
        }
    }
}

/// A snapshot of a topic's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// Topic name.
    pub name: String,
    /// Events published to all partitions.
    pub published: u64,
    /// Publish calls that found a ring full and had to wait (or failed, for `try_publish`).
    pub full_waits: u64,
    /// Times a reader or producer of this topic went to sleep (the `Park` strategy's last
    /// stage, after spinning and yielding).
    pub sleeps: u64,
    /// Sleeps that ended by the 100 ms safety-net timeout with their condition already true:
    /// wake-ups the park/wake protocol failed to deliver. It should always be 0.
    pub late_wakeups: u64,
    /// Tasks of the async API (and ticket futures) woken by this topic's producers, readers
    /// and persister.
    pub task_wakes: u64,
    /// Per partition.
    pub partitions: Vec<PartitionStats>,
    /// Per fanout subscription and per group.
    pub readers: Vec<ReaderStats>,
    /// Persisted topics: the persister's I/O backend, `"io_uring"` or `"std"`.
    pub io_backend: Option<&'static str>,
}

/// A snapshot of one partition's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionStats {
    /// Partition index.
    pub partition: u32,
    /// Events published.
    pub published: u64,
    /// Publish calls that found the ring full.
    pub full_waits: u64,
    /// The offset the next event will get.
    pub next_offset: u64,
    /// The oldest offset the ring still holds.
    pub earliest_offset: u64,
    /// Readers and groups that producers wait for (the persister counts as one).
    pub gates: usize,
    /// Persisted topics: the state of the partition's log.
    pub log: Option<LogStats>,
    /// Idempotent publishes dropped as duplicates.
    pub duplicates: u64,
}

/// What kind of reader a [`ReaderStats`] describes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReaderKind {
    /// A fanout subscription.
    Subscription,
    /// A work-queue group (its members summed).
    Group {
        /// Group name.
        name: String,
        /// Members currently joined.
        members: usize,
    },
}

/// A snapshot of one reader's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaderStats {
    /// Subscription or group.
    pub kind: ReaderKind,
    /// How diagnostics and metrics name the reader: `"subscription #3"` (numbered in the
    /// order the topic's subscriptions were made) or the group's name.
    pub name: String,
    /// Events handed to the application.
    pub delivered: u64,
    /// Events lost to lapping (`DropOldest`).
    pub dropped: u64,
    /// Events published but not yet delivered to this reader, over its partitions.
    pub lag: u64,
    /// Bytes of the ring between this reader and the partitions' ends.
    pub lag_bytes: u64,
}
