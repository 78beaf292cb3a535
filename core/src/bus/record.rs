//! What a producer hands in ([`Record`]) and what it gets back ([`Receipt`], or a
//! [`TryPublishError`] that hands the record back).
#![deny(unsafe_code)]

use std::fmt;

use super::event::ProducerSequence;
use crate::error::Error;

/// An event to publish: payload, optional key, optional timestamp, optional partition.
///
/// Borrowed: publishing copies the bytes into the ring, so the record can be built from stack
/// data and reused. Building one never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Record<'a> {
    /// Event payload, 0 bytes up to the topic's `max_payload`.
    pub payload: &'a [u8],
    /// Optional key; without an explicit partition, the key's stable hash chooses it.
    pub key: Option<&'a [u8]>,
    /// Nanoseconds since the Unix epoch; `None` lets the bus read its clock.
    pub timestamp: Option<u64>,
    /// Explicit partition (overrides the key's choice).
    pub partition: Option<u32>,
    /// Idempotent publish: the producer's id and this record's sequence number. Per producer
    /// and partition, a record whose sequence number is not above the last one accepted is a
    /// duplicate: it is dropped, counted, and the publish reports the offset of the producer's
    /// last accepted record (`Receipt::duplicate`).
    pub producer: Option<ProducerSequence>,
}

impl<'a> Record<'a> {
    /// A record with only a payload.
    #[inline]
    pub const fn new(payload: &'a [u8]) -> Self {
        Self { payload, key: None, timestamp: None, partition: None, producer: None }
    }

    /// Sets the key.
    #[inline]
    pub const fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the timestamp (ns since the Unix epoch).
    #[inline]
    pub const fn timestamp(mut self, nanos: u64) -> Self {
        self.timestamp = Some(nanos);
        self
    }

    /// Makes the publish idempotent: `producer` identifies the producing application (stable
    /// across its restarts), `sequence` increases with every record it publishes to a
    /// partition. A retry of an accepted record (same producer, sequence not above the last
    /// accepted) is dropped within the topic's `dedup_window`, also after a restart (or a
    /// power cut) as long as retention kept the accepted record: a reopened topic refills its
    /// memory of producers from its log.
    #[inline]
    pub const fn producer(mut self, producer: u64, sequence: u64) -> Self {
        self.producer = Some(ProducerSequence { producer, sequence });
        self
    }

    /// Names the partition explicitly.
    #[inline]
    pub const fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }
}

impl<'a> From<&'a [u8]> for Record<'a> {
    fn from(payload: &'a [u8]) -> Self {
        Self::new(payload)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Record<'a> {
    fn from(payload: &'a [u8; N]) -> Self {
        Self::new(payload)
    }
}

impl<'a> From<&'a str> for Record<'a> {
    fn from(payload: &'a str) -> Self {
        Self::new(payload.as_bytes())
    }
}

/// Where a published event landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receipt {
    /// The partition.
    pub partition: u32,
    /// The event's offset in the partition (its byte position in the partition's log).
    pub offset: u64,
    /// The record was a duplicate of an earlier idempotent publish and was dropped; `offset`
    /// is where the producer's last accepted record landed.
    pub duplicate: bool,
}

/// The stable partition hash of a key: 64-bit FNV-1a. Part of the compatibility promise: the
/// same key maps to the same partition in every version, on every platform.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The partition a key goes to among `partitions`.
#[inline]
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    (key_hash(key) % u64::from(partitions)) as u32
}

/// Why `try_publish` did not publish; the record is handed back unchanged.
pub enum TryPublishError<'a> {
    /// The ring is full (a `Block` reader or a group has not caught up).
    Full(Record<'a>),
    /// The topic is closed.
    Closed(Record<'a>),
    /// The record itself is invalid (too large, bad partition).
    Invalid(Error),
}

impl TryPublishError<'_> {
    /// The error without the record.
    pub fn into_error(self) -> Error {
        match self {
            TryPublishError::Full(_) => Error::Full,
            TryPublishError::Closed(_) => Error::Closed,
            TryPublishError::Invalid(e) => e,
        }
    }
}

impl fmt::Debug for TryPublishError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPublishError::Full(_) => f.write_str("Full(..)"),
            TryPublishError::Closed(_) => f.write_str("Closed(..)"),
            TryPublishError::Invalid(e) => f.debug_tuple("Invalid").field(e).finish(),
        }
    }
}

impl fmt::Display for TryPublishError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPublishError::Full(_) => f.write_str("the partition's ring is full"),
            TryPublishError::Closed(_) => f.write_str("the topic is closed"),
            TryPublishError::Invalid(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for TryPublishError<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_is_stable() {
        // Fixed vectors: changing these breaks every user's partitioning.
        assert_eq!(key_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(key_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(key_hash(b"sensor-42"), key_hash(b"sensor-42"));
        assert_eq!(partition_for_key(b"a", 1), 0);
    }
}
