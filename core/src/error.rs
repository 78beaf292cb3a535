//! The error type of every fallible ringbus call. (The hot-path error that hands the record
//! back, [`TryPublishError`](crate::TryPublishError), lives with the record in `bus/record.rs`.)
#![deny(unsafe_code)]

use std::fmt;

/// Everything that can go wrong in ringbus outside the `try_publish` fast path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A topic or group name is empty, too long, or uses characters outside `[A-Za-z0-9._-]`.
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A topic with this name already exists on the bus.
    TopicExists(String),
    /// The topic allows one publisher at a time (`Producers::Single`) and one is alive.
    PublisherExists(String),
    /// The payload is larger than the topic's `max_payload`.
    PayloadTooLarge {
        /// Payload length in bytes.
        len: usize,
        /// The topic's limit.
        max: usize,
    },
    /// The key is longer than 65535 bytes.
    KeyTooLarge {
        /// Key length in bytes.
        len: usize,
        /// The limit (65535).
        max: usize,
    },
    /// The partition index is out of range.
    NoSuchPartition {
        /// Requested partition.
        partition: u32,
        /// Partitions the topic has.
        partitions: u32,
    },
    /// The partition's ring had no room: `try_publish` (as [`TryPublishError::into_error`](
    /// crate::TryPublishError::into_error)), or a publish or claim with a timeout that waited
    /// all of it while a `Block` reader, a group or the persister held the ring full. Nothing
    /// was published.
    Full,
    /// Events were not durable (fsynced) before the timeout: [`Topic::flush`](crate::Topic::flush),
    /// or a publish with a timeout on a `Durability::Sync` topic that wrote the event but did
    /// not see its fsync complete in time (the event may still become durable).
    FlushTimeout,
    /// The requested offset lies behind an event whose producer has claimed its space but not
    /// committed it yet (for about a second): the reader could not start there. Try again.
    JoinPending {
        /// Partition.
        partition: u32,
        /// Requested offset.
        offset: u64,
    },
    /// The topic (or bus) was closed; for readers: closed and fully drained.
    Closed,
    /// The requested offset is older than the oldest event the partition still holds.
    OffsetTrimmed {
        /// Partition.
        partition: u32,
        /// Requested offset.
        offset: u64,
        /// Oldest offset still held.
        earliest: u64,
    },
    /// The requested offset is past the partition's end.
    OffsetBeyondEnd {
        /// Partition.
        partition: u32,
        /// Requested offset.
        offset: u64,
        /// The offset the next event will get.
        next: u64,
    },
    /// The requested offset lies inside the log but is not where an event starts.
    NotAnEventOffset {
        /// Partition.
        partition: u32,
        /// Requested offset.
        offset: u64,
    },
    /// A `DropOldest` reader was overtaken by producers and lost events; it continues from the
    /// oldest event still held.
    Lagged {
        /// Partition where events were lost.
        partition: u32,
        /// Number of events lost.
        lost: u64,
    },
    /// An `Evict` reader held producers back longer than its policy allows and was removed.
    Evicted,
    /// Another bus (in this or another process) has the data directory open.
    Locked {
        /// The data directory.
        dir: String,
    },
    /// A file operation on the data directory failed.
    Io {
        /// What was being done, with the path.
        context: String,
        /// The operating system's message.
        message: String,
        /// The `io::ErrorKind`, for matching.
        kind: std::io::ErrorKind,
    },
    /// A segment is damaged before the point where its data was known durable (or a sealed
    /// segment is damaged anywhere): the partition is not opened, nothing is truncated. Also
    /// a `topic.conf` or a group's offsets file that is unreadable or holds values ringbus
    /// could not have written (`position` 0, or the offending offset).
    CorruptLog {
        /// The segment file (or the configuration or offsets file).
        segment: String,
        /// Log position (offset) of the damage.
        position: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A write or fsync of this partition failed earlier; the partition accepts nothing more
    /// until the bus is reopened (nothing after the failure was acknowledged).
    Poisoned {
        /// Partition.
        partition: u32,
        /// The failure.
        reason: String,
    },
    /// The operation needs a persisted topic (`Durability::Async` or `Sync` on a bus opened with
    /// `Bus::open`).
    NotPersisted(String),
}

impl Error {
    /// An [`Error::Io`] from an `io::Error` and what was being done.
    pub(crate) fn io(context: impl Into<String>, e: &std::io::Error) -> Self {
        Error::Io { context: context.into(), message: e.to_string(), kind: e.kind() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => write!(f, "invalid name {name:?}: {reason}"),
            Error::InvalidConfig { field, reason } => write!(f, "invalid {field}: {reason}"),
            Error::TopicExists(name) => write!(f, "topic {name:?} already exists"),
            Error::PublisherExists(name) => {
                write!(f, "topic {name:?} allows one publisher at a time and one is alive")
            }
            Error::PayloadTooLarge { len, max } => {
                write!(f, "payload of {len} bytes exceeds the topic's maximum of {max} bytes")
            }
            Error::KeyTooLarge { len, max } => write!(f, "key of {len} bytes exceeds the maximum of {max} bytes"),
            Error::NoSuchPartition { partition, partitions } => {
                write!(f, "partition {partition} does not exist (the topic has {partitions})")
            }
            Error::Full => {
                f.write_str("the partition's ring is full (a Block reader, a group or the persister has not caught up)")
            }
            Error::FlushTimeout => f.write_str("timed out waiting for events to become durable"),
            Error::JoinPending { partition, offset } => write!(
                f,
                "offset {offset} of partition {partition} lies behind an event that is claimed but not yet \
                 committed; try again"
            ),
            Error::Closed => f.write_str("the topic is closed"),
            Error::OffsetTrimmed { partition, offset, earliest } => {
                write!(f, "offset {offset} of partition {partition} is no longer held; the earliest is {earliest}")
            }
            Error::OffsetBeyondEnd { partition, offset, next } => {
                write!(f, "offset {offset} of partition {partition} is past the end; the next event gets {next}")
            }
            Error::NotAnEventOffset { partition, offset } => {
                write!(f, "offset {offset} of partition {partition} is not the start of an event")
            }
            Error::Lagged { partition, lost } => {
                write!(f, "reader fell behind on partition {partition} and lost {lost} events")
            }
            Error::Evicted => f.write_str("reader was evicted for holding producers back"),
            Error::Locked { dir } => write!(f, "data directory {dir} is in use by another bus (its LOCK file is held)"),
            Error::Io { context, message, .. } => write!(f, "{context}: {message}"),
            Error::CorruptLog { segment, position, reason } if segment.ends_with(".seg") => {
                write!(f, "corrupt log segment {segment} at offset {position}: {reason}")
            }
            // topic.conf, a group's offsets file.
            Error::CorruptLog { segment, reason, .. } => write!(f, "corrupt file {segment}: {reason}"),
            Error::Poisoned { partition, reason } => {
                write!(f, "partition {partition} stopped accepting events after a failed write: {reason}")
            }
            Error::NotPersisted(what) => write!(f, "{what} needs a persisted topic"),
        }
    }
}

impl std::error::Error for Error {}
