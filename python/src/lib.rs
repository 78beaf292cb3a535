//! The extension module `ringbus._ringbus`: frozen classes over the Rust core, re-exported by
//! the Python package `ringbus` (see `ringbus/_ringbus.pyi` for the documented API).
//!
//! Conventions:
//! - Blocking waits detach from the interpreter in slices of at most [`SLICE`] and check for
//!   signals between slices, so Ctrl-C ends them and other Python threads run meanwhile.
//! - Calls that do not wait keep the interpreter attached: detaching costs more than they do.
//! - A reader is used by one thread at a time: a second thread gets `RuntimeError` instead of
//!   waiting (waiting for a lock while attached could deadlock with the reader's own wait).
//! - Every core error becomes an exception of `ringbus._errors` in one function, [`err`].

mod arrow;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::atomic::AtomicCell;
use parking_lot::Mutex;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};
use ringbus_core as rb;

use arrow::Columns;

/// The longest a blocking call stays detached before it checks for signals.
const SLICE: Duration = Duration::from_millis(100);

/// Events published per detached call of `publish_many`.
const PUBLISH_CHUNK: usize = 4096;

// ---- errors ----

/// The exception for a core error: one mapping for the whole module.
fn err(py: Python<'_>, e: rb::Error) -> PyErr {
    use rb::Error as E;
    let (class, attrs): (&str, Vec<(&str, Py<PyAny>)>) = match &e {
        E::InvalidName { .. }
        | E::InvalidConfig { .. }
        | E::PayloadTooLarge { .. }
        | E::KeyTooLarge { .. }
        | E::NoSuchPartition { .. } => ("InvalidArgumentError", vec![]),
        E::TopicExists(_) | E::PublisherExists(_) => ("ExistsError", vec![]),
        E::Full => ("FullError", vec![]),
        E::FlushTimeout => ("FlushTimeoutError", vec![]),
        E::JoinPending { .. } => ("OffsetPendingError", vec![]),
        E::Closed => ("ClosedError", vec![]),
        E::OffsetTrimmed { .. } | E::OffsetBeyondEnd { .. } | E::NotAnEventOffset { .. } => ("OffsetError", vec![]),
        E::Lagged { partition, lost } => (
            "LaggedError",
            vec![
                ("partition", partition.into_pyobject(py).map(|o| o.into_any().unbind()).unwrap_or_else(|_| py.None())),
                ("lost", lost.into_pyobject(py).map(|o| o.into_any().unbind()).unwrap_or_else(|_| py.None())),
            ],
        ),
        E::Evicted => ("EvictedError", vec![]),
        E::Locked { .. } => ("LockedError", vec![]),
        E::Io { .. } => ("StorageError", vec![]),
        E::CorruptLog { segment, position, .. } => (
            "CorruptLogError",
            vec![
                ("segment", PyString::new(py, segment).into_any().unbind()),
                ("position", position.into_pyobject(py).map(|o| o.into_any().unbind()).unwrap_or_else(|_| py.None())),
            ],
        ),
        E::Poisoned { .. } => ("PoisonedError", vec![]),
        E::NotPersisted(_) => ("NotPersistedError", vec![]),
        _ => ("RingbusError", vec![]),
    };
    let message = e.to_string();
    let made = (|| -> PyResult<PyErr> {
        let cls = py.import("ringbus._errors")?.getattr(class)?;
        let exc = cls.call1((message.clone(),))?;
        for (name, value) in attrs {
            exc.setattr(name, value)?;
        }
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|import_error| import_error)
}

/// A reader used from two threads at once.
fn busy() -> PyErr {
    PyRuntimeError::new_err("this reader is in use by another thread (use one reader per thread)")
}

/// A reader after `close()`.
fn closed_reader(py: Python<'_>) -> PyErr {
    err(py, rb::Error::Closed)
}

// ---- argument conversion ----

/// The bytes of a payload or key: bytes and str are borrowed; bytearray and other buffers
/// (memoryview, array, numpy) are copied, since they can change while we read them.
fn bytes_of<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    bytes_or_wrong_type(obj, || what.to_owned())
}

/// As [`bytes_of`], naming the argument only when it is wrong (`publish_many` calls this per
/// value).
#[inline]
fn bytes_or_wrong_type<'a>(obj: &'a Bound<'_, PyAny>, what: impl FnOnce() -> String) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Cow::Borrowed(s.to_str()?.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if let Ok(buffer) = PyBuffer::<u8>::get(obj) {
        return Ok(Cow::Owned(buffer.to_vec(obj.py())?));
    }
    Err(PyTypeError::new_err(format!(
        "{} must be bytes, bytearray, memoryview or str, not {}",
        what(),
        obj.get_type().name()?
    )))
}

/// A timeout in seconds: `None` waits without limit; negative or NaN is an error.
fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() || t < 0.0 => {
            Err(PyValueError::new_err(format!("timeout must be >= 0 seconds, not {t}")))
        }
        Some(t) => Ok(Some(Instant::now() + Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX / 4))),
    }
}

/// How long the next slice of a wait may be; `None` once the deadline has passed.
fn next_slice(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(SLICE),
        Some(d) => d.checked_duration_since(Instant::now()).filter(|r| !r.is_zero()).map(|r| r.min(SLICE)),
    }
}

/// Seconds as a duration, for options.
fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    if value.is_nan() || value < 0.0 {
        return Err(PyValueError::new_err(format!("{what} must be >= 0 seconds, not {value}")));
    }
    Duration::try_from_secs_f64(value).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// Nanoseconds since the Unix epoch from an int (ns) or an aware or naive-UTC datetime.
fn timestamp_ns(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("timestamp must be an int (ns since the Unix epoch) or a datetime, not bool"));
    }
    if let Ok(ns) = obj.extract::<i128>() {
        return u64::try_from(ns)
            .map_err(|_| PyValueError::new_err(format!("timestamp must be ns since the Unix epoch (>= 0), not {ns}")));
    }
    let datetime = obj.py().import("datetime")?;
    if obj.is_instance(&datetime.getattr("datetime")?)? {
        // Naive datetimes are taken as UTC (the bus's clock is UTC).
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let aware = if obj.getattr("tzinfo")?.is_none() {
            obj.call_method("replace", (), Some(&[("tzinfo", utc.clone())].into_py_dict(obj.py())?))?
        } else {
            obj.clone()
        };
        let epoch = datetime.getattr("datetime")?.call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
        let delta = aware.call_method1("__sub__", (epoch,))?;
        let days: i64 = delta.getattr("days")?.extract()?;
        let secs: i64 = delta.getattr("seconds")?.extract()?;
        let micros: i64 = delta.getattr("microseconds")?.extract()?;
        let ns = (days as i128 * 86_400 + secs as i128) * 1_000_000_000 + micros as i128 * 1000;
        return u64::try_from(ns).map_err(|_| PyValueError::new_err("timestamp is before the Unix epoch"));
    }
    Err(PyTypeError::new_err(format!(
        "timestamp must be an int (ns since the Unix epoch) or a datetime, not {}",
        obj.get_type().name()?
    )))
}

use pyo3::types::IntoPyDict;

/// Where a reader starts, from `"earliest"`, `"latest"`, `"committed"` (groups), an offset or a
/// datetime.
fn start_of(obj: &Bound<'_, PyAny>, group: bool) -> PyResult<rb::Start> {
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_str()? {
            "earliest" => Ok(rb::Start::Earliest),
            "latest" => Ok(rb::Start::Latest),
            "committed" if group => Ok(rb::Start::Committed),
            other => Err(PyValueError::new_err(format!(
                "start must be 'earliest', 'latest'{}, an offset or a datetime, not '{other}'",
                if group { ", 'committed'" } else { "" }
            ))),
        };
    }
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("start must be a string, an offset (int) or a datetime, not bool"));
    }
    if let Ok(offset) = obj.extract::<i128>() {
        return u64::try_from(offset)
            .map(rb::Start::Offset)
            .map_err(|_| PyValueError::new_err(format!("an offset is >= 0, not {offset}")));
    }
    let datetime = obj.py().import("datetime")?.getattr("datetime")?;
    if obj.is_instance(&datetime)? {
        return Ok(rb::Start::Timestamp(timestamp_ns(obj)?));
    }
    Err(PyTypeError::new_err(format!(
        "start must be a string, an offset (int) or a datetime, not {}",
        obj.get_type().name()?
    )))
}

// ---- topic options ----

/// Topic settings given to `Bus(**options)` (defaults) or `Bus.topic(...)`: keys of the core's
/// configuration table (`rb::CONFIG_KEYS`, the keys and units of topic.conf and the C API)
/// with their values in the table's string form, each checked when given.
#[derive(Debug, Clone, Default)]
struct TopicOptions {
    entries: Vec<(String, String)>,
}

/// Options of earlier releases, in seconds, and the table key each stands for. Still
/// accepted, with a `DeprecationWarning`.
const SECONDS_OPTIONS: [(&str, &str); 3] =
    [("retention_age", "retention_ms"), ("async_max_delay", "async_max_delay_ms"), ("dedup_window", "dedup_window_ms")];

/// Table keys whose values are words rather than numbers.
const WORD_OPTIONS: [&str; 4] = ["durability", "producers", "timestamps", "wait"];

/// Milliseconds as the table writes them: up to six decimals, no trailing zeros.
fn ms_text(ms: f64, key: &str) -> PyResult<String> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(PyValueError::new_err(format!("{key} must be >= 0, not {ms}")));
    }
    let text = format!("{ms:.6}");
    Ok(text.trim_end_matches('0').trim_end_matches('.').to_owned())
}

impl TopicOptions {
    fn from_kwargs(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut o = Self::default();
        let Some(kwargs) = kwargs else { return Ok(o) };
        for (k, v) in kwargs.iter() {
            let key: String = k.extract()?;
            o.give(py, &key, &v)?;
        }
        Ok(o)
    }

    /// Takes option `key` = `value` from Python (None: not given).
    fn give(&mut self, py: Python<'_>, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if value.is_none() {
            return Ok(());
        }
        let type_name = value.get_type().name()?.to_string();
        let type_error =
            |expected: &str| PyTypeError::new_err(format!("option {key} must be {expected}, not {type_name}"));
        let is_bool = value.is_instance_of::<pyo3::types::PyBool>();
        let (name, text) = if let Some((_, table_key)) = SECONDS_OPTIONS.iter().find(|(old, _)| *old == key) {
            let message = format!("option {key} (seconds) is deprecated: use {table_key} (milliseconds)");
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyDeprecationWarning>(),
                &std::ffi::CString::new(message)?,
                1,
            )?;
            if is_bool {
                return Err(type_error("a number of seconds"));
            }
            let seconds: f64 = value.extract().map_err(|_| type_error("a number of seconds"))?;
            (*table_key, ms_text(seconds * 1000.0, key)?)
        } else if let Some(entry) = rb::config_key(key) {
            let text = if WORD_OPTIONS.contains(&entry.name) {
                value.extract::<String>().map_err(|_| type_error("a str"))?
            } else if is_bool {
                return Err(type_error("an int"));
            } else if let Ok(n) = value.extract::<i128>() {
                n.to_string()
            } else if entry.name.ends_with("_ms") {
                let ms: f64 = value.extract().map_err(|_| type_error("a number"))?;
                ms_text(ms, key)?
            } else {
                return Err(type_error("an int"));
            };
            (entry.name, text)
        } else {
            let mut known: Vec<&str> = rb::CONFIG_KEYS.iter().map(|k| k.name).collect();
            known.extend(SECONDS_OPTIONS.iter().map(|(old, _)| *old));
            return Err(PyTypeError::new_err(format!("unknown option '{key}'; the options are {}", known.join(", "))));
        };
        // The value's form now (ranges when the topic is created).
        if let Err(rb::Error::InvalidConfig { reason, .. }) = rb::TopicConfig::new().set(name, &text) {
            let values = rb::config_key(name).map_or("", |k| k.values);
            return Err(PyValueError::new_err(format!("{name} must be {values}, not '{text}' ({reason})")));
        }
        self.set(name, text);
        Ok(())
    }

    fn set(&mut self, key: &str, value: String) {
        self.entries.retain(|(k, _)| k != key);
        self.entries.push((key.to_owned(), value));
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// These options over `defaults`.
    fn over(&self, defaults: &TopicOptions) -> TopicOptions {
        let mut o = defaults.clone();
        for (k, v) in &self.entries {
            o.set(k, v.clone());
        }
        o
    }

    fn config(&self, py: Python<'_>) -> PyResult<rb::TopicConfig> {
        let mut c = rb::TopicConfig::new();
        c.set_all(&self.entries).map_err(|e| err(py, e))?;
        Ok(c)
    }
}

fn durability_name(d: &rb::Durability) -> &'static str {
    match d {
        rb::Durability::Memory => "memory",
        rb::Durability::Async { .. } => "async",
        rb::Durability::Sync => "sync",
        _ => "other",
    }
}

// ---- Bus ----

/// An event bus: in memory, or persisted in a data directory.
#[pyclass(frozen, module = "ringbus")]
struct Bus {
    /// None once closed: dropping the core bus releases the data directory's lock, so the
    /// directory can be opened again while this object lives on.
    inner: Mutex<Option<rb::Bus>>,
    path: Option<PathBuf>,
    defaults: TopicOptions,
}

impl Bus {
    /// The core bus (a cheap clone); ClosedError after `close`.
    fn core(&self, py: Python<'_>) -> PyResult<rb::Bus> {
        self.inner.lock().clone().ok_or_else(|| err(py, rb::Error::Closed))
    }
}

#[pymethods]
impl Bus {
    #[new]
    #[pyo3(signature = (path=None, **options))]
    fn new(py: Python<'_>, path: Option<PathBuf>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let defaults = TopicOptions::from_kwargs(py, options)?;
        let inner = match &path {
            None => rb::Bus::new(),
            Some(path) => py.detach(|| rb::Bus::open(path)).map_err(|e| err(py, e))?,
        };
        let path = inner.data_dir().map(|p| p.to_path_buf());
        Ok(Self { inner: Mutex::new(Some(inner)), path, defaults })
    }

    /// The topic `name`: opened if it exists, created with the options (over the bus's
    /// defaults) otherwise.
    #[pyo3(signature = (name, partitions=None, durability=None, **options))]
    fn topic(
        &self,
        py: Python<'_>,
        name: &str,
        partitions: Option<u32>,
        durability: Option<String>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Topic> {
        let mut given = TopicOptions::from_kwargs(py, options)?;
        if let Some(p) = partitions {
            given.give(py, "partitions", &p.into_pyobject(py)?.into_any())?;
        }
        if let Some(d) = durability {
            given.give(py, "durability", &d.into_pyobject(py)?.into_any())?;
        }
        let bus = self.core(py)?;
        if let Some(existing) = bus.topic(name) {
            let config = existing.config();
            if let Some(p) = given.get("partitions") {
                if p != config.partitions.to_string() {
                    return Err(err(
                        py,
                        rb::Error::InvalidConfig {
                            field: "partitions",
                            reason: format!("topic '{name}' exists with {} partitions, not {p}", config.partitions),
                        },
                    ));
                }
            }
            if let Some(d) = given.get("durability") {
                if d != durability_name(&config.durability) {
                    return Err(err(
                        py,
                        rb::Error::InvalidConfig {
                            field: "durability",
                            reason: format!(
                                "topic '{name}' exists with {} durability, not {d}",
                                durability_name(&config.durability)
                            ),
                        },
                    ));
                }
            }
            return Ok(Topic::new(existing));
        }
        let config = given.over(&self.defaults).config(py)?;
        match py.detach(|| bus.create_topic(name, config)) {
            Ok(topic) => Ok(Topic::new(topic)),
            // Created by another thread meanwhile: open it.
            Err(rb::Error::TopicExists(_)) if bus.topic(name).is_some() => {
                Ok(Topic::new(bus.topic(name).expect("checked")))
            }
            Err(e) => Err(err(py, e)),
        }
    }

    /// Names of the bus's topics, sorted (none once closed).
    fn topics(&self) -> Vec<String> {
        let mut names = self.inner.lock().as_ref().map(|b| b.topic_names()).unwrap_or_default();
        names.sort();
        names
    }

    /// The data directory, or None in memory.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// Closes every topic: publishing fails, readers drain, persisted topics are written and
    /// fsynced, and the data directory is released. Idempotent.
    fn close(&self, py: Python<'_>) {
        let bus = self.inner.lock().take();
        if let Some(bus) = bus {
            py.detach(move || {
                bus.close();
                drop(bus);
            });
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let topics = self.topics().len();
        let closed = if self.inner.lock().is_none() { ", closed" } else { "" };
        match &self.path {
            Some(p) => format!("Bus(path={:?}, topics={topics}{closed})", p.display().to_string()),
            None => format!("Bus(path=None, topics={topics}{closed})"),
        }
    }
}

// ---- Topic ----

/// A topic: publish to it, subscribe to it, join its groups. Any thread.
#[pyclass(frozen, module = "ringbus")]
struct Topic {
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
    fn new(inner: rb::Topic) -> Self {
        let sync = inner.config().durability == rb::Durability::Sync;
        Self { inner, publishers: Publishers::default(), sync }
    }

    fn publisher(&self, py: Python<'_>) -> PyResult<Box<rb::Publisher>> {
        match self.publishers.take() {
            Some(p) => Ok(p),
            None => self.inner.publisher().map(Box::new).map_err(|e| err(py, e)),
        }
    }

    /// One record: without waiting if it fits (and the topic is not `sync`), else detached.
    fn publish_record(
        &self,
        py: Python<'_>,
        p: &mut rb::Publisher,
        record: rb::Record<'_>,
        deadline: Option<Instant>,
    ) -> PyResult<u64> {
        if self.sync {
            // Acknowledged once fsynced: always a wait. A timeout here can come after the
            // event was written, so it is not retried.
            let r = match deadline {
                None => py.detach(|| p.publish(record)),
                Some(d) => py.detach(|| p.publish_timeout(record, d.saturating_duration_since(Instant::now()))),
            };
            return r.map(|r| r.offset).map_err(|e| err(py, e));
        }
        match p.try_publish(record) {
            Ok(r) => return Ok(r.offset),
            Err(rb::TryPublishError::Full(_)) => {}
            Err(e) => return Err(err(py, e.into_error())),
        }
        // Full: wait in slices (a timed-out publish wrote nothing, so it can be retried).
        loop {
            let Some(slice) = next_slice(deadline) else { return Err(err(py, rb::Error::Full)) };
            match py.detach(|| p.publish_timeout(record, slice)) {
                Ok(r) => return Ok(r.offset),
                Err(rb::Error::Full) => py.check_signals()?,
                Err(e) => return Err(err(py, e)),
            }
        }
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
    ) -> PyResult<u64> {
        if key.is_none() && timestamp.is_none() && timeout.is_none() && !self.sync {
            if let Ok(bytes) = payload.cast_exact::<PyBytes>() {
                if let Some(offset) = self.publishers.try_publish_spare(bytes.as_bytes()) {
                    return Ok(offset);
                }
            }
        }
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
        let mut p = self.publisher(py)?;
        let result = self.publish_record(py, &mut p, record, deadline);
        self.publishers.give_back(p);
        result
    }

    /// Publishes many events in order, in one call; returns how many.
    #[pyo3(signature = (payloads, keys=None, *, timeout=None))]
    fn publish_many(
        &self,
        py: Python<'_>,
        payloads: &Bound<'_, PyAny>,
        keys: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let deadline = deadline(timeout)?;
        let payloads = Values::of(payloads, "payloads")?;
        let keys = keys.map(|k| Values::of(k, "keys")).transpose()?;
        if let Some(k) = &keys {
            if k.len() != payloads.len() {
                return Err(PyValueError::new_err(format!(
                    "keys has {} values but payloads has {}",
                    k.len(),
                    payloads.len()
                )));
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
        let mut p = self.publisher(py)?;
        let mut result = Ok(records.len());
        for chunk in records.chunks(PUBLISH_CHUNK) {
            // The slices stay valid while detached: bytes and str are immutable and referenced
            // by `payloads`/`keys`; other buffers were copied.
            let r = match deadline {
                None => py.detach(|| p.publish_batch(chunk)),
                Some(d) => py.detach(|| p.publish_batch_timeout(chunk, d.saturating_duration_since(Instant::now()))),
            };
            if let Err(e) = r {
                result = Err(err(py, e));
                break;
            }
            if let Err(e) = py.check_signals() {
                result = Err(e);
                break;
            }
        }
        self.publishers.give_back(p);
        result
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
    ) -> PyResult<Py<Subscription>> {
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
                )))
            }
        };
        let mut options = rb::SubscribeOptions::new().start(start).policy(policy);
        if let Some(parts) = partitions {
            options = options.partitions(parts);
        }
        let sub = py.detach(|| self.inner.subscribe(options)).map_err(|e| err(py, e))?;
        let readiness = sub.readiness();
        let reader =
            Reader { state: Mutex::new(Some(Kind::Fanout(sub))), readiness, topic: self.inner.name().to_owned() };
        Py::new(py, PyClassInitializer::from(reader).add_subclass(Subscription))
    }

    /// Joins work-queue group `name` (created at `start` if new): each event goes to one
    /// member. `start` defaults to "committed" on persisted topics, "earliest" in memory.
    #[pyo3(signature = (name, start=None))]
    fn group(&self, py: Python<'_>, name: &str, start: Option<&Bound<'_, PyAny>>) -> PyResult<Py<Member>> {
        let start = match start {
            Some(s) => start_of(s, true)?,
            None if self.inner.config().durability.is_persisted() => rb::Start::Committed,
            None => rb::Start::Earliest,
        };
        let group = py.detach(|| self.inner.group(name, start)).map_err(|e| err(py, e))?;
        let member = group.join();
        let readiness = member.readiness();
        let reader =
            Reader { state: Mutex::new(Some(Kind::Member(member))), readiness, topic: self.inner.name().to_owned() };
        Py::new(py, PyClassInitializer::from(reader).add_subclass(Member { group }))
    }

    /// Waits until everything published so far is durable (memory topics: at once). Returns
    /// False if `timeout` passed first.
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = deadline(timeout)?;
        loop {
            let slice = next_slice(deadline);
            match py.detach(|| self.inner.flush(Some(slice.unwrap_or(Duration::ZERO)))) {
                Ok(()) => return Ok(true),
                Err(rb::Error::FlushTimeout) if slice.is_none() => return Ok(false),
                Err(rb::Error::FlushTimeout) => py.check_signals()?,
                Err(e) => return Err(err(py, e)),
            }
        }
    }

    /// Counters: published, full_waits, duplicates, io_backend, per-partition offsets and
    /// per-reader delivered/lag.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
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
    fn of(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if obj.hasattr("__arrow_c_array__")? {
            return Ok(Values::Arrow(arrow::ImportedBinary::import(obj, what)?));
        }
        if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "{what} must be a sequence of bytes-like values or an Arrow array, not a single {}",
                obj.get_type().name()?
            )));
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

// ---- readers ----

enum Kind {
    Fanout(rb::Subscription),
    Member(rb::Member),
}

impl Kind {
    fn try_poll(&mut self) -> Result<Option<rb::EventRef<'_>>, rb::Error> {
        match self {
            Kind::Fanout(s) => s.try_poll(),
            Kind::Member(m) => m.try_poll(),
        }
    }

    fn poll_batch(
        &mut self,
        max: usize,
        timeout: Duration,
        f: impl FnMut(rb::EventRef<'_>),
    ) -> Result<usize, rb::Error> {
        match self {
            Kind::Fanout(s) => s.poll_batch(max, Some(timeout), f),
            Kind::Member(m) => m.poll_batch(max, Some(timeout), f),
        }
    }
}

/// What subscriptions and group members share: polling, iteration, async iteration.
#[pyclass(frozen, subclass, module = "ringbus")]
struct Reader {
    state: Mutex<Option<Kind>>,
    readiness: rb::Readiness,
    topic: String,
}

impl Reader {
    /// Runs `f` on the core reader, which must not be in use by another thread.
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&mut Kind) -> PyResult<T>) -> PyResult<T> {
        let mut guard = self.state.try_lock().ok_or_else(busy)?;
        let kind = guard.as_mut().ok_or_else(|| closed_reader(py))?;
        f(kind)
    }
}

#[pymethods]
impl Reader {
    /// The next event, waiting up to `timeout` seconds (None: until one comes). None when the
    /// timeout passed. ClosedError once the topic is closed and drained.
    #[pyo3(signature = (timeout=None))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Event>> {
        let deadline = deadline(timeout)?;
        loop {
            let found = self.with(py, |kind| match kind.try_poll() {
                Ok(Some(e)) => Ok(Some(Event::from_ref(py, &e))),
                Ok(None) => Ok(None),
                Err(e) => Err(err(py, e)),
            })?;
            if found.is_some() {
                return Ok(found);
            }
            let Some(slice) = next_slice(deadline) else { return Ok(None) };
            py.detach(|| self.readiness.wait(Some(slice)));
            py.check_signals()?;
        }
    }

    /// Up to `max_events` events, waiting up to `timeout` seconds (None: no limit) for the
    /// first; an empty batch when the timeout passed.
    #[pyo3(signature = (max_events=4096, timeout=None))]
    fn poll_batch(&self, py: Python<'_>, max_events: usize, timeout: Option<f64>) -> PyResult<EventBatch> {
        if max_events == 0 {
            return Err(PyValueError::new_err("max_events must be at least 1"));
        }
        let deadline = deadline(timeout)?;
        let mut columns = Columns::with_capacity(max_events.min(1 << 16));
        loop {
            let slice = next_slice(deadline).unwrap_or(Duration::ZERO);
            let polled = py.detach(|| {
                let mut guard = self.state.try_lock().ok_or(Fail::Busy)?;
                let kind = guard.as_mut().ok_or(Fail::Core(rb::Error::Closed))?;
                kind.poll_batch(max_events, slice, |e| columns.push(&e)).map_err(Fail::Core)
            });
            match polled {
                Ok(n) if n > 0 => break,
                Ok(_) => {}
                Err(Fail::Busy) => return Err(busy()),
                Err(Fail::Core(e)) => return Err(err(py, e)),
            }
            if slice.is_zero() {
                break;
            }
            py.check_signals()?;
        }
        Ok(EventBatch { columns: Arc::new(columns) })
    }

    /// Waits up to `timeout` seconds until the reader may have something to read; whether it
    /// may. Used by the asyncio helpers; it takes no event.
    fn _wait_ready(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let deadline = deadline(Some(timeout))?;
        loop {
            let Some(slice) = next_slice(deadline) else { return Ok(self.readiness.is_ready()) };
            if py.detach(|| self.readiness.wait(Some(slice))) {
                return Ok(true);
            }
            py.check_signals()?;
        }
    }

    /// Awaitable `poll`: waits on a worker thread without taking events there.
    #[pyo3(signature = (timeout=None))]
    fn poll_async<'py>(slf: &Bound<'py, Self>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._aio")?.getattr("poll")?.call1((slf, timeout))
    }

    /// Awaitable `poll_batch`.
    #[pyo3(signature = (max_events=4096, timeout=None))]
    fn poll_batch_async<'py>(
        slf: &Bound<'py, Self>,
        max_events: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._aio")?.getattr("poll_batch")?.call1((slf, max_events, timeout))
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Event> {
        match self.poll(py, None) {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(PyStopIteration::new_err(())),
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => Err(e),
            Err(e) => {
                let closed = py.import("ringbus._errors")?.getattr("ClosedError")?;
                if e.is_instance(py, &closed) {
                    Err(PyStopIteration::new_err(()))
                } else {
                    Err(e)
                }
            }
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        // The helper raises StopAsyncIteration once the topic is closed and drained.
        slf.py().import("ringbus._aio")?.getattr("anext")?.call1((slf,))
    }

    /// Leaves the topic: a member's unprocessed events go to the other members. Later polls
    /// raise ClosedError. Idempotent.
    fn close(&self) -> PyResult<()> {
        let mut guard = self.state.try_lock().ok_or_else(busy)?;
        guard.take();
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    /// The topic's name.
    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }
}

/// Why a detached poll failed (errors become exceptions once attached again).
enum Fail {
    Busy,
    Core(rb::Error),
}

/// A fanout subscription (`Topic.subscribe`).
#[pyclass(frozen, extends = Reader, module = "ringbus")]
struct Subscription;

#[pymethods]
impl Subscription {
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("Subscription(topic={:?})", slf.as_super().get().topic)
    }
}

/// A member of a work-queue group (`Topic.group`).
#[pyclass(frozen, extends = Reader, module = "ringbus")]
struct Member {
    group: rb::Group,
}

#[pymethods]
impl Member {
    /// Commits for the group: every event this member was handed counts as processed; the
    /// group's offsets are written and fsynced. Returns them, one per partition.
    /// NotPersistedError on an in-memory topic; ClosedError once the bus is closed.
    fn commit(slf: &Bound<'_, Self>) -> PyResult<Vec<u64>> {
        let py = slf.py();
        let reader = slf.as_super().get();
        let mut guard = reader.state.try_lock().ok_or_else(busy)?;
        let kind = guard.as_mut().ok_or_else(|| closed_reader(py))?;
        let Kind::Member(m) = kind else { unreachable!("a Member holds a group member") };
        py.detach(|| m.commit()).map_err(|e| err(py, e))
    }

    /// The group's name.
    #[getter]
    fn group(&self) -> &str {
        self.group.name()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("Member(topic={:?}, group={:?})", slf.as_super().get().topic, slf.get().group.name())
    }
}

// ---- events ----

/// One event, its payload and key copied out of the bus once.
#[pyclass(frozen, module = "ringbus")]
struct Event {
    #[pyo3(get)]
    offset: u64,
    #[pyo3(get)]
    partition: u32,
    /// ns since the Unix epoch.
    #[pyo3(get)]
    timestamp: u64,
    #[pyo3(get)]
    key: Option<Py<PyBytes>>,
    #[pyo3(get)]
    payload: Py<PyBytes>,
}

impl Event {
    fn from_ref(py: Python<'_>, e: &rb::EventRef<'_>) -> Self {
        Self {
            offset: e.offset,
            partition: e.partition,
            timestamp: e.timestamp,
            key: e.key.map(|k| PyBytes::new(py, k).unbind()),
            payload: PyBytes::new(py, e.payload).unbind(),
        }
    }
}

#[pymethods]
impl Event {
    /// The timestamp as an aware UTC datetime (microsecond precision).
    #[getter]
    fn datetime<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dt = py.import("datetime")?;
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let epoch = dt.getattr("datetime")?.call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
        let kwargs = [("microseconds", self.timestamp / 1000)].into_py_dict(py)?;
        let delta = dt.getattr("timedelta")?.call((), Some(&kwargs))?;
        epoch.call_method1("__add__", (delta,))
    }

    /// A memoryview of the payload, without copying it.
    fn view<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        PyMemoryView::from(self.payload.bind(py).as_any())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let key = match &self.key {
            Some(k) => k.bind(py).repr()?.to_string(),
            None => "None".into(),
        };
        Ok(format!(
            "Event(offset={}, partition={}, timestamp={}, key={key}, payload=<{} bytes>)",
            self.offset,
            self.partition,
            self.timestamp,
            self.payload.bind(py).as_bytes().len()
        ))
    }
}

/// Events polled together, held in Arrow layout: export them to pyarrow, polars or pandas
/// without another copy, or read them one by one.
#[pyclass(frozen, sequence, module = "ringbus")]
struct EventBatch {
    columns: Arc<Columns>,
}

#[pymethods]
impl EventBatch {
    fn __len__(&self) -> usize {
        self.columns.len
    }

    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Event> {
        let len = self.columns.len as isize;
        let i = if index < 0 { index + len } else { index };
        if i < 0 || i >= len {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "index {index} out of range for a batch of {len} events"
            )));
        }
        Ok(event_at(py, &self.columns, i as usize))
    }

    fn __iter__(&self) -> BatchIter {
        BatchIter { columns: self.columns.clone(), next: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// The events as dicts: offset, partition, timestamp (ns), key (bytes or None), payload.
    fn to_pylist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let c = &self.columns;
        for i in 0..c.len {
            let d = PyDict::new(py);
            d.set_item("offset", c.offsets[i])?;
            d.set_item("partition", c.partitions[i])?;
            d.set_item("timestamp", c.timestamps[i])?;
            d.set_item("key", c.key(i).map(|k| PyBytes::new(py, k)))?;
            d.set_item("payload", PyBytes::new(py, c.payload(i)))?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// A pandas DataFrame (through pyarrow when installed, so timestamps are datetimes).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._convert")?.getattr("to_pandas")?.call1((slf,))
    }

    /// A polars DataFrame.
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._convert")?.getattr("to_polars")?.call1((slf,))
    }

    /// The Arrow schema of the batch (PyCapsule interface).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(arrow::capsule(py, arrow::export_schema(), c"arrow_schema")?.into_any())
    }

    /// The batch as an Arrow struct array (PyCapsule interface); `requested_schema` is
    /// ignored: the batch has one layout.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let schema = arrow::capsule(py, arrow::export_schema(), c"arrow_schema")?;
        let array = arrow::capsule(py, arrow::export_array(&self.columns), c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    /// The batch as an Arrow stream of one record batch (PyCapsule interface).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = requested_schema;
        Ok(arrow::capsule(py, arrow::export_stream(&self.columns), c"arrow_array_stream")?.into_any())
    }

    fn __repr__(&self) -> String {
        format!("EventBatch(events={}, payload_bytes={})", self.columns.len, self.columns.payload_data.len())
    }
}

/// Iterates over a batch's events.
#[pyclass(frozen, module = "ringbus")]
struct BatchIter {
    columns: Arc<Columns>,
    next: std::sync::atomic::AtomicUsize,
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> Option<Event> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (i < self.columns.len).then(|| event_at(py, &self.columns, i))
    }
}

fn event_at(py: Python<'_>, c: &Columns, i: usize) -> Event {
    Event {
        offset: c.offsets[i],
        partition: c.partitions[i],
        timestamp: c.timestamps[i] as u64,
        key: c.key(i).map(|k| PyBytes::new(py, k).unbind()),
        payload: PyBytes::new(py, c.payload(i)).unbind(),
    }
}

/// Does nothing: the benchmarks' measure of a bare call into the extension.
#[pyfunction]
fn _noop() {}

/// A bare call with `Topic.publish`'s shape, for the benchmarks: a method of a frozen class
/// that takes a payload and returns a new int (the payload's address), doing nothing else.
#[pyclass(frozen, module = "ringbus._ringbus")]
struct _BareCall;

#[pymethods]
impl _BareCall {
    #[new]
    fn new() -> Self {
        Self
    }

    /// Returns `payload`'s address.
    fn call(&self, payload: &Bound<'_, PyAny>) -> usize {
        payload.as_ptr() as usize
    }
}

/// The extension module.
#[pymodule]
fn _ringbus(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Bus>()?;
    m.add_class::<Topic>()?;
    m.add_class::<Reader>()?;
    m.add_class::<Subscription>()?;
    m.add_class::<Member>()?;
    m.add_class::<Event>()?;
    m.add_class::<EventBatch>()?;
    m.add_function(wrap_pyfunction!(_noop, m)?)?;
    m.add_class::<_BareCall>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
