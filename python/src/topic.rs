//! `Topic`: publishing (one event, or many from a list or an Arrow array), subscribing,
//! joining groups, flushing, stats.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crossbeam_utils::atomic::AtomicCell;
use parking_lot::Mutex;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use ringbus_core as rb;

use crate::arrow;
use crate::convert::{bytes_of, bytes_or_wrong_type, deadline, next_slice, seconds, start_of, timestamp_ns};
use crate::errors::Result;
use crate::options::durability_name;
use crate::reader::{Kind, Member, Reader, Subscription};
use crate::ticket::Ticket;

/// Events published per detached call of `publish_many`.
const PUBLISH_CHUNK: usize = 4096;

/// A topic: publish to it, subscribe to it, join its groups. Any thread.
#[pyclass(frozen, module = "ringbus")]
pub(crate) struct Topic {
    inner: rb::Topic,
    /// Publishers not in use: one is taken per call, so any thread can publish.
    publishers: Publishers,
    sync: bool,
}

/// A topic's publishers not in use. One thread publishing (the common case) swaps the spare
/// in and out: two atomic swaps a call, no lock. Threads that find the spare taken use the pool.
/// Publishers are boxed, so a swap moves a pointer rather than a publisher.
#[derive(Default)]
struct Publishers {
    spare: AtomicCell<Option<Box<rb::Publisher>>>,
    /// Boxed too: publishers move between the spare and the pool without reallocating.
    #[allow(clippy::vec_box)]
    pool: Mutex<Vec<Box<rb::Publisher>>>,
}

// The spare's swaps are single atomic instructions, not AtomicCell's lock fallback.
const _: () = assert!(AtomicCell::<Option<Box<rb::Publisher>>>::is_lock_free());

impl Publishers {
    fn take(&self) -> Option<Box<rb::Publisher>> {
        self.spare.swap(None).or_else(|| self.pool.lock().pop())
    }

    fn give_back(&self, p: Box<rb::Publisher>) {
        if let Some(other) = self.spare.swap(Some(p)) {
            self.pool.lock().push(other);
        }
    }

    /// `publish(bytes)` without options, the common call: publishes with the spare publisher
    /// if it is free and the ring has room. `None` leaves the call to the general path, which
    /// waits for room or reports the error (a failed `try_publish` wrote nothing).
    #[inline]
    fn try_publish_spare(&self, payload: &[u8]) -> Option<u64> {
        let mut p = self.spare.swap(None)?;
        let offset = p.try_publish(payload).ok().map(|r| r.offset);
        self.give_back(p);
        offset
    }
}

impl Topic {
    pub(crate) fn new(inner: rb::Topic) -> Self {
        let sync = inner.config().durability == rb::Durability::Sync;
        Self { inner, publishers: Publishers::default(), sync }
    }

    fn publisher(&self) -> Result<Box<rb::Publisher>> {
        match self.publishers.take() {
            Some(p) => Ok(p),
            None => Ok(self.inner.publisher().map(Box::new)?),
        }
    }

    /// One record: without waiting if it fits (and the topic is not `sync`), else detached.
    fn publish_record(
        &self,
        py: Python<'_>,
        p: &mut rb::Publisher,
        record: rb::Record<'_>,
        deadline: Option<Instant>,
    ) -> Result<u64> {
        if self.sync {
            // Acknowledged once fsynced: always a wait. A timeout here can come after the
            // event was written, so it is not retried.
            let r = match deadline {
                None => py.detach(|| p.publish(record)),
                Some(d) => py.detach(|| p.publish_timeout(record, d.saturating_duration_since(Instant::now()))),
            };
            return Ok(r?.offset);
        }
        match p.try_publish(record) {
            Ok(r) => return Ok(r.offset),
            Err(rb::TryPublishError::Full(_)) => {}
            Err(e) => return Err(e.into_error().into()),
        }
        // Full: wait in slices (a timed-out publish wrote nothing, so it can be retried).
        loop {
            let Some(slice) = next_slice(deadline) else { return Err(rb::Error::Full.into()) };
            match py.detach(|| p.publish_timeout(record, slice)) {
                Ok(r) => return Ok(r.offset),
                Err(rb::Error::Full) => py.check_signals()?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Builds the record of a `publish` call (payload, key, timestamp) and runs `f` on it
    /// with a publisher from the pool and the call's deadline.
    fn with_record<T>(
        &self,
        payload: &Bound<'_, PyAny>,
        key: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        f: impl FnOnce(&mut rb::Publisher, rb::Record<'_>, Option<Instant>) -> Result<T>,
    ) -> Result<T> {
        let payload = bytes_of(payload, "payload")?;
        let key = key.map(|k| bytes_of(k, "key")).transpose()?;
        let mut record = rb::Record::new(&payload);
        if let Some(k) = &key {
            record = record.key(k);
        }
        if let Some(t) = timestamp {
            record = record.timestamp(timestamp_ns(t)?);
        }
        let deadline = deadline(timeout)?;
        let mut p = self.publisher()?;
        let result = f(&mut p, record, deadline);
        self.publishers.give_back(p);
        result
    }

    /// A ticket for `record`: without waiting if the ring has room, else detached in slices
    /// until `deadline` (a timed-out attempt wrote nothing, so it is retried).
    fn ticket_for(
        py: Python<'_>,
        p: &mut rb::Publisher,
        record: rb::Record<'_>,
        deadline: Option<Instant>,
    ) -> Result<rb::Ticket> {
        match p.publish_ticket_timeout(record, Duration::ZERO) {
            Ok(t) => return Ok(t),
            Err(rb::Error::Full) => {}
            Err(e) => return Err(e.into()),
        }
        loop {
            let Some(slice) = next_slice(deadline) else { return Err(rb::Error::Full.into()) };
            match py.detach(|| p.publish_ticket_timeout(record, slice)) {
                Ok(t) => return Ok(t),
                Err(rb::Error::Full) => py.check_signals()?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `publish_many` and `publish_many_ticket`: with `tickets`, publishes without waiting
    /// for the fsync and collects one ticket per chunk.
    fn publish_records(
        &self,
        py: Python<'_>,
        payloads: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        mut tickets: Option<&mut Vec<rb::Ticket>>,
    ) -> Result<usize> {
        let deadline = deadline(timeout)?;
        let payloads = Values::of(payloads, "payloads")?;
        let keys = keys.map(|k| Values::of(k, "keys")).transpose()?;
        if let Some(k) = &keys {
            if k.len() != payloads.len() {
                return Err(PyValueError::new_err(format!(
                    "keys has {} values but payloads has {}",
                    k.len(),
                    payloads.len()
                ))
                .into());
            }
        }
        let mut records = Vec::with_capacity(payloads.len());
        for i in 0..payloads.len() {
            let payload = payloads.get(i).ok_or_else(|| PyValueError::new_err(format!("payload {i} is null")))?;
            let mut record = rb::Record::new(payload);
            if let Some(k) = &keys {
                if let Some(key) = k.get(i) {
                    record = record.key(key);
                }
            }
            records.push(record);
        }
        let mut p = self.publisher()?;
        let mut result: Result<usize> = Ok(records.len());
        for chunk in records.chunks(PUBLISH_CHUNK) {
            // The slices stay valid while detached: bytes and str are immutable and referenced
            // by `payloads`/`keys`; other buffers were copied.
            let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let r = match (&mut tickets, left()) {
                (None, None) => py.detach(|| p.publish_batch(chunk)).map(drop),
                (None, Some(t)) => py.detach(|| p.publish_batch_timeout(chunk, t)).map(drop),
                (Some(out), None) => py.detach(|| p.publish_batch_ticket(chunk)).map(|t| out.push(t)),
                (Some(out), Some(t)) => py.detach(|| p.publish_batch_ticket_timeout(chunk, t)).map(|t| out.push(t)),
            };
            if let Err(e) = r {
                result = Err(e.into());
                break;
            }
            if let Err(e) = py.check_signals() {
                result = Err(e.into());
                break;
            }
        }
        self.publishers.give_back(p);
        result
    }
}

#[pymethods]
impl Topic {
    /// The topic's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Number of partitions.
    #[getter]
    fn partitions(&self) -> u32 {
        self.inner.partitions()
    }

    /// The topic's counters in the OpenMetrics text format.
    fn metrics(&self) -> String {
        self.inner.metrics()
    }

    /// "memory", "async" or "sync".
    #[getter]
    fn durability(&self) -> &'static str {
        durability_name(&self.inner.config().durability)
    }

    /// Publishes one event; returns its offset in its partition.
    #[pyo3(signature = (payload, key=None, timestamp=None, *, timeout=None))]
    fn publish(
        &self,
        py: Python<'_>,
        payload: &Bound<'_, PyAny>,
        key: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> Result<u64> {
        if key.is_none() && timestamp.is_none() && timeout.is_none() && !self.sync {
            if let Ok(bytes) = payload.cast_exact::<PyBytes>() {
                if let Some(offset) = self.publishers.try_publish_spare(bytes.as_bytes()) {
                    return Ok(offset);
                }
            }
        }
        self.with_record(payload, key, timestamp, timeout, |p, record, deadline| {
            self.publish_record(py, p, record, deadline)
        })
    }

    /// Publishes many events in order, in one call; returns how many.
    #[pyo3(signature = (payloads, keys=None, *, timeout=None))]
    fn publish_many(
        &self,
        py: Python<'_>,
        payloads: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> Result<usize> {
        self.publish_records(py, payloads, keys, timeout, None)
    }

    /// `publish` without waiting for the fsync: returns a Ticket that completes once the
    /// event is durable (at once on memory and async topics).
    #[pyo3(signature = (payload, key=None, timestamp=None, *, timeout=None))]
    fn publish_ticket(
        &self,
        py: Python<'_>,
        payload: &Bound<'_, PyAny>,
        key: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> Result<Ticket> {
        let ticket = self.with_record(payload, key, timestamp, timeout, |p, record, deadline| {
            Self::ticket_for(py, p, record, deadline)
        })?;
        Ok(Ticket::new(vec![ticket]))
    }

    /// `publish_many` without waiting for the fsync: one Ticket for all of them.
    #[pyo3(signature = (payloads, keys=None, *, timeout=None))]
    fn publish_many_ticket(
        &self,
        py: Python<'_>,
        payloads: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> Result<Ticket> {
        let mut tickets = Vec::new();
        self.publish_records(py, payloads, keys, timeout, Some(&mut tickets))?;
        Ok(Ticket::new(tickets))
    }

    /// A fanout subscription: sees every event from `start` on.
    #[pyo3(signature = (start=None, policy="block", *, evict_after=1.0, partitions=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        policy: &str,
        evict_after: f64,
        partitions: Option<Vec<u32>>,
    ) -> Result<Py<Subscription>> {
        let start = match start {
            None => rb::Start::Earliest,
            Some(s) => start_of(s, false)?,
        };
        let policy = match policy {
            "block" => rb::SlowConsumerPolicy::Block,
            "drop_oldest" => rb::SlowConsumerPolicy::DropOldest,
            "evict" => rb::SlowConsumerPolicy::Evict { after: seconds(evict_after, "evict_after")? },
            other => {
                return Err(PyValueError::new_err(format!(
                    "policy must be 'block', 'drop_oldest' or 'evict', not '{other}'"
                ))
                .into())
            }
        };
        let mut options = rb::SubscribeOptions::new().start(start).policy(policy);
        if let Some(parts) = partitions {
            options = options.partitions(parts);
        }
        let sub = py.detach(|| self.inner.subscribe(options))?;
        let readiness = sub.readiness();
        let reader = Reader::new(Kind::Fanout(sub), Some(readiness), self.inner.name().to_owned());
        Ok(Py::new(py, PyClassInitializer::from(reader).add_subclass(Subscription))?)
    }

    /// Joins work-queue group `name` (created at `start` if new): each event goes to one
    /// member. `start` defaults to "committed" on persisted topics, "earliest" in memory.
    #[pyo3(signature = (name, start=None))]
    fn group(&self, py: Python<'_>, name: &str, start: Option<&Bound<'_, PyAny>>) -> Result<Py<Member>> {
        let start = match start {
            Some(s) => start_of(s, true)?,
            None if self.inner.config().durability.is_persisted() => rb::Start::Committed,
            None => rb::Start::Earliest,
        };
        let group = py.detach(|| self.inner.group(name, start))?;
        let member = group.join();
        let readiness = member.readiness();
        let reader = Reader::new(Kind::Member(member), Some(readiness), self.inner.name().to_owned());
        Ok(Py::new(py, PyClassInitializer::from(reader).add_subclass(Member::new(group)))?)
    }

    /// Waits until everything published so far is durable (memory topics: at once). Returns
    /// False if `timeout` passed first.
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> Result<bool> {
        let deadline = deadline(timeout)?;
        loop {
            let slice = next_slice(deadline);
            match py.detach(|| self.inner.flush(Some(slice.unwrap_or(Duration::ZERO)))) {
                Ok(()) => return Ok(true),
                Err(rb::Error::FlushTimeout) if slice.is_none() => return Ok(false),
                Err(rb::Error::FlushTimeout) => py.check_signals()?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Counters: published, full_waits, duplicates, io_backend, per-partition offsets and
    /// per-reader delivered/lag.
    fn stats<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("name", &s.name)?;
        d.set_item("published", s.published)?;
        d.set_item("full_waits", s.full_waits)?;
        d.set_item("duplicates", s.partitions.iter().map(|p| p.duplicates).sum::<u64>())?;
        d.set_item("io_backend", s.io_backend)?;
        let parts = PyList::empty(py);
        for p in &s.partitions {
            let pd = PyDict::new(py);
            pd.set_item("partition", p.partition)?;
            pd.set_item("published", p.published)?;
            pd.set_item("next_offset", p.next_offset)?;
            pd.set_item("earliest_offset", p.earliest_offset)?;
            pd.set_item("durable_offset", p.log.as_ref().map(|l| l.durable_offset))?;
            pd.set_item("segments", p.log.as_ref().map(|l| l.segments))?;
            pd.set_item("fsyncs", p.log.as_ref().map(|l| l.fsyncs))?;
            parts.append(pd)?;
        }
        d.set_item("partitions", parts)?;
        let readers = PyList::empty(py);
        for r in &s.readers {
            let rd = PyDict::new(py);
            match &r.kind {
                rb::ReaderKind::Group { name, members } => {
                    rd.set_item("group", name)?;
                    rd.set_item("members", members)?;
                }
                _ => rd.set_item("group", py.None())?,
            }
            rd.set_item("delivered", r.delivered)?;
            rd.set_item("dropped", r.dropped)?;
            rd.set_item("lag", r.lag)?;
            readers.append(rd)?;
        }
        d.set_item("readers", readers)?;
        Ok(d)
    }

    /// Closes the topic: publishing fails with ClosedError; readers drain what was published.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __repr__(&self) -> String {
        format!(
            "Topic(name={:?}, partitions={}, durability={:?})",
            self.inner.name(),
            self.inner.partitions(),
            durability_name(&self.inner.config().durability)
        )
    }
}

/// Where one value's bytes are: borrowed from an immutable object (address, length) or copied.
enum Span {
    Borrowed(usize, usize),
    Copied(Vec<u8>),
}

/// Values for `publish_many`: an Arrow binary/string array, or a sequence of bytes-likes.
enum Values<'py> {
    Arrow(arrow::ImportedBinary<'py>),
    /// The objects (kept referenced) and their bytes (None: a None value).
    Objects(Vec<Bound<'py, PyAny>>, Vec<Option<Span>>),
}

impl<'py> Values<'py> {
    fn of(obj: &Bound<'py, PyAny>, what: &str) -> Result<Self> {
        if obj.hasattr("__arrow_c_array__")? {
            return Ok(Values::Arrow(arrow::ImportedBinary::import(obj, what)?));
        }
        if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "{what} must be a sequence of bytes-like values or an Arrow array, not a single {}",
                obj.get_type().name()?
            ))
            .into());
        }
        let items: Vec<Bound<'py, PyAny>> = obj
            .try_iter()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "{what} must be a list (or other iterable) of bytes-like values or an Arrow array"
                ))
            })?
            .collect::<PyResult<_>>()?;
        let mut spans = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if item.is_none() {
                spans.push(None);
                continue;
            }
            let bytes = bytes_or_wrong_type(item, || format!("{what}[{i}]"))?;
            spans.push(Some(match bytes {
                Cow::Borrowed(b) => Span::Borrowed(b.as_ptr() as usize, b.len()),
                Cow::Owned(v) => Span::Copied(v),
            }));
        }
        Ok(Values::Objects(items, spans))
    }

    fn len(&self) -> usize {
        match self {
            Values::Arrow(a) => a.len(),
            Values::Objects(items, _) => items.len(),
        }
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            Values::Arrow(a) => a.get(i),
            Values::Objects(_, spans) => spans[i].as_ref().map(|span| match span {
                Span::Copied(v) => v.as_slice(),
                // SAFETY: the bytes of an immutable bytes or str object in `items`, which
                // stays referenced as long as `self`.
                Span::Borrowed(ptr, len) => unsafe { std::slice::from_raw_parts(*ptr as *const u8, *len) },
            }),
        }
    }
}
