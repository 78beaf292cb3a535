//! ringbus: an in-process event bus on lock-free partition rings.
//!
//! Producers publish immutable events to a [`Topic`]; a topic is split into partitions, each a
//! power-of-two byte ring laid out as a log. Readers come in two kinds on the same ring:
//!
//! - a fanout [`Subscription`] sees every event, at its own pace, with its own
//!   [`SlowConsumerPolicy`];
//! - a work-queue [`Group`] gives each event to exactly one [`Member`].
//!
//! Order holds within a partition; a record's key picks its partition by a stable hash.
//! Persisted topics ([`Bus::open`]) can also be read from other processes while their bus
//! writes: a [`Follower`] reads the segment files, holding nothing the owner needs.
//! Publishing and polling never allocate and take no lock; waiting follows the topic's
//! [`WaitStrategy`]. See ARCHITECTURE.md for the protocols and SAFETY.md for the unsafe code.
//!
//! ```
//! use std::time::Duration;
//! use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};
//!
//! let bus = Bus::new();
//! let orders = bus.create_topic("orders", TopicConfig::new().partitions(2).capacity(1 << 20).max_payload(4096))?;
//!
//! let mut audit = orders.subscribe(SubscribeOptions::new().start(Start::Earliest))?;
//! let billing = orders.group("billing", Start::Earliest)?;
//! let mut worker = billing.join();
//!
//! let mut publisher = orders.publisher()?;
//! let receipt = publisher.publish(Record::new(b"OrderPlaced #1").key(b"customer-7"))?;
//! publisher.publish_batch(&[Record::new(b"OrderPlaced #2"), Record::new(b"OrderPlaced #3")])?;
//!
//! let mut seen = 0;
//! while audit.poll_batch(16, Some(Duration::from_millis(100)), |event| {
//!     assert!(event.payload.starts_with(b"OrderPlaced"));
//!     seen += 1;
//! })? > 0 {}
//! assert_eq!(seen, 3);
//!
//! let first = worker.poll(Some(Duration::from_secs(1)))?.expect("an event");
//! assert!(first.payload.starts_with(b"OrderPlaced"));
//! assert_eq!(orders.stats().published, 3);
//! # let _ = receipt;
//! # Ok::<(), ringbus::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
// Under loom only the ring and its models are built; the bus API that uses the rest is not.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(loom))]
mod bus;
#[cfg(not(loom))]
mod clock;
#[cfg(not(loom))]
mod config;
#[cfg(not(loom))]
mod diag;
#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
mod follow;
#[cfg(not(loom))]
mod log;
mod ring;
#[cfg(all(feature = "power-loss", not(loom)))]
pub use log::powerloss;
mod sync;

#[cfg(not(loom))]
pub use bus::{
    asynchronous::EventStream,
    claim::Claim,
    event::{Event, EventRef, ProducerSequence},
    group::Group,
    member::Member,
    publisher::Publisher,
    readiness::{Readiness, ReadyFuture},
    record::{key_hash, partition_for_key, Receipt, Record, TryPublishError},
    stats::{PartitionStats, ReaderKind, ReaderStats, TopicStats},
    subscription::{Iter, Subscription},
    ticket::Ticket,
    topic::Topic,
    Bus,
};
#[cfg(not(loom))]
pub use config::{
    keys::{config_key, ConfigKey, CONFIG_KEYS, DEFAULT_ASYNC_MAX_DELAY},
    validate_name, Durability, Producers, SlowConsumerPolicy, Start, SubscribeOptions, TimestampSource, TopicConfig,
    MAX_NAME_LEN,
};
#[cfg(not(loom))]
pub use error::Error;
#[cfg(not(loom))]
pub use follow::{
    group::FollowerMember, subscription::FollowerSubscription, FollowOptions, Follower, Owner, Visibility,
};
#[cfg(not(loom))]
pub use log::io::IoChoice;
#[cfg(not(loom))]
pub use log::shared::LogStats;
#[cfg(not(loom))]
pub use log::verify::{verify_data_dir, Damage, PartitionCheck, TopicCheck, VerifyReport};
pub use ring::wait::WaitStrategy;

/// The README's examples, compiled and run as doc tests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Entry points for the fuzz targets in `fuzz/` and their regression tests. Not part of the
/// supported API: no stability promise. Each function must never panic, whatever its input.
#[cfg(not(loom))]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::follow::fuzz_follow_segment_files as follow_segment_files;
    #[cfg(feature = "power-loss")]
    pub use crate::log::fuzz_entry::power_cut;
    pub use crate::log::fuzz_entry::{
        decode_segment_bytes, recover_segment_file, run_ops, INDEXES_REBUILT, SEGMENTS_RETIRED, SPARES_USED,
        TORN_TAILS_CUT,
    };
}
