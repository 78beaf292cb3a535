//! Events as readers see them: borrowed ([`EventRef`]) and owned ([`Event`]).
#![deny(unsafe_code)]

use crate::ring::frame::align;

/// An event borrowed from the ring (gating readers) or from the reader's copy buffer
/// (`DropOldest`/`Evict` readers). Valid until the reader's next call; reading it never
/// allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Offset of the event in its partition (its byte position in the partition's log).
    pub offset: u64,
    /// Partition.
    pub partition: u32,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: u64,
    /// Key, if the event has one (an empty key reads as `None`).
    pub key: Option<&'a [u8]>,
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl EventRef<'_> {
    /// The offset of the next event in the same partition (offsets are byte positions, so
    /// they are not consecutive integers).
    pub fn next_offset(&self) -> u64 {
        let key = self.key.map_or(0, <[u8]>::len);
        self.offset + align(crate::ring::frame::HEADER_LEN + key + self.payload.len()) as u64
    }

    /// Copies the event into an owned [`Event`] (allocates the key and payload).
    pub fn to_owned(&self) -> Event {
        Event {
            offset: self.offset,
            partition: self.partition,
            timestamp: self.timestamp,
            key: self.key.map(<[u8]>::to_vec),
            payload: self.payload.to_vec(),
        }
    }
}

/// An event owned by the caller (from [`Subscription::iter`](crate::Subscription::iter) or
/// [`EventRef::to_owned`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// Offset of the event in its partition.
    pub offset: u64,
    /// Partition.
    pub partition: u32,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: u64,
    /// Key, if any.
    pub key: Option<Vec<u8>>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Event {
    /// Borrows this event as an [`EventRef`].
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            offset: self.offset,
            partition: self.partition,
            timestamp: self.timestamp,
            key: self.key.as_deref(),
            payload: &self.payload,
        }
    }

    /// The offset of the next event in the same partition.
    pub fn next_offset(&self) -> u64 {
        self.as_ref().next_offset()
    }
}
