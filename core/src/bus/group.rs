//! Work-queue groups: each event goes to exactly one member (`member.rs`). A group's state is
//! shared by its handles: per partition a cursor on the ring, or first a shared reader of
//! segment files, and the runs its members have in flight.
#![deny(unsafe_code)]

use super::member::Member;
use super::reader::{join_ring, switch_to_ring};
use super::stats::{ReaderCounters, ReaderKind, ReaderStats};
use super::topic::TopicInner;
use crate::config::{validate_name, Start};
use crate::error::Error;
use crate::log::offsets::{group_offsets_path, read_group_offsets, write_group_offsets};
use crate::log::reader::LogReader;
use crate::ring::group::GroupCursor;
use crate::ring::{GateKind, GateSpec, Joined};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering, Weak};

/// State shared by a group's handles.
#[derive(Debug)]
pub(crate) struct GroupShared {
    name: String,
    pub(super) topic: Arc<TopicInner>,
    pub(super) cursors: Vec<Arc<GroupCursor>>,
    /// Per partition: the ring gate once the group reads the ring there.
    gate_ids: Mutex<Vec<Option<u64>>>,
    /// Per partition: reading segment files, before the group reaches the ring (persisted
    /// topics whose group starts behind what the ring holds).
    pub(super) disk: Vec<Mutex<DiskState>>,
    members: Mutex<Vec<Weak<ReaderCounters>>>,
    /// Deliveries by members that left (a statistic: Relaxed).
    pub(super) retired: AtomicU64,
    /// Numbers members, so each finds its own disk runs in the in-flight lists.
    next_member_id: AtomicU64,
    /// Held through a commit: members committing at once would share the offsets file's
    /// temporary name, and a commit computed earlier could replace one computed later.
    commit_lock: Mutex<()>,
}

/// A partition's segment-file side of a group.
#[derive(Debug, Default)]
pub(super) struct DiskState {
    /// The shared reader; `None` once the group reads the ring (or never read disk).
    pub(super) feed: Option<LogReader>,
    /// Disk runs members are processing: (member id, start).
    pub(super) inflight: Vec<(u64, u64)>,
    /// Disk runs members left unfinished: (start, end), taken before new ones.
    pub(super) returned: Vec<(u64, u64)>,
}

impl DiskState {
    pub(super) fn has_work(&self) -> bool {
        self.feed.is_some() || !self.returned.is_empty()
    }
}

impl GroupShared {
    pub(crate) fn stats(&self, topic: &TopicInner) -> ReaderStats {
        let mut members = self.members.lock();
        members.retain(|w| w.strong_count() > 0);
        let delivered = self.retired.load(Ordering::Relaxed)
            + members.iter().filter_map(Weak::upgrade).map(|c| c.delivered.get()).sum::<u64>();
        let mut lag = 0;
        let mut lag_bytes = 0;
        for (i, cursor) in self.cursors.iter().enumerate() {
            let ring = &topic.parts.rings[i];
            let next = cursor.next();
            lag += ring.events_from(next);
            lag_bytes += ring.tail().saturating_sub(next);
        }
        ReaderStats {
            kind: ReaderKind::Group { name: self.name.clone(), members: members.len() },
            name: self.name.clone(),
            delivered,
            dropped: 0,
            lag,
            lag_bytes,
        }
    }
}

impl GroupShared {
    /// Partition `k`'s position below which every event handed to a member was processed:
    /// the oldest run still in flight (disk or ring), else where the group reads next.
    fn committed_position(&self, k: usize) -> u64 {
        let disk = self.disk[k].lock();
        let mut p = match &disk.feed {
            Some(reader) => reader.position(),
            None => self.cursors[k].gate(),
        };
        for &(_, start) in &disk.inflight {
            p = p.min(start);
        }
        for &(start, _) in &disk.returned {
            p = p.min(start);
        }
        p
    }

    /// Whether a member may find work now (or the end of a closed topic).
    pub(crate) fn may_have_work(&self) -> bool {
        self.cursors.iter().enumerate().any(|(k, c)| {
            let ring = &self.topic.parts.rings[k];
            ring.is_closed() || self.disk[k].lock().has_work() || (c.is_joined() && c.has_work(ring))
        })
    }

    /// Stores the group's committed positions (persisted topics).
    pub(super) fn commit(&self) -> Result<Vec<u64>, Error> {
        let Some(topic_dir) = self.topic.dir() else {
            return Err(Error::NotPersisted(format!("committing group {:?}", self.name)));
        };
        let _one_at_a_time = self.commit_lock.lock();
        let released = self.topic.released.read();
        if *released {
            // The bus is gone and the directory may be another bus's by now.
            return Err(Error::Closed);
        }
        let offsets: Vec<u64> = (0..self.cursors.len()).map(|k| self.committed_position(k)).collect();
        // Members take events from the ring before they are durable; committed offsets must
        // never point past what a power cut keeps, or the group would skip the events
        // published again at those offsets after recovery.
        self.topic.flush_to(&offsets, None)?;
        write_group_offsets(topic_dir, &self.name, &offsets)?;
        Ok(offsets)
    }

    /// The gate the group holds on partition `k`'s ring.
    fn gate(&self, k: usize) -> GateSpec {
        GateSpec::new(GateKind::Group(self.cursors[k].clone()), format!("group {:?}", self.name))
    }

    /// The disk-to-ring switch of partition `k`: its disk feed reached `position`. Joins the
    /// ring there if it still holds it (true), else the feed reads on (false).
    pub(super) fn switch_to_ring(&self, k: usize, position: u64) -> Result<bool, Error> {
        match switch_to_ring(&self.topic.parts.rings[k], k as u32, position, Some(self.gate(k)))? {
            Some(joined) => {
                self.reads_ring(k, joined);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Partition `k` joined its ring (`joined`): keeps the gate to leave on drop and lets
    /// members claim through the cursor.
    fn reads_ring(&self, k: usize, joined: Joined) {
        self.gate_ids.lock()[k] = joined.gate_id;
        self.cursors[k].set_joined();
    }
}

impl Drop for GroupShared {
    fn drop(&mut self) {
        for (i, id) in self.gate_ids.lock().iter().enumerate() {
            if let Some(id) = id {
                self.topic.parts.rings[i].leave(*id);
            }
        }
    }
}

/// A work-queue group on a topic: its members share one cursor per partition and each event
/// goes to exactly one member. The group holds producers back like a `Block` reader, at the
/// start of the oldest run a member has claimed and not finished, so nothing claimed is lost
/// when a member leaves: the unprocessed rest of its run goes to the other members.
///
/// Cheap to clone, `Send + Sync`. The group exists while any `Group` or [`Member`] handle does.
#[derive(Debug, Clone)]
pub struct Group {
    shared: Arc<GroupShared>,
}

impl Group {
    pub(crate) fn open(topic: Arc<TopicInner>, name: &str, start: Start) -> Result<Self, Error> {
        validate_name(name)?;
        if matches!(start, Start::Timestamp(_)) {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Timestamp is for subscriptions".into(),
            });
        }
        if matches!(start, Start::Offset(_)) && topic.partitions() != 1 {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Offset needs a topic with exactly one partition".into(),
            });
        }
        let mut reg = topic.registry.lock();
        if let Some(shared) = reg.groups.get(name).and_then(Weak::upgrade) {
            return Ok(Self { shared });
        }
        // Where each partition starts: an offset on disk, or a ring join.
        let committed = match (start, topic.dir()) {
            (Start::Committed, Some(dir)) => read_group_offsets(dir, name, topic.partitions())?,
            (Start::Committed, None) => {
                return Err(Error::NotPersisted(format!("Start::Committed for group {name:?}")));
            }
            _ => None,
        };
        let n = topic.partitions() as usize;
        let shared = GroupShared {
            name: name.to_owned(),
            topic: topic.clone(),
            cursors: (0..n).map(|_| Arc::new(GroupCursor::new())).collect(),
            gate_ids: Mutex::new(vec![None; n]),
            disk: (0..n).map(|_| Mutex::new(DiskState::default())).collect(),
            members: Mutex::new(Vec::new()),
            retired: AtomicU64::new(0),
            next_member_id: AtomicU64::new(0),
            commit_lock: Mutex::new(()),
        };
        // On error, `shared` drops and leaves the rings joined so far.
        for (k, ring) in topic.parts.rings.iter().enumerate() {
            let at = match (start, &committed, topic.log(k as u32)) {
                (Start::Committed, Some(offsets), _) => Some(offsets[k]),
                (Start::Committed, None, Some(log)) | (Start::Earliest, _, Some(log)) => Some(log.earliest()),
                (Start::Offset(o), _, Some(_)) => Some(o),
                _ => None,
            };
            let joined = match (at, topic.log(k as u32)) {
                (Some(at), Some(log)) if at < ring.earliest_hint() => {
                    LogReader::at(log.clone(), at).map(|reader| shared.disk[k].lock().feed = Some(reader))
                }
                (at, _) => {
                    let from = at.map_or(start, Start::Offset);
                    join_ring(ring, k as u32, from, Some(shared.gate(k))).map(|j| shared.reads_ring(k, j))
                }
            };
            match (joined, &committed, topic.dir()) {
                (Ok(()), _, _) => {}
                // Offsets this group never could have committed: name the file they came from.
                (Err(e @ (Error::OffsetBeyondEnd { .. } | Error::NotAnEventOffset { .. })), Some(_), Some(dir))
                    if start == Start::Committed =>
                {
                    return Err(Error::CorruptLog {
                        segment: group_offsets_path(dir, name).display().to_string(),
                        position: at.unwrap_or(0),
                        reason: format!("the committed offset is unusable: {e}"),
                    });
                }
                (Err(e), _, _) => return Err(e),
            }
        }
        let shared = Arc::new(shared);
        reg.groups.insert(name.to_owned(), Arc::downgrade(&shared));
        Ok(Self { shared })
    }

    /// Stores where the group stands: per partition, the offset before which every event was
    /// handed to a member that has finished it (the oldest run any member still processes), so
    /// `Start::Committed` resumes there after a restart. Returns the offsets. Persisted topics
    /// only ([`Error::NotPersisted`] otherwise); the file is fsynced before this returns, and
    /// so are the events below the offsets (an `Async` topic's persister is asked to fsync
    /// them now), so a power cut never leaves offsets that point past the log.
    /// [`Error::Poisoned`] if that fsync failed.
    /// After the bus has shut down (its directory lock released) it fails with
    /// [`Error::Closed`] and writes nothing. A topic merely closed still commits, so members
    /// can drain it and commit what they finished.
    pub fn commit(&self) -> Result<Vec<u64>, Error> {
        self.shared.commit()
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Adds a member. Members join and leave at any time; a new member takes events from the
    /// group's current position.
    pub fn join(&self) -> Member {
        let slots = self.shared.cursors.iter().map(|c| c.add_member()).collect();
        let counters = Arc::new(ReaderCounters::new(self.shared.cursors.len()));
        self.shared.members.lock().push(Arc::downgrade(&counters));
        let id = self.shared.next_member_id.fetch_add(1, Ordering::Relaxed);
        Member::new(self.shared.clone(), slots, id, counters)
    }
}
