//! Topics: a name, a configuration, and one ring per partition.
#![deny(unsafe_code)]

use std::collections::HashMap;

use super::dedup::DedupTable;
use super::group::{Group, GroupShared};
use super::publisher::{Publisher, BLOCKED_REPORT_EVERY};
use super::stats::{PartitionStats, PublisherCounters, ReaderCounters, ReaderKind, ReaderStats, TopicStats};
use super::subscription::Subscription;
use crate::config::{Start, SubscribeOptions, TopicConfig};
use crate::diag::RateLimit;
use crate::error::Error;
use crate::log::offsets::committed_groups;
use crate::log::shared::LogShared;
use crate::ring::Partitions;
use crate::sync::{Arc, AtomicBool, CachePadded, Mutex, RwLock, Weak};

/// Shared state of a topic; `Topic`, publishers and readers hold it.
#[derive(Debug)]
pub(crate) struct TopicInner {
    pub(crate) name: String,
    pub(crate) config: TopicConfig,
    /// The rings, one per partition, and their readers' notifier (shared with the persister).
    pub(crate) parts: Arc<Partitions>,
    /// `Producers::Single`: a publisher is alive (taken with a swap, Acquire; given back with
    /// a Release store, so the next publisher sees every store the last one made).
    pub(crate) exclusive: AtomicBool,
    pub(crate) registry: CachePadded<Mutex<Registry>>,
    /// Persisted topics: each partition's log.
    pub(crate) logs: Option<Box<[Arc<LogShared>]>>,
    /// Per partition: idempotent producers' last accepted records.
    pub(crate) dedup: Box<[Mutex<DedupTable>]>,
    /// The persister's I/O backend (persisted topics).
    pub(crate) io_backend: Option<&'static str>,
    /// Per partition: how often a blocked publisher may say so (see `publisher::report_blocked`).
    pub(crate) blocked_reports: Box<[RateLimit]>,
    /// Persisted topics: set when the bus that opened the data directory shuts down, before
    /// it releases the directory's lock. Group commits, the writes to the topic's files from
    /// outside the persister, check it under the read lock, so none lands after the release.
    pub(crate) released: RwLock<bool>,
}

/// Who is attached to the topic (for stats and group lookup).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) publishers: Vec<Weak<PublisherCounters>>,
    /// Counts of dropped publishers, per partition: (published, full_waits).
    pub(crate) retired: Vec<(u64, u64)>,
    pub(crate) readers: Vec<Weak<ReaderCounters>>,
    pub(crate) groups: HashMap<String, Weak<GroupShared>>,
    /// Home partition of the next publisher (round-robin).
    pub(crate) next_home: u32,
    /// Numbers subscriptions for diagnostics ("subscription #3").
    pub(crate) next_subscription: u64,
}

impl TopicInner {
    /// An in-memory topic.
    pub(crate) fn new(name: String, config: TopicConfig) -> Self {
        let starts = vec![0; config.partitions as usize];
        Self::build(name, config, &starts, None, None)
    }

    /// A persisted topic whose partitions' logs end at `starts`, with their shared log state.
    pub(crate) fn with_logs(
        name: String,
        config: TopicConfig,
        starts: &[u64],
        logs: Vec<Arc<LogShared>>,
        io_backend: &'static str,
    ) -> Self {
        Self::build(name, config, starts, Some(logs.into_boxed_slice()), Some(io_backend))
    }

    fn build(
        name: String,
        config: TopicConfig,
        starts: &[u64],
        logs: Option<Box<[Arc<LogShared>]>>,
        io_backend: Option<&'static str>,
    ) -> Self {
        // Persisted frames carry a CRC-32C: the ring's bytes are the segment's bytes.
        let parts = Arc::new(Partitions::new(starts, config.capacity, config.max_frame(), logs.is_some()));
        let registry = Registry { retired: vec![(0, 0); config.partitions as usize], ..Registry::default() };
        Self {
            name,
            parts,
            registry: CachePadded::new(Mutex::new(registry)),
            exclusive: AtomicBool::new(false),
            logs,
            io_backend,
            released: RwLock::new(false),
            dedup: (0..config.partitions).map(|_| Mutex::new(DedupTable::default())).collect(),
            blocked_reports: (0..config.partitions).map(|_| RateLimit::new(BLOCKED_REPORT_EVERY)).collect(),
            config,
        }
    }

    /// The error for a claim refused because the ring is closed: [`Error::Poisoned`] if the
    /// partition's log failed (that is why it closed), else [`Error::Closed`].
    #[cold]
    pub(crate) fn closed_error(&self, partition: u32) -> Error {
        self.log(partition).and_then(|l| l.poison_error()).unwrap_or(Error::Closed)
    }

    /// Waits until partition `partition`'s log is durable up to `end` (persisted topics; a
    /// memory topic returns at once).
    pub(crate) fn wait_durable(
        &self,
        partition: u32,
        end: u64,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), Error> {
        match self.log(partition) {
            Some(log) => log.wait_durable(end, self.config.wait, deadline),
            None => Ok(()),
        }
    }

    /// Makes each partition `p`'s log durable up to `targets[p]`: asks the persister to fsync
    /// what it has not (an `Async` topic need not wait for `max_delay`) and waits. Memory topics
    /// return at once.
    pub(crate) fn flush_to(&self, targets: &[u64], deadline: Option<std::time::Instant>) -> Result<(), Error> {
        let Some(logs) = &self.logs else { return Ok(()) };
        let mut asked = false;
        for (log, &target) in logs.iter().zip(targets) {
            if log.durable() < target {
                log.request_flush(target);
                asked = true;
            }
        }
        if asked {
            // The persister sleeps on the readers' notifier.
            self.parts.readable.wake_all();
        }
        for (p, &target) in targets.iter().enumerate() {
            self.wait_durable(p as u32, target, deadline)?;
        }
        Ok(())
    }

    /// The topic's directory, if it is persisted.
    pub(crate) fn dir(&self) -> Option<&std::path::Path> {
        self.logs.as_ref().and_then(|l| l[0].dir.parent())
    }

    /// Partition `partition`'s log, if the topic is persisted.
    #[inline]
    pub(crate) fn log(&self, partition: u32) -> Option<&Arc<LogShared>> {
        self.logs.as_ref().map(|l| &l[partition as usize])
    }

    pub(crate) fn partitions(&self) -> u32 {
        self.config.partitions
    }

    pub(crate) fn check_partition(&self, partition: u32) -> Result<(), Error> {
        if partition < self.partitions() {
            Ok(())
        } else {
            Err(Error::NoSuchPartition { partition, partitions: self.partitions() })
        }
    }

    pub(crate) fn close(&self) {
        self.parts.close();
    }

    /// Events published per partition (live publishers plus retired ones).
    fn published(&self) -> Vec<(u64, u64)> {
        let mut reg = self.registry.lock();
        reg.publishers.retain(|w| w.strong_count() > 0);
        let mut sums = reg.retired.clone();
        for p in reg.publishers.iter().filter_map(Weak::upgrade) {
            for (i, s) in sums.iter_mut().enumerate() {
                s.0 += p.published[i].get();
                s.1 += p.full_waits[i].get();
            }
        }
        sums
    }

    pub(crate) fn stats(&self) -> TopicStats {
        let published = self.published();
        let partitions: Vec<PartitionStats> = self
            .parts
            .rings
            .iter()
            .enumerate()
            .map(|(i, ring)| PartitionStats {
                partition: i as u32,
                published: published[i].0,
                full_waits: published[i].1,
                next_offset: ring.tail(),
                earliest_offset: ring.earliest_hint(),
                gates: ring.gate_count(),
                log: self.log(i as u32).map(|l| l.stats()),
                duplicates: self.dedup[i].lock().duplicates,
            })
            .collect();
        let mut readers = Vec::new();
        let (subs, groups) = {
            let mut reg = self.registry.lock();
            reg.readers.retain(|w| w.strong_count() > 0);
            reg.groups.retain(|_, w| w.strong_count() > 0);
            let subs: Vec<_> = reg.readers.iter().filter_map(Weak::upgrade).collect();
            let groups: Vec<_> = reg.groups.values().filter_map(Weak::upgrade).collect();
            (subs, groups)
        };
        for r in subs {
            let mut lag = 0;
            let mut lag_bytes = 0;
            for (i, ring) in self.parts.rings.iter().enumerate() {
                let pos = r.position[i].get();
                if pos == u64::MAX {
                    continue; // not reading this partition
                }
                lag += ring.events_from(pos);
                lag_bytes += ring.tail().saturating_sub(pos);
            }
            readers.push(ReaderStats {
                kind: ReaderKind::Subscription,
                name: format!("subscription #{}", r.id.get()),
                delivered: r.delivered.get(),
                dropped: r.dropped.get(),
                lag,
                lag_bytes,
            });
        }
        for g in groups {
            readers.push(g.stats(self));
        }
        let (mut sleeps, mut late_wakeups) = self.parts.readable.counts();
        let mut task_wakes = self.parts.readable.task_wakes();
        for ring in self.parts.rings.iter() {
            let (s, l) = ring.writable.counts();
            sleeps += s;
            late_wakeups += l;
            task_wakes += ring.writable.task_wakes();
        }
        for log in self.logs.iter().flatten() {
            let (s, l) = log.synced.counts();
            sleeps += s;
            late_wakeups += l;
            task_wakes += log.synced.task_wakes();
        }
        TopicStats {
            name: self.name.clone(),
            sleeps,
            late_wakeups,
            task_wakes,
            published: partitions.iter().map(|p| p.published).sum(),
            full_waits: partitions.iter().map(|p| p.full_waits).sum(),
            partitions,
            readers,
            io_backend: self.io_backend,
        }
    }
}

/// A named stream of events split into partitions. Cheap to clone; every clone is the same
/// topic. `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Topic {
    pub(crate) inner: Arc<TopicInner>,
}

impl Topic {
    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The topic's configuration.
    pub fn config(&self) -> &TopicConfig {
        &self.inner.config
    }

    /// Number of partitions.
    pub fn partitions(&self) -> u32 {
        self.inner.partitions()
    }

    /// A new publisher. Publishers are cheap; make one per producing thread (publishing takes
    /// `&mut self`). Unkeyed records from one publisher all go to one partition, chosen
    /// round-robin when the publisher is created, so they stay in order.
    ///
    /// Errors: [`Error::PublisherExists`] on a `Producers::Single` topic while another
    /// publisher of it is alive.
    pub fn publisher(&self) -> Result<Publisher, Error> {
        Publisher::new(self.inner.clone())
    }

    /// A new fanout subscription: it sees every event of its partitions published from its
    /// start on, at its own pace. Joins at runtime; leaves when dropped.
    ///
    /// Errors: a bad partition, `Start::Offset` with more than one partition, an offset that
    /// is trimmed, past the end or not an event's start.
    pub fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, Error> {
        Subscription::new(self.inner.clone(), options)
    }

    /// The work-queue group called `name`, created at `start` if no live handle to it exists
    /// (then `start` is ignored). Each event of the topic goes to exactly one of its members.
    /// The group holds producers back (like a `Block` reader) until every handle to it (the
    /// `Group` and its members) is dropped.
    pub fn group(&self, name: &str, start: Start) -> Result<Group, Error> {
        Group::open(self.inner.clone(), name, start)
    }

    /// Closes the topic: publishing fails with [`Error::Closed`] from now on, readers drain
    /// what was published before and then get [`Error::Closed`]. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Waits until every event published to the topic before this call is durable (fsynced),
    /// or `timeout` passes. `Async` topics are fsynced now rather than at their next
    /// `max_delay`. An in-memory topic returns at once.
    ///
    /// # Errors
    /// [`Error::FlushTimeout`], [`Error::Poisoned`].
    pub fn flush(&self, timeout: Option<std::time::Duration>) -> Result<(), Error> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        // Everything claimed so far: what was published before this call lies below the tail.
        let targets: Vec<u64> = self.inner.parts.rings.iter().map(|r| r.tail()).collect();
        self.inner.flush_to(&targets, deadline)
    }

    /// Whether the topic is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.parts.rings[0].is_closed()
    }

    /// A snapshot of the topic's counters. Takes short locks; O(readers + publishers), plus a
    /// walk of the ring per group to count its lag.
    pub fn stats(&self) -> TopicStats {
        self.inner.stats()
    }

    /// This topic's counters in the OpenMetrics text format: [`Bus::metrics`](crate::Bus::metrics)
    /// for one topic (the same families and labels, without the bus's `ringbus_topics`).
    pub fn metrics(&self) -> String {
        super::metrics::render(vec![super::metrics::TopicSnapshot::of(self)], false)
    }

    /// Persisted topics: every group that committed, with its committed offsets (one per
    /// partition), sorted by name; empty in memory. Reads the groups' offsets files.
    ///
    /// Errors: [`Error::Io`], [`Error::CorruptLog`] (an offsets file whose checksum fails).
    pub fn committed_groups(&self) -> Result<Vec<(String, Vec<u64>)>, Error> {
        match self.inner.dir() {
            Some(topic_dir) => committed_groups(topic_dir, self.partitions()),
            None => Ok(Vec::new()),
        }
    }
}
