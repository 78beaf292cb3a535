//! Events as readers see them: borrowed ([`EventRef`]) and owned ([`Event`]).
#![deny(unsafe_code)]

use crate::ring::frame::{align, prefix_len, FrameHeader, FLAG_PRODUCER, HEADER_LEN, PRODUCER_LEN};

/// The producer id and sequence number an idempotent publish gave an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerSequence {
    /// The producer id.
    pub producer: u64,
    /// The producer's sequence number for the event.
    pub sequence: u64,
}

/// Builds an event from a frame's timestamp, word 2 and body (the bytes after the header).
/// Never panics on inconsistent lengths (a lapped reader's copy may be torn before it is
/// validated): it clamps.
#[inline]
pub(crate) fn event_from_frame(offset: u64, partition: u32, timestamp: u64, meta: u64, body: &[u8]) -> EventRef<'_> {
    let flags = (meta >> 16) as u16;
    let prefix = prefix_len(flags).min(body.len());
    let producer = (flags & FLAG_PRODUCER != 0 && prefix == PRODUCER_LEN).then(|| ProducerSequence {
        producer: u64::from_le_bytes(body[..8].try_into().expect("8 bytes")),
        sequence: u64::from_le_bytes(body[8..16].try_into().expect("8 bytes")),
    });
    let body = &body[prefix..];
    let key_len = ((meta & 0xffff) as usize).min(body.len());
    EventRef {
        offset,
        partition,
        timestamp,
        key: (key_len > 0).then(|| &body[..key_len]),
        payload: &body[key_len..],
        producer,
    }
}

/// Builds an event from a whole copied frame (`frame`: header, body, unaligned length), as a
/// reader of segment files or a copying reader holds it.
#[inline]
pub(crate) fn event_from_bytes(offset: u64, partition: u32, frame: &[u8]) -> EventRef<'_> {
    let header = FrameHeader::parse(frame);
    event_from_frame(offset, partition, header.timestamp, header.meta, &frame[HEADER_LEN..])
}

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
    /// Set when the event was published idempotently (`Record::producer`).
    pub producer: Option<ProducerSequence>,
}

impl EventRef<'_> {
    /// The offset of the next event in the same partition (offsets are byte positions, so
    /// they are not consecutive integers).
    pub fn next_offset(&self) -> u64 {
        let key = self.key.map_or(0, <[u8]>::len);
        let prefix = if self.producer.is_some() { PRODUCER_LEN } else { 0 };
        self.offset + align(HEADER_LEN + prefix + key + self.payload.len()) as u64
    }

    /// Copies the event into an owned [`Event`] (allocates the key and payload).
    pub fn to_owned(&self) -> Event {
        Event {
            offset: self.offset,
            partition: self.partition,
            timestamp: self.timestamp,
            key: self.key.map(<[u8]>::to_vec),
            payload: self.payload.to_vec(),
            producer: self.producer,
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
    /// Set when the event was published idempotently.
    pub producer: Option<ProducerSequence>,
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
            producer: self.producer,
        }
    }

    /// The offset of the next event in the same partition.
    pub fn next_offset(&self) -> u64 {
        self.as_ref().next_offset()
    }
}
