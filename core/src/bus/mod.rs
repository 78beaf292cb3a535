//! The safe API over the rings: bus, topics, publishers, subscriptions, groups, stats.
//!
//! Files here are safe code except where they call the ring's unsafe API (publisher,
//! subscription, group) or the clock; SAFETY.md lists each contract.

pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod group;
pub(crate) mod publisher;
pub(crate) mod record;
pub(crate) mod stats;
pub(crate) mod subscription;
pub(crate) mod topic;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use config::{validate_name, TopicConfig};
use error::Error;
use topic::{Topic, TopicInner};

/// The event bus: owns topics. Cheap to clone (every clone is the same bus), `Send + Sync`.
///
/// `Bus::new()` is in memory only; persisted topics arrive with `Bus::open(dir)`.
#[derive(Debug, Clone, Default)]
pub struct Bus {
    topics: Arc<Mutex<HashMap<String, Topic>>>,
}

impl Bus {
    /// An empty in-memory bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates topic `name`. Allocates and pre-faults `partitions * capacity` bytes of rings.
    ///
    /// Errors: [`Error::InvalidName`], [`Error::InvalidConfig`], [`Error::TopicExists`].
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<Topic, Error> {
        validate_name(name)?;
        config.validate()?;
        let mut topics = self.topics.lock();
        if topics.contains_key(name) {
            return Err(Error::TopicExists(name.to_owned()));
        }
        let topic = Topic { inner: Arc::new(TopicInner::new(name.to_owned(), config)) };
        topics.insert(name.to_owned(), topic.clone());
        Ok(topic)
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

    /// Closes every topic (see [`Topic::close`]): publishing stops, readers drain what was
    /// published and then get [`Error::Closed`]. The topics stay listed.
    pub fn close(&self) {
        for topic in self.topics.lock().values() {
            topic.close();
        }
    }
}
