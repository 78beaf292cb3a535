//! A follower subscription: every event of the chosen partitions of a topic another process
//! owns, in order within each partition, and the poll loop it shares with group members.
#![deny(unsafe_code)]

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::walker::{list_segments, Walker};
use super::watch::Watch;
use super::{followers_dir, FollowOptions};
use crate::bus::event::EventRef;
use crate::config::{validate_name, Start, TopicConfig};
use crate::error::Error;
use crate::log::conf::read_topic_conf;
use crate::log::dir::{check_entry, create_dir, try_lock, TOPIC_CONF};
use crate::log::offsets::{read_offsets, write_offsets};

/// Events a reader takes from one partition before it looks at the next.
const RUN: usize = 64;

/// What the shared poll loop needs from a follower reader.
pub(crate) trait FollowCore {
    /// Finds the next event without waiting: (walker index, offset, frame range).
    fn find(&mut self) -> Result<Option<(usize, u64, Range<usize>)>, Error>;
    /// The event `find` located.
    fn event(&self, found: (usize, u64, Range<usize>)) -> EventRef<'_>;
    /// The reader's inotify watches.
    fn watch(&mut self) -> &mut Watch;
    /// The watched directories with events since the last look (bits as
    /// [`Watch::drain`] returns them).
    fn woke(&mut self, _fired: u64) {}
}

/// Which walker a reader looks at first, and how many events in a row it took from it.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    next: usize,
    run: usize,
}

impl Turns {
    /// The next event of `n` walkers (`next_of(i)` is walker `i`'s next event), looking from
    /// the current one on and taking at most [`RUN`] events from one before the next.
    pub(crate) fn find(
        &mut self,
        n: usize,
        mut next_of: impl FnMut(usize) -> Result<Option<(u64, Range<usize>)>, Error>,
    ) -> Result<Option<(usize, u64, Range<usize>)>, Error> {
        for k in 0..n {
            let i = (self.next + k) % n;
            if let Some((offset, frame)) = next_of(i)? {
                self.run = if i == self.next { self.run + 1 } else { 1 };
                if self.run >= RUN {
                    (self.next, self.run) = ((i + 1) % n, 0);
                } else {
                    self.next = i;
                }
                return Ok(Some((i, offset, frame)));
            }
        }
        Ok(None)
    }
}

/// Waits for the next event (see [`FollowerSubscription::poll`]).
pub(crate) fn poll<R: FollowCore>(r: &mut R, timeout: Option<Duration>) -> Result<Option<EventRef<'_>>, Error> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let found = wait_for(r, deadline)?;
    Ok(found.map(|f| r.event(f)))
}

/// Looks, empties the inotify queue, looks again, sleeps; until an event or the deadline. A
/// write after the second look queues an inotify event, so the sleep ends at once.
fn wait_for<R: FollowCore>(r: &mut R, deadline: Option<Instant>) -> Result<Option<(usize, u64, Range<usize>)>, Error> {
    loop {
        if let Some(found) = r.find()? {
            return Ok(Some(found));
        }
        let fired = r.watch().drain();
        r.woke(fired);
        if let Some(found) = r.find()? {
            return Ok(Some(found));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        r.watch().wait(deadline);
    }
}

/// Hands up to `max` events to `f` while it returns true, waiting for the first (see
/// [`FollowerSubscription::poll_batch`]). An error met after some events were handed out is
/// kept in `pending` for the next call.
pub(crate) fn batch<R, F>(
    r: &mut R,
    max: usize,
    timeout: Option<Duration>,
    pending: fn(&mut R) -> &mut Option<Error>,
    f: &mut F,
) -> Result<usize, Error>
where
    R: FollowCore,
    F: FnMut(EventRef<'_>) -> bool,
{
    if let Some(e) = pending(r).take() {
        return Err(e);
    }
    if max == 0 {
        return Ok(0);
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let Some(first) = wait_for(r, deadline)? else { return Ok(0) };
    let mut more = f(r.event(first));
    let mut n = 1;
    while n < max && more {
        match r.find() {
            Ok(Some(found)) => {
                more = f(r.event(found));
                n += 1;
            }
            Ok(None) => break,
            Err(e) => {
                *pending(r) = Some(e);
                break;
            }
        }
    }
    Ok(n)
}

/// The polling methods of the follower readers ([`FollowerSubscription`] and
/// [`FollowerMember`](super::FollowerMember)): each has a `pending` error and a `watch`, and
/// implements [`FollowCore`].
macro_rules! polling_methods {
    () => {
        /// The next event, without waiting.
        ///
        /// # Errors
        /// As [`poll`](Self::poll).
        pub fn try_poll(&mut self) -> Result<Option<EventRef<'_>>, Error> {
            self.poll(Some(Duration::ZERO))
        }

        /// The next event of this reader's partitions, waiting up to `timeout` (`None`: until
        /// one comes). `Ok(None)` when the timeout passed. A topic that does not exist yet is
        /// waited for.
        ///
        /// # Errors
        /// [`Error::OffsetTrimmed`] (retention deleted events before they were read; the next
        /// call goes on from the earliest offset kept), [`Error::CorruptLog`] (damage below a
        /// durable mark, naming the file), [`Error::NoSuchPartition`] (a topic that appeared
        /// with fewer partitions than asked for), [`Error::Io`] (also from a group's files).
        pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Option<EventRef<'_>>, Error> {
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            $crate::follow::subscription::poll(self, timeout)
        }

        /// Hands up to `max` events to `f`, waiting up to `timeout` for the first one; returns
        /// how many. The rest are those already written: it does not wait for more.
        ///
        /// # Errors
        /// As [`poll`](Self::poll); an error met after some events were handed out is returned
        /// by the next call.
        pub fn poll_batch<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
        where
            F: FnMut(EventRef<'_>),
        {
            $crate::follow::subscription::batch(self, max, timeout, |s| &mut s.pending, &mut |e| {
                f(e);
                true
            })
        }

        /// Like [`poll_batch`](Self::poll_batch), stopping early after an event for which `f`
        /// returns false (the events after it stay for the next call).
        ///
        /// # Errors
        /// As [`poll`](Self::poll).
        pub fn poll_batch_while<F>(&mut self, max: usize, timeout: Option<Duration>, mut f: F) -> Result<usize, Error>
        where
            F: FnMut(EventRef<'_>) -> bool,
        {
            $crate::follow::subscription::batch(self, max, timeout, |s| &mut s.pending, &mut f)
        }

        /// Blocks up to `timeout` until the owner may have written since the last poll that
        /// found nothing; takes no event (for event loops that poll with a zero timeout after
        /// it). True when it may have: spurious wake-ups happen, missed ones do not.
        pub fn wait_readable(&mut self, timeout: Duration) -> bool {
            self.watch.wait_readable(timeout)
        }
    };
}
pub(crate) use polling_methods;

/// A subscription of a [`Follower`](super::Follower): every event of its partitions, in order
/// within each, read from the owner's segment files (see [`Visibility`](super::Visibility) for
/// which). It never holds the owner back and has no slow-consumer policy: an event retention
/// deleted before it was read is reported as [`Error::OffsetTrimmed`], after which the
/// subscription goes on from the earliest offset kept. Waiting sleeps in the kernel (inotify)
/// until the owner writes. Not `Sync`; events borrow the subscription until its next call.
#[derive(Debug)]
pub struct FollowerSubscription {
    topic_dir: PathBuf,
    topic: String,
    options: FollowOptions,
    /// One walker per partition read, once the topic exists.
    walkers: Vec<Walker>,
    ready: bool,
    turns: Turns,
    watch: Watch,
    /// The name's lock, held while the subscription lives.
    _name_lock: Option<File>,
    pending: Option<Error>,
}

impl FollowerSubscription {
    pub(crate) fn new(topic_dir: PathBuf, topic: &str, options: FollowOptions) -> Result<Self, Error> {
        if let Some(name) = &options.name {
            validate_name(name)?;
        }
        if options.partitions.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::InvalidConfig { field: "partitions", reason: "the list is empty".into() });
        }
        if options.name.is_none() && options.start == Start::Committed {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Committed resumes a named follower: give it a name (FollowOptions::name)".into(),
            });
        }
        let mut watch = Watch::new()?;
        if let Some(data_dir) = topic_dir.parent() {
            watch.add(data_dir);
        }
        watch.add(&topic_dir);
        let mut sub = Self {
            topic_dir,
            topic: topic.to_owned(),
            options,
            walkers: Vec::new(),
            ready: false,
            turns: Turns::default(),
            watch,
            _name_lock: None,
            pending: None,
        };
        sub.set_up(false)?;
        Ok(sub)
    }

    /// Sets the walkers up once the topic has its `topic.conf` (`later`: it appeared after the
    /// subscription was made, so `Start::Latest` means its first event).
    fn set_up(&mut self, later: bool) -> Result<(), Error> {
        let Some(config) = topic_config(&self.topic_dir)? else { return Ok(()) };
        let all: Vec<u32> = (0..config.partitions).collect();
        let mut partitions = self.options.partitions.clone().unwrap_or(all);
        // Each partition once, as a bus's subscription reads it.
        partitions.sort_unstable();
        partitions.dedup();
        if let Some(&p) = partitions.iter().find(|&&p| p >= config.partitions) {
            return Err(Error::NoSuchPartition { partition: p, partitions: config.partitions });
        }
        if matches!(self.options.start, Start::Offset(_)) && partitions.len() != 1 {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: format!("Start::Offset needs exactly one partition; this follower reads {}", partitions.len()),
            });
        }
        let committed = match &self.options.name {
            Some(name) => {
                let dir = followers_dir(&self.topic_dir);
                create_dir(&dir)?;
                self._name_lock = Some(lock_file(&dir.join(format!("{name}.lock")), &self.topic_dir)?);
                read_offsets(&dir.join(format!("{name}.offsets")))?.unwrap_or_default()
            }
            None => Vec::new(),
        };
        let mut walkers = Vec::with_capacity(partitions.len());
        for &p in &partitions {
            let dir = self.topic_dir.join(p.to_string());
            self.watch.add(&dir);
            let mut w = Walker::new(dir, p, config.max_frame(), self.options.visibility, 0);
            let start = match self.options.start {
                Start::Committed => match committed.iter().find(|(cp, _)| *cp == p) {
                    Some(&(_, offset)) => Start::Offset(offset),
                    None => Start::Earliest,
                },
                Start::Latest if later => Start::Earliest,
                other => other,
            };
            position(&mut w, start, &mut self.pending)?;
            walkers.push(w);
        }
        self.walkers = walkers;
        self.ready = true;
        Ok(())
    }

    polling_methods!();

    /// Each partition read and the offset of the next event it will deliver (empty while the
    /// topic does not exist).
    pub fn positions(&self) -> Vec<(u32, u64)> {
        self.walkers.iter().map(|w| (w.partition(), w.position())).collect()
    }

    /// The topic followed.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Stores the positions (every event delivered so far counts as processed) in
    /// `DIR/<topic>/followers/<name>.offsets`, durably (fsynced, renamed), so
    /// [`Start::Committed`] resumes after them.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a subscription without a name, [`Error::Io`].
    pub fn commit(&mut self) -> Result<(), Error> {
        let Some(name) = &self.options.name else {
            return Err(Error::InvalidConfig {
                field: "name",
                reason: "only a named follower commits (FollowOptions::name)".into(),
            });
        };
        if !self.ready {
            return Ok(());
        }
        write_offsets(&followers_dir(&self.topic_dir).join(format!("{name}.offsets")), &self.positions())
    }
}

/// The inotify descriptor: readable once the owner has written (or a partition directory
/// changed) since the last poll that found nothing, for `poll`/`epoll` loops. Once readable,
/// poll until nothing comes (that empties it) before waiting on it again. The data
/// directory must exist for it to report anything.
impl std::os::fd::AsRawFd for FollowerSubscription {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.watch.as_raw_fd()
    }
}

impl FollowCore for FollowerSubscription {
    fn find(&mut self) -> Result<Option<(usize, u64, Range<usize>)>, Error> {
        if !self.ready {
            self.set_up(true)?;
            if !self.ready {
                return Ok(None);
            }
        }
        let walkers = &mut self.walkers;
        self.turns.find(walkers.len(), |i| walkers[i].next())
    }

    fn event(&self, (i, offset, frame): (usize, u64, Range<usize>)) -> EventRef<'_> {
        self.walkers[i].event(offset, frame)
    }

    fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }
}

/// The topic's configuration, or `None` while it has no `topic.conf`.
pub(crate) fn topic_config(topic_dir: &Path) -> Result<Option<TopicConfig>, Error> {
    match check_entry(topic_dir, true) {
        Err(Error::Io { kind: std::io::ErrorKind::NotFound, .. }) => return Ok(None),
        other => other?,
    }
    match check_entry(&topic_dir.join(TOPIC_CONF), false) {
        Err(Error::Io { kind: std::io::ErrorKind::NotFound, .. }) => Ok(None),
        Err(e) => Err(e),
        Ok(()) => read_topic_conf(topic_dir).map(Some),
    }
}

/// Puts a new walker where `start` says. A committed offset retention has deleted since is
/// not an error here: the walker starts at the earliest offset kept and the first poll
/// reports [`Error::OffsetTrimmed`] (kept in `pending`).
pub(crate) fn position(w: &mut Walker, start: Start, pending: &mut Option<Error>) -> Result<(), Error> {
    match start {
        Start::Earliest | Start::Committed => {
            let first = list_segments(w.dir())?.first().copied().unwrap_or(0);
            w.seek(first);
            Ok(())
        }
        Start::Latest => w.skip_to_end(),
        Start::Offset(offset) => match w.seek_offset(offset) {
            Err(e @ Error::OffsetTrimmed { earliest, .. }) if pending.is_none() => {
                w.seek(earliest);
                *pending = Some(e);
                Ok(())
            }
            other => other,
        },
        Start::Timestamp(t) => w.seek_timestamp(t),
    }
}

/// Opens lock file `path` (created if needed, mode 0640), checked as every entry is.
pub(crate) fn open_lock_file(path: &Path) -> Result<File, Error> {
    let file =
        crate::log::fs::create_file(path, false).map_err(|e| Error::io(format!("opening {}", path.display()), &e))?;
    check_entry(path, false)?;
    Ok(file)
}

/// Creates (if needed) and locks `path` for this process alone: `flock(LOCK_EX | LOCK_NB)`,
/// released by the kernel when the file is closed or the process dies.
///
/// # Errors
/// [`Error::Locked`] when another process holds it, [`Error::Io`].
pub(crate) fn lock_file(path: &Path, topic_dir: &Path) -> Result<File, Error> {
    let file = open_lock_file(path)?;
    if try_lock(&file, libc::LOCK_EX).map_err(|e| Error::io(format!("locking {}", path.display()), &e))? {
        Ok(file)
    } else {
        Err(Error::Locked { dir: format!("{} ({} is held by another process)", topic_dir.display(), path.display()) })
    }
}
