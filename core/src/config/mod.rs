//! Topic configuration, reader options and name rules: the vocabulary every layer shares.
//! `keys.rs` spells each setting as a string key (topic.conf, the C API, Python).
#![deny(unsafe_code)]

pub(crate) mod keys;

use std::time::Duration;

use crate::error::Error;
use crate::ring::frame::{align, HEADER_LEN, MAX_KEY_LEN};
use crate::ring::wait::WaitStrategy;

/// Where events live, and when a publish is acknowledged.
///
/// Persisted topics (`Async`, `Sync`) need a bus opened on a data directory
/// ([`Bus::open`](crate::Bus::open)); their events are written to segment files by the bus's
/// persister and survive restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// In memory only: events live in the partition rings and are gone when the bus is.
    #[default]
    Memory,
    /// Written behind: `publish` returns once the event is in the ring; the persister writes
    /// it to its segment soon after and fsyncs at least every `max_delay`. A crash loses at
    /// most what was published in the last `max_delay` (plus the write in flight).
    Async {
        /// Longest time written data waits for its fsync.
        max_delay: Duration,
    },
    /// Acknowledged only when durable: `publish` (and `publish_batch`, and a claim's `commit`)
    /// returns once the fsync covering the event has completed. Concurrent publishers share
    /// fsyncs (group commit).
    Sync,
}

impl Durability {
    /// Whether events are written to disk.
    pub fn is_persisted(&self) -> bool {
        !matches!(self, Durability::Memory)
    }
}

/// How many publishers may write to a topic at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Producers {
    /// Any number of publishers. The default. While a topic has one publisher, its claims are
    /// plain stores, as with `Single`; creating a second publisher switches every claim to one
    /// atomic `fetch_add` (a CAS near a full ring), and dropping back to one switches back.
    /// The switch waits for the lone publisher's claim in progress, if any (a few instructions).
    #[default]
    Multi,
    /// One publisher at a time ([`Topic::publisher`](crate::Topic::publisher) fails with
    /// [`Error::PublisherExists`] while one is alive). Claims and commits are plain stores, with
    /// no locked instruction or fence on the publish path.
    Single,
}

/// Where the bus takes timestamps for records that carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimestampSource {
    /// `CLOCK_REALTIME_COARSE`, cached: nanosecond units at millisecond resolution, as Kafka
    /// keeps event time. The default. While a publisher of such a topic is alive, one
    /// process-wide thread (`ringbus-clock`) refreshes a cached copy of the clock every
    /// millisecond and a publish reads the copy (one load, no `clock_gettime`); so a timestamp
    /// is at most about 1 ms plus the kernel tick (1-4 ms) behind real time, more only if
    /// that thread is starved of CPU. Without the thread (before the first publisher, in a
    /// forked child until its first publish) the clock is read per call, about 6 ns.
    #[default]
    Coarse,
    /// `CLOCK_REALTIME`: full resolution, about 20-25 ns a read on a virtual machine.
    Precise,
}

/// A topic's settings. Build with [`TopicConfig::new`] and the setters; checked when the
/// topic is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// Number of partitions (default 1, at most 4096).
    pub partitions: u32,
    /// Ring size per partition in bytes: a power of two from 4 KiB to 1 GiB (default 4 MiB).
    pub capacity: usize,
    /// Largest payload in bytes (default 1 MiB). The largest event frame
    /// (24-byte header + `max_key` + `max_payload`) must fit in half the capacity.
    pub max_payload: usize,
    /// Largest key in bytes (default 4096, at most 65535).
    pub max_key: usize,
    /// How readers and producers wait (default [`WaitStrategy::Park`]).
    pub wait: WaitStrategy,
    /// Durability (default [`Durability::Memory`]).
    pub durability: Durability,
    /// Clock for records without a timestamp (default [`TimestampSource::Coarse`]).
    pub timestamps: TimestampSource,
    /// Publishers allowed at once (default [`Producers::Multi`]).
    pub producers: Producers,
    /// Persisted topics: largest segment file, header included (default 64 MiB; at least the
    /// ring capacity plus 64 bytes, at most 1 TiB). Segments are preallocated to this size.
    pub segment_bytes: u64,
    /// Persisted topics: keep at most about this many bytes of log per partition; the oldest
    /// sealed segments are deleted while the partition holds more (default: no limit). The
    /// segment being written is never deleted, so a partition holds at least one segment.
    pub retention_bytes: Option<u64>,
    /// Persisted topics: delete sealed segments whose newest event is older than this (a
    /// segment counts as old once the segment after it was created that long ago; default: no
    /// limit).
    pub retention_age: Option<Duration>,
    /// Idempotent publish: how long the bus remembers a producer's last sequence number after
    /// its last record (default 10 minutes). A producer silent for longer is forgotten, so a
    /// retry after that is not recognised as a duplicate. On reopen, the log from this long
    /// ago (by event timestamps) is read to remember producers again.
    pub dedup_window: Duration,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            partitions: 1,
            capacity: 4 << 20,
            max_payload: 1 << 20,
            max_key: 4096,
            wait: WaitStrategy::Park,
            durability: Durability::Memory,
            timestamps: TimestampSource::Coarse,
            producers: Producers::Multi,
            segment_bytes: 64 << 20,
            retention_bytes: None,
            retention_age: None,
            dedup_window: Duration::from_secs(600),
        }
    }
}

impl TopicConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of partitions.
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// Sets the ring size per partition in bytes.
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Sets the largest payload in bytes.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets the largest key in bytes.
    pub fn max_key(mut self, bytes: usize) -> Self {
        self.max_key = bytes;
        self
    }

    /// Sets the wait strategy.
    pub fn wait(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the timestamp source.
    pub fn timestamps(mut self, source: TimestampSource) -> Self {
        self.timestamps = source;
        self
    }

    /// Sets how many publishers may write at once.
    pub fn producers(mut self, producers: Producers) -> Self {
        self.producers = producers;
        self
    }

    /// Sets the largest segment file size (persisted topics).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets size-based retention (persisted topics): bytes of log kept per partition.
    pub fn retention_bytes(mut self, bytes: u64) -> Self {
        self.retention_bytes = Some(bytes);
        self
    }

    /// Sets age-based retention (persisted topics).
    pub fn retention_age(mut self, age: Duration) -> Self {
        self.retention_age = Some(age);
        self
    }

    /// Sets how long producers of idempotent publishes are remembered.
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// The largest unaligned event frame these settings allow.
    pub(crate) fn max_frame(&self) -> usize {
        // Saturating: a hostile topic.conf may hold any max_payload; validate() refuses it.
        (HEADER_LEN + crate::ring::frame::PRODUCER_LEN).saturating_add(self.max_key).saturating_add(self.max_payload)
    }

    /// Checks every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.partitions == 0 || self.partitions > 4096 {
            return bad("partitions", format!("{} is not in 1..=4096", self.partitions));
        }
        if !self.capacity.is_power_of_two() || !(4096..=1 << 30).contains(&self.capacity) {
            return bad("capacity", format!("{} bytes is not a power of two from 4096 to 1 GiB", self.capacity));
        }
        if self.max_key > MAX_KEY_LEN {
            return bad("max_key", format!("{} bytes is above the frame format's limit of 65535", self.max_key));
        }
        let rings = u64::from(self.partitions) * self.capacity as u64;
        if let Some(memory) = physical_memory().filter(|&m| rings > m) {
            return bad(
                "capacity",
                format!(
                    "{} partitions of {} bytes need {rings} bytes of rings, more than this machine's {memory} bytes \
                     of memory",
                    self.partitions, self.capacity
                ),
            );
        }
        let persisted = self.durability.is_persisted();
        if persisted && (self.segment_bytes < self.capacity as u64 + 64 || self.segment_bytes > 1 << 40) {
            return bad(
                "segment_bytes",
                format!(
                    "{} bytes is not between the ring capacity plus 64 ({}) and 1 TiB",
                    self.segment_bytes,
                    self.capacity as u64 + 64
                ),
            );
        }
        if self.retention_bytes == Some(0) {
            return bad("retention_bytes", "0 would delete every sealed segment at once; use None for no limit".into());
        }
        if self.retention_age.is_some_and(|a| a.is_zero()) {
            return bad("retention_age", "must be more than zero; use None for no limit".into());
        }
        if let Durability::Async { max_delay } = self.durability {
            if max_delay.is_zero() || max_delay > Duration::from_secs(3600) {
                return bad("durability", format!("Async max_delay {max_delay:?} is not in (0, 1 hour]"));
            }
        }
        if self.max_frame() > self.capacity / 2 || align(self.max_frame()) > self.capacity / 2 {
            return bad(
                "max_payload",
                format!(
                    "{} bytes plus a 24-byte header and max_key ({} bytes) must fit in half the capacity ({} bytes); \
                     raise capacity or lower max_payload",
                    self.max_payload,
                    self.max_key,
                    self.capacity / 2
                ),
            );
        }
        Ok(())
    }
}

/// What a reader does when producers would overtake it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Producers wait for this reader: nothing is lost, a stalled reader stalls the partition.
    /// Events are borrowed from the ring (zero-copy). The default.
    #[default]
    Block,
    /// Producers never wait for this reader; when overtaken it gets [`Error::Lagged`] with the
    /// number of events lost and continues from the oldest event held. Events are copied out
    /// of the ring and validated, so a torn event is never returned.
    DropOldest,
    /// Like `Block`, until the reader has held a full ring back for `after`; then it is removed
    /// and its next poll returns [`Error::Evicted`]. Events are copied as for `DropOldest`,
    /// because eviction can happen while an event is in the reader's hands.
    Evict {
        /// How long the reader may hold producers back.
        after: Duration,
    },
}

/// Where a reader begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Start {
    /// The oldest event the partition still holds.
    Earliest,
    /// Events published after the reader joins. The default.
    #[default]
    Latest,
    /// The event at this offset (readers of exactly one partition only). The offset must be an
    /// event's start, such as one a [`Receipt`](crate::Receipt) reported.
    Offset(u64),
    /// Subscriptions: the first event, in log order, whose timestamp is at or after this (ns
    /// since the Unix epoch). On a persisted topic the search starts from the time index and
    /// reads segment files; in memory it starts at the oldest event held. Events before it in
    /// the log are skipped, even if later ones have older timestamps.
    Timestamp(u64),
    /// Groups of persisted topics: where the group last committed
    /// ([`Member::commit`](crate::Member::commit)), or the earliest event kept if it never
    /// did. At-least-once: events handed out after the last commit come again.
    Committed,
}

/// Options for [`Topic::subscribe`](crate::Topic::subscribe).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeOptions {
    /// Where to start (default [`Start::Latest`]).
    pub start: Start,
    /// The slow-consumer policy (default [`SlowConsumerPolicy::Block`]).
    pub policy: SlowConsumerPolicy,
    /// Partitions to read (default: all).
    pub partitions: Option<Vec<u32>>,
}

impl SubscribeOptions {
    /// The defaults: all partitions, from the latest, blocking producers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the start.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Sets the slow-consumer policy.
    pub fn policy(mut self, policy: SlowConsumerPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Reads only these partitions.
    pub fn partitions(mut self, partitions: impl Into<Vec<u32>>) -> Self {
        self.partitions = Some(partitions.into());
        self
    }
}

/// Longest topic or group name.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a topic or group name: 1 to 200 characters from `[A-Za-z0-9._-]`, not `.` or `..`.
/// Names become directory names once topics are persisted, so the rule is strict.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |reason| Err(Error::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() {
        return bad("names must not be empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("names are at most 200 bytes");
    }
    if name == "." || name == ".." {
        return bad("names must not be . or ..");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return bad("names use only ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

/// This machine's memory in bytes (`MemTotal` of /proc/meminfo), if it can be read.
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("orders.v1_eu-west").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b", "ä", &"x".repeat(201)] {
            assert!(matches!(validate_name(bad), Err(Error::InvalidName { .. })), "{bad:?}");
        }
    }

    #[test]
    fn config_is_checked() {
        assert!(TopicConfig::new().validate().is_ok());
        let field = |c: TopicConfig| match c.validate() {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(TopicConfig::new().partitions(0)), "partitions");
        assert_eq!(field(TopicConfig::new().capacity(5000)), "capacity");
        assert_eq!(field(TopicConfig::new().capacity(1 << 20)), "max_payload");
        assert_eq!(field(TopicConfig::new().max_key(70_000)), "max_key");
        assert!(TopicConfig::new().capacity(1 << 20).max_payload(1000).validate().is_ok());
    }
}
