//! Followers: readers of a data directory that another process owns.
//!
//! A [`Follower`] reads the owner's segment files and nothing else the owner holds: it takes
//! no lock the owner needs, writes nothing the owner reads, and never holds the owner back
//! (retention may delete what a follower has not read: it then gets
//! [`Error::OffsetTrimmed`]). It opens every file read-only and follows no symbolic link.
//! Named followers ([`FollowOptions::name`]) and follower groups ([`Follower::join_group`])
//! keep their own offsets and lock files under `DIR/<topic>/followers/`, which needs write
//! access to the topic directory; an anonymous follower needs only read access (FORMAT.md:
//! followers).
//!
//! - `walker.rs`: one partition's segment files, frame by frame, as the owner writes them
//! - `watch.rs`: inotify, so an idle follower sleeps and a busy one wakes at once
//! - `subscription.rs`: [`FollowerSubscription`], every event of the chosen partitions
//! - `group.rs`: [`FollowerMember`], a group of follower processes sharing the partitions

pub(crate) mod group;
pub(crate) mod subscription;
pub(crate) mod walker;
pub(crate) mod watch;

use std::path::{Path, PathBuf};

use crate::config::{validate_name, Start, TopicConfig};
use crate::error::Error;
use crate::log::dir::{lock_holder, topic_names, TOPIC_CONF};
use group::FollowerMember;
use subscription::FollowerSubscription;
pub use walker::Visibility;

/// A read-only view of a data directory that another process (the owner, a
/// [`Bus::open`](crate::Bus::open)) may have open, now or later.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("ringbus-doc-follow-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// use std::time::Duration;
/// use ringbus::{Bus, Durability, FollowOptions, Follower, Record, Start, TopicConfig};
///
/// // The owner: usually another process.
/// let bus = Bus::open(&dir)?;
/// let config = TopicConfig::new().capacity(1 << 20).max_payload(1024).durability(Durability::Sync);
/// bus.create_topic("readings", config)?.publisher()?.publish(Record::new(b"21.5"))?;
///
/// // A follower: needs no lock, holds nothing back.
/// let follower = Follower::open(&dir)?;
/// assert_eq!(follower.topic_names()?, ["readings"]);
/// let mut sub = follower.subscribe("readings", FollowOptions::new().start(Start::Earliest))?;
/// let event = sub.poll(Some(Duration::from_secs(5)))?.expect("the event");
/// assert_eq!(event.payload, b"21.5");
/// # drop(sub); drop(bus);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ringbus::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Follower {
    dir: PathBuf,
}

/// How a follower subscription reads: where it starts, which partitions, which frames, and
/// whether it keeps its offsets under a name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FollowOptions {
    /// Where to start (default [`Start::Latest`]). Every [`Start`] is accepted;
    /// [`Start::Committed`] needs a [`name`](Self::name). On a topic that does not exist yet,
    /// `Latest` reads from its first event (everything is published after the follower came).
    pub start: Start,
    /// Partitions to read (default: all).
    pub partitions: Option<Vec<u32>>,
    /// Which frames are delivered (default [`Visibility::Written`]).
    pub visibility: Visibility,
    /// A durable name: [`FollowerSubscription::commit`] stores the positions in
    /// `DIR/<topic>/followers/<name>.offsets` and `Start::Committed` resumes there. One process
    /// at a time uses a name (`<name>.lock`).
    pub name: Option<String>,
}

impl FollowOptions {
    /// The defaults: all partitions, from the latest, every written frame, no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the start.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Reads only these partitions.
    pub fn partitions(mut self, partitions: impl Into<Vec<u32>>) -> Self {
        self.partitions = Some(partitions.into());
        self
    }

    /// Sets which frames are delivered.
    pub fn visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Makes the subscription durable under `name` (topic name rules).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// A snapshot of one partition's files, as a follower sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowedPartition {
    /// Partition.
    pub partition: u32,
    /// The oldest offset kept (the first segment's first offset).
    pub earliest_offset: u64,
    /// The end of the last whole frame written now: the next event's offset.
    pub next_offset: u64,
    /// What the active segment's header says is durable (fsynced).
    pub durable_offset: u64,
    /// Segment files.
    pub segments: usize,
}

/// What the owner's `LOCK` file says about the process that has the directory open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Owner {
    /// The owner's process id.
    pub pid: u32,
    /// Its memory-only topics: they have no files, so no follower can read them.
    pub memory_topics: Vec<String>,
}

impl Follower {
    /// A follower of the data directory `dir`. The directory need not exist yet: subscriptions
    /// then wait for the owner to create it and the topic. Opens nothing for writing and takes
    /// no lock.
    ///
    /// # Errors
    /// [`Error::Io`] when `dir` exists but is not a directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref().to_owned();
        match std::fs::metadata(&dir) {
            Ok(meta) if !meta.is_dir() => Err(Error::io(
                format!("opening {}", dir.display()),
                &std::io::Error::new(std::io::ErrorKind::InvalidInput, "it is not a directory"),
            )),
            _ => Ok(Self { dir }),
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The persisted topics in the directory now (directories with a `topic.conf`), sorted.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn topic_names(&self) -> Result<Vec<String>, Error> {
        match std::fs::symlink_metadata(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            _ => topic_names(&self.dir),
        }
    }

    /// Topic `topic`'s configuration, or `None` while it has no `topic.conf`.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::CorruptLog`] (a damaged `topic.conf`), [`Error::Io`].
    pub fn topic_config(&self, topic: &str) -> Result<Option<TopicConfig>, Error> {
        validate_name(topic)?;
        subscription::topic_config(&self.dir.join(topic))
    }

    /// The process that has the directory open now, if any (its `LOCK` is held).
    pub fn owner(&self) -> Option<Owner> {
        lock_holder(&self.dir).map(|(pid, memory_topics)| Owner { pid, memory_topics })
    }

    /// A snapshot of each partition of topic `topic` (empty while it does not exist). Walks
    /// the end of each active segment from its last time-index entry.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::CorruptLog`], [`Error::Io`].
    pub fn partitions(&self, topic: &str) -> Result<Vec<FollowedPartition>, Error> {
        let Some(config) = self.topic_config(topic)? else { return Ok(Vec::new()) };
        let mut out = Vec::with_capacity(config.partitions as usize);
        for p in 0..config.partitions {
            let dir = self.dir.join(topic).join(p.to_string());
            let segments = walker::list_segments(&dir)?;
            let mut w = walker::Walker::new(dir.clone(), p, config.max_frame(), Visibility::Written, 0);
            w.skip_to_end()?;
            let durable = match segments.last() {
                Some(&last) => walker::durable_mark(&dir, last)?,
                None => 0,
            };
            out.push(FollowedPartition {
                partition: p,
                earliest_offset: segments.first().copied().unwrap_or(0),
                next_offset: w.position(),
                durable_offset: durable.min(w.position()),
                segments: segments.len(),
            });
        }
        Ok(out)
    }

    /// What the files say of `topic` (or of every topic, `None`), in the OpenMetrics text
    /// format: the partition families a bus's [`metrics`](crate::Bus::metrics) has that files
    /// can tell (`ringbus_next_offset`, `ringbus_earliest_offset`, `ringbus_durable_offset`,
    /// `ringbus_disk_bytes`, `ringbus_segments`), with the same names and labels. The
    /// owner's counters (published, lag, fsyncs) live in its process: serve them from there.
    ///
    /// Errors: [`Error::InvalidConfig`] for a topic that is not there; reading the directory.
    pub fn metrics(&self, topic: Option<&str>) -> Result<String, Error> {
        let names = match topic {
            Some(name) => {
                if self.topic_config(name)?.is_none() {
                    return Err(Error::InvalidConfig {
                        field: "topic",
                        reason: format!("no topic {name:?} in {}", self.dir.display()),
                    });
                }
                vec![name.to_owned()]
            }
            None => self.topic_names()?,
        };
        let mut topics = Vec::with_capacity(names.len());
        for name in names {
            let parts = self.partitions(&name)?;
            topics.push((name, parts));
        }
        Ok(crate::bus::metrics::render_files(topics))
    }

    /// The owner's durable groups of topic `topic` and their committed offsets (read-only).
    ///
    /// # Errors
    /// [`Error::CorruptLog`] naming a damaged offsets file, [`Error::Io`].
    pub fn committed_groups(&self, topic: &str) -> Result<Vec<(String, Vec<u64>)>, Error> {
        let Some(config) = self.topic_config(topic)? else { return Ok(Vec::new()) };
        crate::log::offsets::committed_groups(&self.dir.join(topic), config.partitions)
    }

    /// Follows topic `topic` (see [`FollowerSubscription`]). A topic that does not exist yet
    /// is waited for.
    ///
    /// # Errors
    /// [`Error::InvalidName`]; [`Error::NotPersisted`] when the owner has `topic` in memory
    /// only; [`Error::InvalidConfig`] (`Start::Committed` without a name);
    /// [`Error::NoSuchPartition`]; [`Error::Locked`] (another process uses the name);
    /// [`Error::OffsetTrimmed`], [`Error::OffsetBeyondEnd`], [`Error::NotAnEventOffset`] for a
    /// `Start::Offset`; [`Error::CorruptLog`], [`Error::Io`].
    pub fn subscribe(&self, topic: &str, options: FollowOptions) -> Result<FollowerSubscription, Error> {
        validate_name(topic)?;
        self.refuse_memory_topic(topic)?;
        FollowerSubscription::new(self.dir.join(topic), topic, options)
    }

    /// Joins follower group `group` of topic `topic`: the group's members, in any processes,
    /// share the topic's partitions (see [`FollowerMember`]). `start` applies to partitions
    /// the group never committed ([`Start::Earliest`] or [`Start::Latest`]; `Committed` means
    /// `Earliest` there).
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::NotPersisted`], [`Error::InvalidConfig`] (a start that
    /// names an offset or a time), [`Error::Io`].
    pub fn join_group(&self, topic: &str, group: &str, start: Start) -> Result<FollowerMember, Error> {
        validate_name(topic)?;
        validate_name(group)?;
        self.refuse_memory_topic(topic)?;
        FollowerMember::join(self.dir.join(topic), topic, group, start)
    }

    fn refuse_memory_topic(&self, topic: &str) -> Result<(), Error> {
        if self.dir.join(topic).join(TOPIC_CONF).exists() {
            return Ok(());
        }
        match self.owner() {
            Some(owner) if owner.memory_topics.iter().any(|t| t == topic) => Err(Error::NotPersisted(format!(
                "following topic {topic:?} (process {} keeps it in memory only, with no files to read)",
                owner.pid
            ))),
            _ => Ok(()),
        }
    }
}

/// Where follower offsets and locks live in a topic directory.
pub(crate) fn followers_dir(topic_dir: &Path) -> PathBuf {
    topic_dir.join("followers")
}

/// What the `follower` fuzz target calls: hostile or half-written segment files (laid out
/// from `bytes` as the `recovery` target does, never repaired by an owner) read by followers
/// from every start. Returns the events delivered. It panics only on a bug: a panic in the
/// walker, or a walk that does not end.
pub fn fuzz_follow_segment_files(dir: &Path, bytes: &[u8]) -> Result<usize, Error> {
    crate::log::fuzz_entry::write_fuzz_topic(dir, bytes)?;
    let follower = Follower::open(dir)?;
    let offset = bytes.get(1..9).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")) % 65_536) & !7;
    let starts = [Start::Earliest, Start::Latest, Start::Offset(offset), Start::Timestamp(offset << 20)];
    let mut delivered = 0;
    for (i, start) in starts.into_iter().enumerate() {
        let visibility = if i % 2 == 0 { Visibility::Written } else { Visibility::Durable };
        let mut sub = match follower.subscribe("t", FollowOptions::new().start(start).visibility(visibility)) {
            Ok(sub) => sub,
            Err(_) => continue,
        };
        let mut last = None;
        // Every event moves forward; an error ends the walk, except OffsetTrimmed, which moves
        // the reader to the earliest segment (at most once per segment).
        for _ in 0..100_000 {
            match sub.poll(Some(std::time::Duration::ZERO)) {
                Ok(Some(e)) => {
                    assert!(last.map_or(true, |l| e.offset > l), "a follower went back or repeated an event");
                    last = Some(e.offset);
                    delivered += 1;
                }
                Ok(None) => break,
                Err(Error::OffsetTrimmed { .. }) => last = None,
                Err(_) => break,
            }
        }
    }
    Ok(delivered)
}
