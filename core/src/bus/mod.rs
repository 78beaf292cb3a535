//! The safe API over the rings: bus, topics, publishers, subscriptions, groups, stats.
//!
//! - `mod.rs`: [`Bus`], which owns topics and the data directory;
//! - `topic.rs`: [`Topic`] and the state its handles share; `persisted.rs` builds a
//!   persisted topic from recovery and starts its persister; `dedup.rs`: idempotent publish;
//! - `record.rs`, `publisher.rs`, `claim.rs`: what producers hand in and how it is appended
//!   (copied in, or written in place through a claim);
//! - `event.rs`: events as readers see them;
//! - `reader.rs`: what every reader shares (joins, the disk-to-ring switch, the poll loop);
//!   `subscription.rs` (fanout), `group.rs` and `member.rs` (work queue) build on it;
//!   `readiness.rs`: waiting on a reader from another thread;
//! - `asynchronous.rs`: the async API (readers, publishers and tickets wait as tasks);
//! - `ticket.rs`: durability tickets (publish now, learn of the fsync later);
//! - `stats.rs`: counters and their snapshots; `metrics.rs`: all of them as OpenMetrics text.
//!
//! Files here are safe code except where they call the ring's unsafe API (publisher,
//! claim, subscription, member); SAFETY.md lists each contract.

pub(crate) mod asynchronous;
pub(crate) mod claim;
pub(crate) mod dedup;
pub(crate) mod event;
pub(crate) mod group;
pub(crate) mod member;
pub(crate) mod metrics;
pub(crate) mod persisted;
pub(crate) mod publisher;
pub(crate) mod reader;
pub(crate) mod readiness;
pub(crate) mod record;
pub(crate) mod stats;
pub(crate) mod subscription;
pub(crate) mod ticket;
pub(crate) mod topic;

use std::collections::HashMap;
use std::path::Path;

use topic::{Topic, TopicInner};

use crate::config::{validate_name, TopicConfig};
use crate::error::Error;
use crate::log::conf::{read_topic_conf, write_topic_conf};
use crate::log::dir::{create_new_dir, sync_dir, DataDir, TOPIC_CONF};
use crate::log::io::{self, IoChoice};
use crate::sync::{thread::JoinHandle, Arc, Mutex};

/// The event bus: owns topics. Cheap to clone (every clone is the same bus), `Send + Sync`.
///
/// `Bus::new()` is in memory only. [`Bus::open`] opens a data directory: it restores every
/// persisted topic found there and can create persisted topics (`Durability::Async` or
/// `Sync`). When the last clone of an opened bus is dropped (or [`Bus::close`] is called), its
/// persisted topics are closed and their persisters write and fsync everything published.
#[derive(Debug, Clone, Default)]
pub struct Bus {
    topics: Arc<Mutex<HashMap<String, Topic>>>,
    data: Option<Arc<BusData>>,
}

/// An opened data directory and the persisters of its topics.
#[derive(Debug)]
struct BusData {
    dir: DataDir,
    io: IoChoice,
    /// Persisted topics and their persister threads.
    persisted: Mutex<Vec<Persisted>>,
}

/// A persisted topic and its persister thread (taken when joined).
type Persisted = (Arc<TopicInner>, Option<JoinHandle<()>>);

impl BusData {
    /// Closes every persisted topic, waits for its persister to finish and marks its files
    /// released (handles that outlive the bus can no longer commit).
    fn shut_down(&self) {
        let mut persisted = self.persisted.lock();
        for (topic, handle) in persisted.iter_mut() {
            topic.close();
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
            *topic.released.write() = true;
        }
    }
}

impl Drop for BusData {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl Bus {
    /// An empty in-memory bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the data directory `dir` (creating it if missing), locks it against other buses,
    /// and restores every topic persisted there: its partitions, configuration and next
    /// offsets. Each partition's log is checked on the way (see FORMAT.md: recovery): a torn
    /// tail left by a crash is cut off; damage before the durable point is an error.
    ///
    /// The persister writes with io_uring, or with `pwrite`/`fdatasync` where io_uring is
    /// unavailable or `RINGBUS_IO=std` is set; [`Bus::io_backend`] says which.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("ringbus-doc-open-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// use ringbus::{Bus, Durability, Record, TopicConfig};
    ///
    /// let bus = Bus::open(&dir)?;
    /// let config = TopicConfig::new().capacity(1 << 20).max_payload(1024).durability(Durability::Sync);
    /// let orders = bus.create_topic("orders", config)?;
    /// orders.publisher()?.publish(Record::new(b"OrderPlaced"))?; // returns once fsynced
    /// drop(bus); // closes the topics, releases the directory
    ///
    /// let again = Bus::open(&dir)?; // restores the topic; the next offset follows the first event
    /// assert_eq!(again.topic("orders").unwrap().stats().partitions[0].next_offset, 40);
    /// # drop(again);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), ringbus::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Locked`] (another bus has the directory open), [`Error::Io`],
    /// [`Error::CorruptLog`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let data_dir = DataDir::open(dir)?;
        let io = io::choose().map_err(|e| Error::io("choosing the I/O backend", &e))?;
        match &io.reason {
            Some(reason) if io.fell_back() => {
                crate::diag::warn!("{}: persisters write with pwrite/fdatasync, not io_uring ({reason})", dir.display())
            }
            Some(reason) => crate::diag::info!("{}: persisters write with {} ({reason})", dir.display(), io.backend),
            None => crate::diag::info!("{}: persisters write with {}", dir.display(), io.backend),
        }
        let data = Arc::new(BusData { dir: data_dir, io, persisted: Mutex::new(Vec::new()) });
        let bus = Self { topics: Arc::default(), data: Some(data.clone()) };
        for name in data.dir.topic_names()? {
            let config = read_topic_conf(&data.dir.path.join(&name))?;
            bus.start_persisted(&data, &name, config)?;
        }
        Ok(bus)
    }

    /// The data directory, for a bus made by [`Bus::open`].
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_ref().map(|d| d.dir.path.as_path())
    }

    /// The persisters' I/O backend and why it was chosen, for a bus made by [`Bus::open`].
    pub fn io_backend(&self) -> Option<IoChoice> {
        self.data.as_ref().map(|d| d.io.clone())
    }

    fn start_persisted(&self, data: &BusData, name: &str, config: TopicConfig) -> Result<Topic, Error> {
        let (inner, handle) = persisted::open_topic(&data.dir.path, name, config, &data.io)?;
        data.persisted.lock().push((inner.clone(), Some(handle)));
        let topic = Topic { inner };
        self.topics.lock().insert(name.to_owned(), topic.clone());
        Ok(topic)
    }

    /// Creates topic `name`. Allocates and pre-faults `partitions * capacity` bytes of rings.
    /// A persisted topic (`Durability::Async` or `Sync`) also gets its directory, configuration
    /// file and first segments, and a persister thread.
    ///
    /// Errors: [`Error::InvalidName`], [`Error::InvalidConfig`], [`Error::TopicExists`],
    /// [`Error::NotPersisted`] (a persisted topic on a bus made by `Bus::new`), [`Error::Io`].
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Topic, Error> {
        validate_name(name)?;
        config.validate()?;
        if !config.durability.is_persisted() {
            let mut topics = self.topics.lock();
            if topics.contains_key(name) {
                return Err(Error::TopicExists(name.to_owned()));
            }
            let topic = Topic { inner: Arc::new(TopicInner::new(name.to_owned(), config)) };
            topics.insert(name.to_owned(), topic.clone());
            if let Some(data) = &self.data {
                data.dir.note_memory_topic(name);
            }
            return Ok(topic);
        }
        let Some(data) = &self.data else {
            return Err(Error::NotPersisted(format!(
                "topic {name:?} with {:?} durability (open the bus with Bus::open(dir))",
                config.durability
            )));
        };
        // Holding the map's lock keeps two creators of one name apart.
        let topics = self.topics.lock();
        let topic_dir = data.dir.path.join(name);
        if topics.contains_key(name) {
            return Err(Error::TopicExists(name.to_owned()));
        }
        if topic_dir.exists() {
            // A creation that a crash interrupted before its topic.conf was in place left at
            // most an empty directory and a temporary file: nothing was acknowledged in it.
            if !interrupted_creation(&topic_dir) {
                return Err(Error::TopicExists(name.to_owned()));
            }
        } else {
            create_new_dir(&topic_dir)?;
        }
        write_topic_conf(&topic_dir, &config)?;
        sync_dir(&data.dir.path)?;
        drop(topics);
        self.start_persisted(data, name, config)
    }

    /// The topic called `name`, if it exists.
    pub fn topic(&self, name: &str) -> Option<Topic> {
        self.topics.lock().get(name).cloned()
    }

    /// Names of all topics, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.topics.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// Every bus, topic, partition and reader counter in the OpenMetrics text format (what
    /// Prometheus scrapes; serve it as `application/openmetrics-text; version=1.0.0;
    /// charset=utf-8`), ending with `# EOF`. Metric names and labels (`topic`, `partition`,
    /// `reader`, `group`) are stable; the README lists them. Takes the same snapshot as
    /// [`Topic::stats`] for each topic, sorted by name (a lag in events is counted by walking
    /// the reader's unread frames); publishers and readers are never stopped or slowed.
    pub fn metrics(&self) -> String {
        let topics: Vec<Topic> = {
            let topics = self.topics.lock();
            let mut names: Vec<_> = topics.keys().collect();
            names.sort();
            names.into_iter().map(|n| topics[n].clone()).collect()
        };
        metrics::render(topics.iter().map(metrics::TopicSnapshot::of).collect(), true)
    }

    /// Closes every topic (see [`Topic::close`]): publishing stops, readers drain what was
    /// published and then get [`Error::Closed`]. The topics stay listed. On an opened bus this
    /// also waits until the persisters have written and fsynced everything published.
    pub fn close(&self) {
        for topic in self.topics.lock().values() {
            topic.close();
        }
        if let Some(data) = &self.data {
            data.shut_down();
        }
    }
}

/// Whether `topic_dir` holds nothing but what an interrupted topic creation leaves: no
/// `topic.conf`, at most its temporary file.
fn interrupted_creation(topic_dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(topic_dir) else { return false };
    let conf_tmp = format!("{TOPIC_CONF}.tmp");
    entries.flatten().all(|e| e.file_name().to_str() == Some(conf_tmp.as_str()))
}
