//! Follower groups: processes that share a topic's partitions, Kafka-style. Each member owns
//! whole partitions; a member that dies has its partitions taken over from their committed
//! offsets, and a new member gets its share.
//!
//! All of it is files in `DIR/<topic>/followers/<group>.group/`, with locks the kernel
//! releases when a process dies:
//!
//! ```text
//! <member>.member      one per member, flock(LOCK_EX) by it while it lives
//! <partition>.lock     flock(LOCK_EX) by the member that reads the partition
//! <partition>.offsets  the partition's committed offset (written whole: temporary file, rename)
//! ```
//!
//! Members balance themselves inside their polls (at least every [`BALANCE`], and at once
//! when a member file or lock changes): the live members, sorted by name, are counted (a
//! member file nobody holds belongs to a dead member and is deleted); the member of rank `r`
//! of `m` owns the partitions `p` with `p % m == r`. A member gives up a partition by
//! committing the offset after the last event it handed out, then unlocking; it takes one by
//! locking it, then reading its committed offset. Only a lock holder reads a partition, so
//! each event goes to one member at a time.
//!
//! Duplicates: an event counts as processed once the member's next poll starts (or
//! [`FollowerMember::commit`] runs). A member that dies has its partitions read again from
//! their last commit, so the events it handed out after that commit come again to the
//! member that takes over. Nothing else delivers an event twice.
#![deny(unsafe_code)]

use std::fs::File;
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::followers_dir;
use super::subscription::{lock_file, open_lock_file, polling_methods, position, topic_config, FollowCore, Turns};
use super::walker::{Visibility, Walker};
use super::watch::Watch;
use crate::bus::event::EventRef;
use crate::config::{Start, TopicConfig};
use crate::error::Error;
use crate::log::dir::{create_dir, try_lock};
use crate::log::fs;
use crate::log::offsets::{read_offsets, write_offsets};

/// The longest a member goes without balancing.
pub(crate) const BALANCE: Duration = Duration::from_millis(100);

/// A partition a member owns.
#[derive(Debug)]
struct Owned {
    /// The partition's lock, held.
    _lock: File,
    walker: Walker,
    /// The offset last committed.
    committed: u64,
}

/// A member of a follower group (from [`Follower::join_group`](super::Follower::join_group)):
/// it reads the partitions the group gives it, from where the group committed, and gives them
/// up or takes more as members come and go (see the module docs for the rules and exactly
/// when an event comes twice). Leaving (drop) commits and releases its partitions.
#[derive(Debug)]
pub struct FollowerMember {
    topic_dir: PathBuf,
    topic: String,
    group: String,
    group_dir: PathBuf,
    start: Start,
    name: String,
    /// This member's file, locked while it lives.
    _member: File,
    config: Option<TopicConfig>,
    owned: Vec<Owned>,
    /// Lock files of partitions this member should own but another still holds: kept open
    /// and tried again, since opening and closing them would wake every member.
    waiting: Vec<(u32, File)>,
    watch: Watch,
    balanced: Option<Instant>,
    turns: Turns,
    pending: Option<Error>,
}

impl FollowerMember {
    pub(crate) fn join(topic_dir: PathBuf, topic: &str, group: &str, start: Start) -> Result<Self, Error> {
        if !matches!(start, Start::Earliest | Start::Latest | Start::Committed) {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "a follower group starts partitions it never committed at Earliest or Latest".into(),
            });
        }
        let group_dir = followers_dir(&topic_dir).join(format!("{group}.group"));
        create_dir(&group_dir)?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let name = format!("{:010}-{:020}", std::process::id(), nanos);
        // Locked under a temporary name, then renamed: a member file is never seen unlocked
        // while its member lives.
        let tmp = group_dir.join(format!("{name}.member.tmp"));
        let member = lock_file(&tmp, &topic_dir)?;
        let path = group_dir.join(format!("{name}.member"));
        fs::rename(&tmp, &path).map_err(|e| Error::io(format!("creating {}", path.display()), &e))?;
        let mut watch = Watch::new()?;
        watch.add(&group_dir);
        watch.add(&topic_dir);
        let mut member = Self {
            topic_dir,
            topic: topic.to_owned(),
            group: group.to_owned(),
            group_dir,
            start,
            name,
            _member: member,
            config: None,
            owned: Vec::new(),
            waiting: Vec::new(),
            watch,
            balanced: None,
            turns: Turns::default(),
            pending: None,
        };
        member.balance()?;
        Ok(member)
    }

    /// The names of the live members, sorted; deletes the files of dead ones.
    fn live_members(&self) -> Result<Vec<String>, Error> {
        let entries = std::fs::read_dir(&self.group_dir)
            .map_err(|e| Error::io(format!("listing {}", self.group_dir.display()), &e))?;
        let mut live = vec![self.name.clone()];
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if let Some(joining) = file_name.strip_suffix(".member.tmp") {
                // A member that died while joining (its name starts with its process id; a
                // live one is between creating and renaming the file).
                let pid = joining.split('-').next().and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                    let _ = fs::remove_file(&entry.path());
                }
                continue;
            }
            let Some(name) = file_name.strip_suffix(".member") else { continue };
            if name == self.name {
                continue;
            }
            let path = entry.path();
            let Ok(file) = File::open(&path) else { continue };
            // A member holds its file locked while it lives: a lock we can take means it died.
            match try_lock(&file, libc::LOCK_SH) {
                Ok(false) => live.push(name.to_owned()),
                Ok(true) => {
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(Error::io(format!("locking {}", path.display()), &e)),
            }
        }
        live.sort();
        Ok(live)
    }

    /// Gives up the partitions that are no longer this member's and takes the free ones that
    /// are (see the module docs).
    fn balance(&mut self) -> Result<(), Error> {
        self.balanced = Some(Instant::now());
        if self.config.is_none() {
            self.config = topic_config(&self.topic_dir)?;
        }
        let Some(config) = &self.config else { return Ok(()) };
        let (partitions, max_frame) = (config.partitions, config.max_frame());
        let live = self.live_members()?;
        let (rank, members) = (live.iter().position(|n| *n == self.name).unwrap_or(0), live.len());
        let mine = |p: u32| p as usize % members == rank;
        let mut i = 0;
        while i < self.owned.len() {
            if mine(self.owned[i].walker.partition()) {
                i += 1;
                continue;
            }
            let owned = self.owned.remove(i);
            self.commit_one(&owned)?;
        }
        self.waiting.retain(|(p, _)| mine(*p));
        for p in (0..partitions).filter(|&p| mine(p)) {
            if self.owned.iter().any(|o| o.walker.partition() == p) {
                continue;
            }
            let lock = match self.waiting.iter().position(|(w, _)| *w == p) {
                Some(i) => self.waiting.swap_remove(i).1,
                None => open_lock_file(&self.group_dir.join(format!("{p}.lock")))?,
            };
            match try_lock(&lock, libc::LOCK_EX) {
                Ok(true) => {}
                // Its last owner has not given it up yet: the next balance tries again.
                Ok(false) => {
                    self.waiting.push((p, lock));
                    continue;
                }
                Err(e) => return Err(Error::io(format!("locking partition {p}'s lock file"), &e)),
            }
            let dir = self.topic_dir.join(p.to_string());
            self.watch.add(&dir);
            let mut walker = Walker::new(dir, p, max_frame, Visibility::Written, 0);
            let committed = read_offsets(&self.offsets_path(p))?.and_then(|l| l.first().map(|&(_, o)| o));
            let start = match (committed, self.start) {
                (Some(offset), _) => Start::Offset(offset),
                (None, Start::Latest) => Start::Latest,
                (None, _) => Start::Earliest,
            };
            position(&mut walker, start, &mut self.pending)?;
            let committed = committed.unwrap_or(walker.position());
            self.owned.push(Owned { _lock: lock, walker, committed });
        }
        self.owned.sort_by_key(|o| o.walker.partition());
        Ok(())
    }

    fn offsets_path(&self, partition: u32) -> PathBuf {
        self.group_dir.join(format!("{partition}.offsets"))
    }

    /// Commits one partition's position if it moved.
    fn commit_one(&self, owned: &Owned) -> Result<(), Error> {
        let (p, at) = (owned.walker.partition(), owned.walker.position());
        if at == owned.committed {
            return Ok(());
        }
        write_offsets(&self.offsets_path(p), &[(p, at)])
    }

    polling_methods!();

    /// Commits the position of every partition this member owns: the events handed out so far
    /// count as processed and are not delivered again, even if this member dies.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn commit(&mut self) -> Result<(), Error> {
        for i in 0..self.owned.len() {
            self.commit_one(&self.owned[i])?;
            self.owned[i].committed = self.owned[i].walker.position();
        }
        Ok(())
    }

    /// The partitions this member owns now, with the offset of the next event of each.
    pub fn positions(&self) -> Vec<(u32, u64)> {
        self.owned.iter().map(|o| (o.walker.partition(), o.walker.position())).collect()
    }

    /// The topic and the group.
    pub fn group(&self) -> (&str, &str) {
        (&self.topic, &self.group)
    }
}

/// The inotify descriptor, as for
/// [`FollowerSubscription`](super::FollowerSubscription#impl-AsRawFd-for-FollowerSubscription).
impl std::os::fd::AsRawFd for FollowerMember {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.watch.as_raw_fd()
    }
}

impl FollowCore for FollowerMember {
    fn find(&mut self) -> Result<Option<(usize, u64, Range<usize>)>, Error> {
        if self.balanced.map_or(true, |t| t.elapsed() >= BALANCE) {
            self.balance()?;
        }
        let owned = &mut self.owned;
        self.turns.find(owned.len(), |i| owned[i].walker.next())
    }

    fn event(&self, (i, offset, frame): (usize, u64, Range<usize>)) -> EventRef<'_> {
        self.owned[i].walker.event(offset, frame)
    }

    fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }

    fn woke(&mut self, fired: u64) {
        // The group's directory (watched first) changed: a member came or went, or gave up a
        // partition. Balance now.
        if fired & 1 != 0 {
            self.balanced = None;
        }
    }
}

impl Drop for FollowerMember {
    fn drop(&mut self) {
        if let Err(e) = self.commit() {
            crate::diag::warn!("follower group {:?} of {:?}: committing on leave failed: {e}", self.group, self.topic);
        }
        let _ = fs::remove_file(&self.group_dir.join(format!("{}.member", self.name)));
    }
}
