//! Publishing: copy-in (`publish`, `try_publish`, `publish_batch`); the zero-copy `claim` is
//! in `claim.rs`. Waiting for room, and saying so when it lasts (`Waiting`).

use std::time::{Duration, Instant};

use super::event::ProducerSequence;
use super::record::{partition_for_key, Receipt, Record, TryPublishError};
use super::stats::PublisherCounters;
use super::ticket::{Covers, Ticket, TicketSource};
use super::topic::TopicInner;
use crate::clock;
use crate::config::{Durability, Producers, TimestampSource};
use crate::error::Error;
use crate::ring::frame::{align, FLAG_PRODUCER, HEADER_LEN, PRODUCER_LEN};
use crate::ring::{ClaimError, ProducerCache, Reservation, Ring};
use crate::sync::{Arc, CachePadded, Ordering};

/// A publisher waiting this long for room says so (see [`report_blocked`]).
const BLOCKED_REPORT_AFTER: Duration = Duration::from_secs(1);
/// ... and again this often while it stays blocked (at most this often per partition).
pub(crate) const BLOCKED_REPORT_EVERY: Duration = Duration::from_secs(10);

/// How long a claim may wait for space.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wait {
    No,
    Until(Option<Instant>),
}

/// Appends events to a topic. `Send`, not shared: publishing takes `&mut self`, so make one
/// publisher per producing thread ([`Topic::publisher`](crate::Topic::publisher) is cheap).
/// Any number of publishers may publish to one partition at once.
///
/// Ordering: events from one publisher to one partition appear in publish order. Publishing
/// copies the bytes into the ring and never allocates.
#[derive(Debug)]
pub struct Publisher {
    pub(super) topic: Arc<TopicInner>,
    pub(super) counters: Arc<PublisherCounters>,
    /// Per partition: the last producer limit seen and where this publisher's last claim
    /// ended (saves a shared load per claim). Padded: this is written on the hot path, and a
    /// small heap block can otherwise share a cache line with a reader's state.
    caches: Box<[CachePadded<ProducerCache>]>,
    home: u32,
    /// The topic is `Durability::Sync`: publishing waits for the fsync.
    pub(super) sync: bool,
    /// What this publisher's tickets wait on (`Sync` topics).
    tickets: Option<Arc<TicketSource>>,
    /// Keeps the cached coarse clock ticking (topics with `TimestampSource::Coarse`).
    _clock: Option<clock::CoarseClock>,
    /// While this publisher waits for room: (since when, when it last was still waiting). A
    /// caller that gives up and tries again within [`BLOCKED_GAP`] (the Python binding waits
    /// in slices, to check for signals) counts as blocked all along.
    blocked: Option<(Instant, Instant)>,
}

impl Publisher {
    pub(crate) fn new(topic: Arc<TopicInner>) -> Result<Self, Error> {
        if topic.config.producers == Producers::Single && topic.exclusive.swap(true, Ordering::Acquire) {
            return Err(Error::PublisherExists(topic.name.clone()));
        }
        let n = topic.partitions() as usize;
        let counters = Arc::new(PublisherCounters::new(n));
        let home = {
            let mut reg = topic.registry.lock();
            if reg.publishers.len() == 1 {
                // The lone publisher claimed with plain stores: from now on all claim shared.
                for ring in topic.parts.rings.iter() {
                    ring.share();
                }
            }
            reg.publishers.push(Arc::downgrade(&counters));
            let home = reg.next_home;
            reg.next_home = (home + 1) % topic.partitions();
            home
        };
        let sync = topic.config.durability == Durability::Sync;
        let tickets = match &topic.logs {
            Some(logs) if sync => Some(TicketSource::new(logs, topic.config.wait)),
            _ => None,
        };
        let caches = (0..n).map(|_| CachePadded::new(ProducerCache::default())).collect();
        let _clock = (topic.config.timestamps == TimestampSource::Coarse).then(clock::CoarseClock::hold);
        Ok(Self { topic, counters, caches, home, sync, tickets, _clock, blocked: None })
    }

    /// The partition this publisher's unkeyed records go to.
    pub fn home_partition(&self) -> u32 {
        self.home
    }

    /// Publishes one record, waiting (by the topic's wait strategy) while the partition's ring
    /// is full. Returns where it landed. On a `Durability::Sync` topic it returns once the
    /// event is durable (fsynced).
    ///
    /// Errors: [`Error::Closed`], [`Error::PayloadTooLarge`], [`Error::KeyTooLarge`],
    /// [`Error::NoSuchPartition`], [`Error::Poisoned`] (persisted topics: a write failed).
    #[inline]
    pub fn publish<'a>(&mut self, record: impl Into<Record<'a>>) -> Result<Receipt, Error> {
        let record = record.into();
        if !self.sync && record.key.is_none() && record.partition.is_none() && record.producer.is_none() {
            // The common case, kept small so that it inlines into the caller's loop: every
            // store it saves is a store-buffer entry the cross-core misses do not wait behind.
            return self.append_payload(record.payload, record.timestamp);
        }
        self.publish_one(&record, Wait::Until(None))
    }

    /// Publishes a bare payload (no key, partition or producer id) to the home partition,
    /// waiting for space: [`publish`](Self::publish)'s common case.
    #[inline(always)]
    fn append_payload(&mut self, payload: &[u8], timestamp: Option<u64>) -> Result<Receipt, Error> {
        let partition = self.home;
        let len = self.frame_len(0, payload.len())?;
        let position = self.claim_space(partition, align(len), Wait::Until(None))?;
        let ts = timestamp.unwrap_or_else(|| clock::now(self.topic.config.timestamps));
        let ring = &self.topic.parts.rings[partition as usize];
        // SAFETY: the frame at `position` of aligned size align(len) was claimed just above by
        // this publisher and is not committed yet; len passed the topic's limits.
        unsafe { ring.write_event(position, ts, payload) };
        ring.notify_readers();
        self.counters.published[partition as usize].add(1);
        Ok(Receipt { partition, offset: position, duplicate: false })
    }

    /// Like [`publish`](Self::publish), giving up after `timeout`: [`Error::Full`] when the
    /// ring had no room all that time (nothing was published), [`Error::FlushTimeout`] when a
    /// `Durability::Sync` topic wrote the event but its fsync did not complete in time.
    pub fn publish_timeout<'a>(&mut self, record: impl Into<Record<'a>>, timeout: Duration) -> Result<Receipt, Error> {
        self.publish_one(&record.into(), Wait::Until(Some(Instant::now() + timeout)))
    }

    /// Publishes one record if there is room now; otherwise hands it back in
    /// [`TryPublishError::Full`]. Never waits for space. (On a `Durability::Sync` topic, a
    /// record it did publish is still acknowledged only once fsynced: it waits for that.)
    #[inline]
    pub fn try_publish<'a>(&mut self, record: impl Into<Record<'a>>) -> Result<Receipt, TryPublishError<'a>> {
        let record = record.into();
        match self.publish_one(&record, Wait::No) {
            Ok(receipt) => Ok(receipt),
            Err(Error::Full) => Err(TryPublishError::Full(record)),
            Err(Error::Closed) => Err(TryPublishError::Closed(record)),
            Err(e) => Err(TryPublishError::Invalid(e)),
        }
    }

    /// Publishes every record, in order, waiting for space as needed. Consecutive records for
    /// the same partition are claimed together (one atomic operation, one clock read and one
    /// wake-up check per run). All records are checked before any is published. Returns the
    /// number published (all of them). On a `Durability::Sync` topic it returns once all of
    /// them are durable (one fsync covers the batch).
    pub fn publish_batch(&mut self, records: &[Record<'_>]) -> Result<usize, Error> {
        self.publish_many(records, None)
    }

    /// Like [`publish_batch`](Self::publish_batch), giving up after `timeout`; the error then
    /// says nothing about how many were published: [`Topic::stats`](crate::Topic::stats) does.
    pub fn publish_batch_timeout(&mut self, records: &[Record<'_>], timeout: Duration) -> Result<usize, Error> {
        self.publish_many(records, Some(Instant::now() + timeout))
    }

    /// Publishes one record like [`publish`](Self::publish) (waiting for space), but returns
    /// as soon as it is appended, with a [`Ticket`] that completes once the fsync covering it
    /// has (on a `Durability::Sync` topic; on other topics the ticket is complete at once).
    /// Keep many tickets in flight and the persister covers them all with one write and one
    /// fsync. A duplicate idempotent record's ticket completes once the record it duplicates is
    /// durable.
    ///
    /// ```
    /// # use ringbus::{Bus, Durability, Record, TopicConfig};
    /// # use std::collections::VecDeque;
    /// # use std::time::Duration;
    /// # let dir = std::env::temp_dir().join(format!("ringbus-doc-ticket-{}", std::process::id()));
    /// let bus = Bus::open(&dir)?;
    /// let topic = bus.create_topic("readings", TopicConfig::new().durability(Durability::Sync))?;
    /// let mut publisher = topic.publisher()?;
    /// let mut in_flight = VecDeque::new();
    /// for i in 0..10_000u64 {
    ///     in_flight.push_back(publisher.publish_ticket(Record::new(&i.to_le_bytes()))?);
    ///     if in_flight.len() > 1024 {
    ///         // The oldest; by now one fsync has usually covered it and many after it.
    ///         in_flight.pop_front().unwrap().wait(Some(Duration::from_secs(10)))?;
    ///     }
    /// }
    /// for ticket in &in_flight {
    ///     ticket.wait(None)?;
    /// }
    /// assert!(topic.stats().partitions[0].log.as_ref().unwrap().fsyncs < 10_000);
    /// # drop(bus);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), ringbus::Error>(())
    /// ```
    ///
    /// Errors: as [`publish`](Self::publish), except that durability is the ticket's to report.
    #[inline]
    pub fn publish_ticket<'a>(&mut self, record: impl Into<Record<'a>>) -> Result<Ticket, Error> {
        let (receipt, end) = self.append_one(&record.into(), Wait::Until(None))?;
        Ok(self.ticket_for(receipt, end))
    }

    /// Like [`publish_ticket`](Self::publish_ticket), giving up after `timeout` if the ring
    /// has no room all that time: [`Error::Full`], and nothing was published.
    pub fn publish_ticket_timeout<'a>(
        &mut self,
        record: impl Into<Record<'a>>,
        timeout: Duration,
    ) -> Result<Ticket, Error> {
        let (receipt, end) = self.append_one(&record.into(), Wait::Until(Some(Instant::now() + timeout)))?;
        Ok(self.ticket_for(receipt, end))
    }

    /// Publishes every record like [`publish_batch`](Self::publish_batch) (all checked first,
    /// waiting for space as needed), but returns once they are appended, with one [`Ticket`]
    /// for all of them (complete at once on topics other than `Durability::Sync`).
    pub fn publish_batch_ticket(&mut self, records: &[Record<'_>]) -> Result<Ticket, Error> {
        let covers = self.append_many(records, None, true)?.expect("asked for");
        Ok(Ticket::new(self.tickets.clone(), covers, None))
    }

    /// Like [`publish_batch_ticket`](Self::publish_batch_ticket), giving up after `timeout`;
    /// the error then says nothing about how many were published, as for
    /// [`publish_batch_timeout`](Self::publish_batch_timeout).
    pub fn publish_batch_ticket_timeout(&mut self, records: &[Record<'_>], timeout: Duration) -> Result<Ticket, Error> {
        let covers = self.append_many(records, Some(Instant::now() + timeout), true)?.expect("asked for");
        Ok(Ticket::new(self.tickets.clone(), covers, None))
    }

    /// Appends one record if its partition has room now (an idempotent one through the
    /// producer table); its receipt and frame end, or [`Error::Full`] having appended
    /// nothing. Never waits, not even for an fsync: the async API's step.
    pub(super) fn try_append(&mut self, record: &Record<'_>) -> Result<(Receipt, u64), Error> {
        self.append_one(record, Wait::No)
    }

    /// Appends one record, an idempotent one through its partition's producer table: its
    /// receipt and the end of what durability must cover (see [`publish_idempotent`]).
    ///
    /// [`publish_idempotent`]: Self::publish_idempotent
    #[inline]
    fn append_one(&mut self, record: &Record<'_>, wait: Wait) -> Result<(Receipt, u64), Error> {
        if record.producer.is_some() {
            self.publish_idempotent(record, wait)
        } else {
            self.append(record, wait)
        }
    }

    /// Whether `record` would find room in `partition` (its route) now; claims nothing. True
    /// when the record is invalid or the ring closed: the append then says so.
    pub(super) fn has_room_for(&mut self, record: &Record<'_>, partition: usize) -> bool {
        let prefix = if record.producer.is_some() { PRODUCER_LEN } else { 0 };
        let Ok(len) = self.frame_len(record.key.map_or(0, <[u8]>::len), record.payload.len()) else { return true };
        self.topic.parts.rings[partition].has_room(align(len + prefix), &mut self.caches[partition])
    }

    /// The ticket of a record appended at `receipt`, covered once durable up to `end`.
    pub(super) fn ticket_for(&self, receipt: Receipt, end: u64) -> Ticket {
        Ticket::new(self.tickets.clone(), Covers::One([(receipt.partition, end)]), Some(receipt))
    }

    #[inline]
    pub(super) fn route(&self, record: &Record<'_>) -> Result<u32, Error> {
        match (record.partition, record.key) {
            (Some(p), _) => self.topic.check_partition(p).map(|()| p),
            (None, Some(key)) if self.topic.partitions() > 1 => Ok(partition_for_key(key, self.topic.partitions())),
            _ => Ok(self.home),
        }
    }

    #[inline]
    pub(super) fn frame_len(&self, key_len: usize, payload_len: usize) -> Result<usize, Error> {
        let config = &self.topic.config;
        if payload_len > config.max_payload || key_len > config.max_key {
            return Err(self.too_large(key_len, payload_len));
        }
        Ok(HEADER_LEN + key_len + payload_len)
    }

    #[cold]
    #[inline(never)]
    fn too_large(&self, key_len: usize, payload_len: usize) -> Error {
        let config = &self.topic.config;
        if payload_len > config.max_payload {
            Error::PayloadTooLarge { len: payload_len, max: config.max_payload }
        } else {
            Error::KeyTooLarge { len: key_len, max: config.max_key }
        }
    }

    /// Claims `bytes` on `partition` and returns the space's first position. A publish that
    /// waits without a deadline claims with [`Ring::claim`] (one `fetch_add` when far from
    /// the limit); one that must be able to give up claims with [`Ring::try_claim`], which
    /// never takes space it cannot use.
    #[inline(always)]
    pub(super) fn claim_space(&mut self, partition: u32, bytes: usize, wait: Wait) -> Result<u64, Error> {
        let p = partition as usize;
        let ring = &self.topic.parts.rings[p];
        let cache = &mut self.caches[p];
        let claimed = match wait {
            Wait::Until(None) => ring.claim(bytes, cache),
            _ => ring.try_claim(bytes, cache),
        };
        match claimed {
            Ok(position) => Ok(position),
            Err(e) => self.claim_refused(partition, bytes, wait, e),
        }
    }

    /// A claim that did not succeed at once: closed, or waits for space (by `wait`).
    #[cold]
    #[inline(never)]
    fn claim_refused(&mut self, partition: u32, bytes: usize, wait: Wait, e: ClaimError) -> Result<u64, Error> {
        let p = partition as usize;
        let ring = &self.topic.parts.rings[p];
        let cache = &mut self.caches[p];
        let waiting = Waiting { topic: &self.topic, partition, blocked: &mut self.blocked };
        match e {
            ClaimError::Closed => Err(self.topic.closed_error(partition)),
            e => {
                self.counters.full_waits[p].add(1);
                match (wait, e) {
                    (Wait::No, _) => Err(Error::Full),
                    (Wait::Until(deadline), ClaimError::Full) => {
                        Self::wait_for_space(ring, cache, bytes, deadline, waiting)
                    }
                    (_, ClaimError::Reserved(r)) => Self::wait_for_reservation(ring, cache, bytes, r, waiting),
                    (_, ClaimError::Closed) => unreachable!("handled above"),
                }
            }
        }
    }

    #[cold]
    fn wait_for_space(
        ring: &Ring,
        cache: &mut ProducerCache,
        bytes: usize,
        deadline: Option<Instant>,
        waiting: Waiting<'_>,
    ) -> Result<u64, Error> {
        let (topic, partition) = (waiting.topic, waiting.partition);
        let mut outcome = Err(Error::Full);
        let ready = || {
            outcome = match ring.try_claim(bytes, cache) {
                Ok(position) => Ok(position),
                Err(ClaimError::Full) => return false,
                Err(_) => Err(topic.closed_error(partition)),
            };
            true
        };
        waiting.wait(ready, deadline);
        outcome
    }

    /// Waits for the space of a reservation (a `fetch_add` claim that passed the limit and
    /// could not be taken back). No deadline: the space is this publisher's and readers wait
    /// for it, so it is either used or taken back once the claims above it are.
    #[cold]
    fn wait_for_reservation(
        ring: &Ring,
        cache: &mut ProducerCache,
        bytes: usize,
        reservation: Reservation,
        waiting: Waiting<'_>,
    ) -> Result<u64, Error> {
        let (topic, partition) = (waiting.topic, waiting.partition);
        // `None` once the reservation was taken back: then claim as `try_claim` does.
        let mut pending = Some(reservation);
        let mut outcome = Err(Error::Full);
        let ready = || {
            let claimed = match pending {
                Some(r) => match ring.settle(r, bytes, cache) {
                    None => return false,
                    Some(result) => result,
                },
                None => ring.try_claim(bytes, cache),
            };
            outcome = match claimed {
                Ok(position) => Ok(position),
                Err(ClaimError::Reserved(r)) => {
                    pending = Some(r);
                    return false;
                }
                Err(ClaimError::Full) => {
                    pending = None;
                    return false;
                }
                Err(ClaimError::Closed) => Err(topic.closed_error(partition)),
            };
            true
        };
        waiting.wait(ready, None);
        outcome
    }

    #[inline]
    fn publish_one(&mut self, record: &Record<'_>, wait: Wait) -> Result<Receipt, Error> {
        let (receipt, end) = self.append_one(record, wait)?;
        if self.sync && !receipt.duplicate {
            let deadline = if let Wait::Until(d) = wait { d } else { None };
            self.topic.wait_durable(receipt.partition, end, deadline)?;
        }
        Ok(receipt)
    }

    /// Claims, writes and commits one record; returns its receipt and its frame's end.
    #[inline]
    fn append(&mut self, record: &Record<'_>, wait: Wait) -> Result<(Receipt, u64), Error> {
        let partition = self.route(record)?;
        let key = record.key.unwrap_or(&[]);
        let prefix = if record.producer.is_some() { PRODUCER_LEN } else { 0 };
        let len = self.frame_len(key.len(), record.payload.len())? + prefix;
        let position = self.claim_space(partition, align(len), wait)?;
        let timestamp = record.timestamp.unwrap_or_else(|| clock::now(self.topic.config.timestamps));
        let ring = &self.topic.parts.rings[partition as usize];
        // SAFETY: the frame at `position` of aligned size align(len) was claimed just above by
        // this publisher and is not committed yet.
        unsafe { write_frame(ring, position, timestamp, key, record.payload, record.producer) };
        ring.commit(position, len);
        let end = position + align(len) as u64;
        ring.notify_readers();
        self.counters.published[partition as usize].add(1);
        Ok((Receipt { partition, offset: position, duplicate: false }, end))
    }

    /// An idempotent publish: under the partition's producer table, drops a duplicate or
    /// appends the record and remembers it. Returns the receipt and the end of what
    /// durability must cover: the frame's end, or for a duplicate `offset + 1` (its
    /// original's frame starts at `offset`, and durable marks are frame ends, so a mark past
    /// the offset covers the whole frame).
    #[cold]
    fn publish_idempotent(&mut self, record: &Record<'_>, wait: Wait) -> Result<(Receipt, u64), Error> {
        let ps = record.producer.expect("an idempotent record");
        let partition = self.route(record)?;
        let topic = self.topic.clone();
        let mut table = topic.dedup[partition as usize].lock();
        if let Some(offset) = table.duplicate_of(ps.producer, ps.sequence) {
            table.duplicates += 1;
            return Ok((Receipt { partition, offset, duplicate: true }, offset + 1));
        }
        let (receipt, end) = self.append(record, wait)?;
        let now = clock::now(TimestampSource::Coarse);
        table.accept(ps.producer, ps.sequence, receipt.offset, now, topic.config.dedup_window);
        Ok((receipt, end))
    }

    /// Publishes a batch and, on a `Sync` topic, waits for its fsync.
    fn publish_many(&mut self, records: &[Record<'_>], deadline: Option<Instant>) -> Result<usize, Error> {
        if let Some(covers) = self.append_many(records, deadline, self.sync)? {
            for &(partition, end) in covers.as_slice() {
                self.topic.wait_durable(partition, end, deadline)?;
            }
        }
        Ok(records.len())
    }

    /// Appends a batch (checked whole first); if `covers`, returns the end of what it appended
    /// in each partition it touched (which allocates when that is more than one).
    fn append_many(
        &mut self,
        records: &[Record<'_>],
        deadline: Option<Instant>,
        covers: bool,
    ) -> Result<Option<Covers>, Error> {
        let partitions = self.topic.partitions();
        let (max_payload, max_key) = (self.topic.config.max_payload, self.topic.config.max_key);
        // Check everything first: a batch is published whole or (on a bad record) not at all.
        let mut idempotent = false;
        // Bytes of the whole batch: on a one-partition topic it is one run if it fits.
        let mut total = 0u64;
        for r in records {
            let key_len = r.key.map_or(0, <[u8]>::len);
            if r.payload.len() > max_payload || key_len > max_key {
                return Err(self.frame_len(key_len, r.payload.len()).expect_err("a limit is exceeded"));
            }
            total += align(HEADER_LEN + key_len + r.payload.len()) as u64;
            if let Some(p) = r.partition {
                self.topic.check_partition(p)?;
            }
            idempotent |= r.producer.is_some();
        }
        if idempotent {
            return self.append_many_idempotent(records, deadline).map(Some);
        }
        // Routing again is cheaper than storing it (and storing it would allocate).
        let home = self.home;
        let route = |r: &Record<'_>| match (r.partition, r.key) {
            _ if partitions == 1 => 0,
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, partitions),
            (None, None) => home,
        };
        let max_run = (self.topic.config.capacity / 2) as u64;
        let mut timestamp = None;
        let mut i = 0;
        while i < records.len() {
            let partition = route(&records[i]);
            let mut bytes = 0u64;
            let mut j = i;
            if partitions == 1 && total <= max_run {
                (bytes, j) = (total, records.len());
            }
            while j < records.len() {
                let r = &records[j];
                let len = align(HEADER_LEN + r.key.map_or(0, <[u8]>::len) + r.payload.len()) as u64;
                if bytes + len > max_run || (j > i && route(r) != partition) {
                    break;
                }
                bytes += len;
                j += 1;
            }
            let mut position = self.claim_space(partition, bytes as usize, Wait::Until(deadline))?;
            let ring = &self.topic.parts.rings[partition as usize];
            for r in &records[i..j] {
                let key = r.key.unwrap_or(&[]);
                let len = HEADER_LEN + key.len() + r.payload.len();
                let ts = match r.timestamp {
                    Some(t) => t,
                    None => *timestamp.get_or_insert_with(|| clock::now(self.topic.config.timestamps)),
                };
                // SAFETY: [position, position + bytes) was claimed above by this publisher;
                // each frame lies inside it and none is committed yet.
                unsafe {
                    if key.is_empty() {
                        ring.write_event(position, ts, r.payload);
                    } else {
                        write_frame(ring, position, ts, key, r.payload, None);
                        ring.commit(position, len);
                    }
                }
                position += align(len) as u64;
            }
            ring.notify_readers();
            self.counters.published[partition as usize].add((j - i) as u64);
            i = j;
        }
        // Every partition this batch touched: its frames end where our last claim there ended.
        if !covers {
            return Ok(None);
        }
        if partitions == 1 {
            return Ok(Some(Covers::One([(0, self.caches[0].last_end)])));
        }
        let touched: Vec<(u32, u64)> = (0..partitions)
            .filter(|&p| records.iter().any(|r| route(r) == p))
            .map(|p| (p, self.caches[p as usize].last_end))
            .collect();
        Ok(Some(covers_of(touched)))
    }
}

impl Publisher {
    /// `append_many` when some records are idempotent: each is checked against its
    /// partition's producer table and appended one by one (all are validated first).
    #[cold]
    fn append_many_idempotent(&mut self, records: &[Record<'_>], deadline: Option<Instant>) -> Result<Covers, Error> {
        for r in records {
            self.frame_len(r.key.map_or(0, <[u8]>::len), r.payload.len())?;
            self.route(r)?;
        }
        let mut ends = Vec::new();
        for r in records {
            let (receipt, end) = self.append_one(r, Wait::Until(deadline))?;
            ends.push((receipt.partition, end));
        }
        ends.sort_unstable();
        ends.reverse();
        // The highest end of each partition, ascending by partition.
        ends.dedup_by_key(|&mut (p, _)| p);
        ends.reverse();
        Ok(covers_of(ends))
    }
}

/// The covers of a batch: (partition, end) pairs, one per partition, ascending.
fn covers_of(ends: Vec<(u32, u64)>) -> Covers {
    match ends[..] {
        [one] => Covers::One([one]),
        _ => Covers::Many(ends.into_boxed_slice()),
    }
}

/// A caller that tries again within this long after giving up counts as blocked all along.
const BLOCKED_GAP: Duration = Duration::from_secs(1);

/// A publisher waiting for room in one partition.
struct Waiting<'a> {
    topic: &'a TopicInner,
    partition: u32,
    /// The publisher's [`Publisher::blocked`].
    blocked: &'a mut Option<(Instant, Instant)>,
}

impl Waiting<'_> {
    /// Waits on the partition's ring for room, until `ready` says there is (true) or
    /// `deadline` passes (false), by the topic's wait strategy. Once the publisher has waited
    /// [`BLOCKED_REPORT_AFTER`] (over successive calls, see [`Publisher::blocked`]) it says so
    /// (see [`report_blocked`]).
    #[cold]
    fn wait(self, mut ready: impl FnMut() -> bool, deadline: Option<Instant>) -> bool {
        let ring = &self.topic.parts.rings[self.partition as usize];
        let now = Instant::now();
        let since = match *self.blocked {
            Some((since, seen)) if now.duration_since(seen) < BLOCKED_GAP => since,
            _ => now,
        };
        let mut report_at = since + BLOCKED_REPORT_AFTER;
        loop {
            let until = deadline.map_or(report_at, |d| d.min(report_at));
            if self.topic.config.wait.wait(&ring.writable, &mut ready, Some(until)) {
                *self.blocked = None;
                return true;
            }
            let now = Instant::now();
            *self.blocked = Some((since, now));
            if deadline.is_some_and(|d| now >= d) {
                return false;
            }
            report_blocked(self.topic, self.partition, now - since);
            report_at = now + BLOCKED_REPORT_EVERY;
        }
    }
}

/// Says, through the diagnostics (at most once every [`BLOCKED_REPORT_EVERY`] per partition),
/// that a publisher has waited `waited` for room in `partition`, and which reader holds the
/// ring full: a publisher that also polls that reader on its own thread waits forever.
#[cold]
fn report_blocked(topic: &TopicInner, partition: u32, waited: Duration) {
    if !topic.blocked_reports[partition as usize].allow() {
        return;
    }
    let ring = &topic.parts.rings[partition as usize];
    let holder = match ring.holder() {
        Some((name, position)) => format!(
            "{name} holds it at offset {position}, {} bytes behind the newest event",
            ring.tail().saturating_sub(position)
        ),
        None => "no reader holds it: another publisher's claim is not committed yet".to_owned(),
    };
    crate::diag::warn!(
        "a publisher of topic {:?} has waited {:.1} s for room in partition {partition}: the ring is full and \
         {holder}. A Block reader polled by the publishing thread itself never reads on; poll it from another \
         thread, use SlowConsumerPolicy::DropOldest or Evict, or publish with a timeout",
        topic.name,
        waited.as_secs_f64()
    );
}

/// Writes a whole frame except its commit word: header, the producer prefix if any, key and
/// payload.
///
/// # Safety
/// The caller claimed `position .. position + align(len)` and has not committed it, where
/// `len` counts the header, the prefix, the key and the payload.
#[inline(always)]
unsafe fn write_frame(
    ring: &Ring,
    position: u64,
    timestamp: u64,
    key: &[u8],
    payload: &[u8],
    producer: Option<ProducerSequence>,
) {
    if let Some(ps) = producer {
        // SAFETY: forwarded contract.
        unsafe { write_idempotent_frame(ring, position, timestamp, key, payload, ps) };
        return;
    }
    // SAFETY: forwarded contract: the frame is claimed and uncommitted; key and payload fit in
    // it since len = HEADER_LEN + key.len() + payload.len().
    unsafe {
        ring.write_header(
            position,
            HEADER_LEN + key.len() + payload.len(),
            timestamp,
            key.len() as u16,
            0,
            &[key, payload],
        );
        if !key.is_empty() {
            ring.write_body(position, HEADER_LEN, key);
        }
        ring.write_body(position, HEADER_LEN + key.len(), payload);
    }
}

/// [`write_frame`] for an idempotent record: the producer id and sequence come first.
///
/// # Safety
/// As for [`write_frame`].
#[cold]
#[inline(never)]
unsafe fn write_idempotent_frame(
    ring: &Ring,
    position: u64,
    timestamp: u64,
    key: &[u8],
    payload: &[u8],
    ps: ProducerSequence,
) {
    let mut prefix = [0u8; PRODUCER_LEN];
    prefix[..8].copy_from_slice(&ps.producer.to_le_bytes());
    prefix[8..].copy_from_slice(&ps.sequence.to_le_bytes());
    // SAFETY: forwarded contract: prefix, key and payload fit in the claimed frame since
    // len = HEADER_LEN + PRODUCER_LEN + key.len() + payload.len().
    unsafe {
        let len = HEADER_LEN + PRODUCER_LEN + key.len() + payload.len();
        ring.write_header(position, len, timestamp, key.len() as u16, FLAG_PRODUCER, &[&prefix, key, payload]);
        ring.write_body(position, HEADER_LEN, &prefix);
        if !key.is_empty() {
            ring.write_body(position, HEADER_LEN + PRODUCER_LEN, key);
        }
        ring.write_body(position, HEADER_LEN + PRODUCER_LEN + key.len(), payload);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let mut reg = self.topic.registry.lock();
        for (i, r) in reg.retired.iter_mut().enumerate() {
            r.0 += self.counters.published[i].get();
            r.1 += self.counters.full_waits[i].get();
        }
        reg.publishers.retain(|w| !std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.counters)));
        if reg.publishers.len() <= 1 {
            // At most one publisher is left, and every claim of this one happened before (it
            // took `&mut self`): the one left may claim alone again.
            for ring in self.topic.parts.rings.iter() {
                ring.set_exclusive();
            }
        }
        drop(reg);
        if self.topic.config.producers == Producers::Single {
            // Release: the next publisher sees every store this one made to the rings.
            self.topic.exclusive.store(false, Ordering::Release);
        }
    }
}
