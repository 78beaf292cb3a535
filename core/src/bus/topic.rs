//! Topics: a name, a configuration, and one ring per partition.
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::config::{SubscribeOptions, TopicConfig};
use super::error::Error;
use super::group::{Group, GroupShared};
use super::publisher::Publisher;
use super::stats::{PartitionStats, PublisherCounters, ReaderCounters, ReaderKind, ReaderStats, TopicStats};
use super::subscription::Subscription;
use crate::ring::notify::Notifier;
use crate::ring::Ring;

/// Shared state of a topic; `Topic`, publishers and readers hold it.
#[derive(Debug)]
pub(crate) struct TopicInner {
    pub(crate) name: String,
    pub(crate) config: TopicConfig,
    pub(crate) rings: Box<[Ring]>,
    pub(crate) readable: Arc<Notifier>,
    /// `Producers::Single`: a publisher is alive.
    pub(crate) exclusive: std::sync::atomic::AtomicBool,
    pub(crate) registry: crossbeam_utils::CachePadded<Mutex<Registry>>,
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
}

impl TopicInner {
    pub(crate) fn new(name: String, config: TopicConfig) -> Self {
        let readable = Arc::new(Notifier::new());
        let single = config.producers == super::config::Producers::Single;
        let rings = (0..config.partitions)
            .map(|_| Ring::new(config.capacity, config.max_frame(), single, readable.clone()))
            .collect();
        let registry = Registry { retired: vec![(0, 0); config.partitions as usize], ..Registry::default() };
        Self {
            name,
            config,
            rings,
            readable,
            registry: crossbeam_utils::CachePadded::new(Mutex::new(registry)),
            exclusive: std::sync::atomic::AtomicBool::new(false),
        }
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
        for ring in self.rings.iter() {
            ring.close();
        }
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
            for (i, ring) in self.rings.iter().enumerate() {
                let pos = r.position[i].get();
                if pos == u64::MAX {
                    continue; // not reading this partition
                }
                lag += ring.events_from(pos);
                lag_bytes += ring.tail().saturating_sub(pos);
            }
            readers.push(ReaderStats {
                kind: ReaderKind::Subscription,
                delivered: r.delivered.get(),
                dropped: r.dropped.get(),
                lag,
                lag_bytes,
            });
        }
        for g in groups {
            readers.push(g.stats(self));
        }
        let (mut sleeps, mut late_wakeups) = self.readable.counts();
        for ring in self.rings.iter() {
            let (s, l) = ring.writable.counts();
            sleeps += s;
            late_wakeups += l;
        }
        TopicStats {
            name: self.name.clone(),
            sleeps,
            late_wakeups,
            published: partitions.iter().map(|p| p.published).sum(),
            full_waits: partitions.iter().map(|p| p.full_waits).sum(),
            partitions,
            readers,
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
    pub fn group(&self, name: &str, start: super::config::Start) -> Result<Group, Error> {
        Group::open(self.inner.clone(), name, start)
    }

    /// Closes the topic: publishing fails with [`Error::Closed`] from now on, readers drain
    /// what was published before and then get [`Error::Closed`]. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the topic is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.rings[0].is_closed()
    }

    /// A snapshot of the topic's counters. Takes short locks; O(readers + publishers), plus a
    /// walk of the ring per group to count its lag.
    pub fn stats(&self) -> TopicStats {
        self.inner.stats()
    }
}
