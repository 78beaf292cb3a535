//! Zero-copy publishing: a [`Claim`] is room for one event in the ring that the caller writes
//! in place, then commits (or drops, which turns the room into padding readers skip).

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::publisher::{Publisher, Wait};
use super::record::{Receipt, Record};
use crate::clock;
use crate::error::Error;
use crate::ring::frame::{align, HEADER_LEN};
use crate::ring::Ring;

impl Publisher {
    /// Claims room for a `len`-byte payload on the home partition, for writing in place.
    /// Waits while the ring is full. Write through the returned [`Claim`] and `commit` it;
    /// dropping it uncommitted publishes nothing (readers skip the space).
    ///
    /// Readers of the partition wait at the claimed frame until it is committed or dropped:
    /// keep claims short.
    ///
    /// ```
    /// # use ringbus::{Bus, TopicConfig, SubscribeOptions, Start};
    /// let bus = Bus::new();
    /// let topic = bus.create_topic("frames", TopicConfig::new())?;
    /// let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest))?;
    /// let mut publisher = topic.publisher()?;
    /// let mut claim = publisher.claim(4)?;
    /// claim.copy_from_slice(&42u32.to_le_bytes()); // written in the ring, no copy after
    /// let receipt = claim.commit()?;
    /// let event = sub.try_poll()?.expect("committed");
    /// assert_eq!((event.offset, event.payload), (receipt.offset, &42u32.to_le_bytes()[..]));
    /// # Ok::<(), ringbus::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::PayloadTooLarge`], [`Error::Closed`], [`Error::Poisoned`].
    pub fn claim(&mut self, len: usize) -> Result<Claim<'_>, Error> {
        self.claim_record(Record::new(&[]), len, None)
    }

    /// Like [`claim`](Self::claim) with a key, explicit partition or timestamp taken from
    /// `header` (its payload is ignored), waiting at most `timeout` (`None`: no limit).
    pub fn claim_record(
        &mut self,
        header: Record<'_>,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Claim<'_>, Error> {
        if header.producer.is_some() {
            return Err(Error::InvalidConfig {
                field: "producer",
                reason: "idempotent publish is for publish and publish_batch, not claims".into(),
            });
        }
        let probe = Record { payload: &[], ..header };
        let partition = self.route(&probe)?;
        let key = header.key.unwrap_or(&[]);
        let frame_len = self.frame_len(key.len(), len)?;
        let wait = Wait::Until(timeout.map(|t| Instant::now() + t));
        let position = self.claim_space(partition, align(frame_len), wait)?;
        let ring = &self.topic.parts.rings[partition as usize];
        // SAFETY: we just claimed this frame and have not committed it.
        unsafe { ring.write_body(position, HEADER_LEN, key) };
        Ok(Claim {
            publisher: self,
            partition,
            position,
            key_len: key.len(),
            len,
            timestamp: header.timestamp,
            done: false,
        })
    }
}

/// Room for one event claimed in the ring, written in place. Derefs to the payload bytes
/// (zero-initialised). [`commit`](Claim::commit) publishes it; dropping it uncommitted turns
/// the space into padding that readers skip.
#[derive(Debug)]
pub struct Claim<'p> {
    publisher: &'p mut Publisher,
    partition: u32,
    position: u64,
    key_len: usize,
    len: usize,
    timestamp: Option<u64>,
    done: bool,
}

impl Claim<'_> {
    /// The offset the event will have.
    pub fn offset(&self) -> u64 {
        self.position
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Sets the event's timestamp (ns since the Unix epoch); otherwise the bus reads its clock
    /// at commit.
    pub fn set_timestamp(&mut self, nanos: u64) {
        self.timestamp = Some(nanos);
    }

    /// Publishes the event. On a `Durability::Sync` topic, returns once it is durable.
    ///
    /// Errors: only on persisted topics: [`Error::Poisoned`] (a write failed before the event
    /// was durable; it may or may not be on disk).
    pub fn commit(mut self) -> Result<Receipt, Error> {
        let topic = &self.publisher.topic;
        let ring = &topic.parts.rings[self.partition as usize];
        let len = HEADER_LEN + self.key_len + self.len;
        let ts = self.timestamp.unwrap_or_else(|| clock::now(topic.config.timestamps));
        // SAFETY: this claim owns the uncommitted frame at `position`; the body borrow ends
        // before the header is written.
        unsafe {
            let body = ring.claimed(self.position, self.key_len + self.len);
            ring.write_header(self.position, len, ts, self.key_len as u16, 0, &[body]);
        }
        ring.commit(self.position, len);
        let end = self.position + align(len) as u64;
        ring.notify_readers();
        self.publisher.counters.published[self.partition as usize].add(1);
        self.done = true;
        if self.publisher.sync {
            topic.wait_durable(self.partition, end, None)?;
        }
        Ok(Receipt { partition: self.partition, offset: self.position, duplicate: false })
    }

    fn ring(&self) -> &Ring {
        &self.publisher.topic.parts.rings[self.partition as usize]
    }
}

impl Deref for Claim<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the claim owns the frame exclusively until commit or drop; the payload range
        // lies inside it; a shared borrow of self excludes the mutable one from deref_mut.
        unsafe { &self.ring().claimed(self.position, self.key_len + self.len)[self.key_len..] }
    }
}

impl DerefMut for Claim<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let key_len = self.key_len;
        // SAFETY: as for Deref; &mut self makes this the only borrow.
        unsafe { &mut self.ring().body_mut(self.position, key_len + self.len)[key_len..] }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.done {
            let bytes = align(HEADER_LEN + self.key_len + self.len);
            self.ring().commit_padding(self.position, bytes);
            self.ring().notify_readers();
        }
    }
}
