//! Read-only checking of a data directory (`ringbus verify`): every segment header, every
//! frame's position tag, length and CRC-32C, and every group offsets file, without changing a
//! byte. It holds the directory's lock while it reads, so no bus writes meanwhile; when a bus
//! in another process has the directory open, it checks the live directory instead, reading
//! each active segment up to what is written now (its unwritten tail is the end, not damage).
#![deny(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use super::conf::read_topic_conf;
use super::dir::{lock_holder, topic_names, DataDir, TOPIC_CONF};
use super::format::{parse_segment_name, segment_name, SegmentHeader, SEGMENT_HEADER_LEN};
use super::offsets::{group_offsets_path, read_group_offsets};
use super::recovery::{find_valid_frame, last_nonzero, walk, Walked};
use crate::error::Error;

/// What [`verify_data_dir`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The directory checked.
    pub dir: PathBuf,
    /// One entry per persisted topic, by name.
    pub topics: Vec<TopicCheck>,
    /// The process that had the directory open while it was checked (a live check: the
    /// active segments' tails past their last whole frame are being written, not torn).
    pub live_owner: Option<u32>,
}

impl VerifyReport {
    /// Every damage found, in every topic and partition.
    pub fn damage(&self) -> impl Iterator<Item = &Damage> {
        self.topics.iter().flat_map(|t| t.damage.iter().chain(t.partitions.iter().flat_map(|p| p.damage.iter())))
    }

    /// Whether nothing was damaged (a torn tail is not damage: opening the bus cuts it).
    pub fn is_clean(&self) -> bool {
        self.damage().next().is_none()
    }
}

/// One topic's findings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicCheck {
    /// Topic name.
    pub name: String,
    /// One entry per partition.
    pub partitions: Vec<PartitionCheck>,
    /// Groups that committed offsets (by name).
    pub groups: Vec<String>,
    /// Damage outside the partitions (an unreadable `topic.conf`, a damaged offsets file).
    pub damage: Vec<Damage>,
}

/// One partition's findings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionCheck {
    /// Partition.
    pub partition: u32,
    /// Segment files.
    pub segments: usize,
    /// Event frames whose CRC matched.
    pub events: u64,
    /// Offset of the first segment (the oldest event kept).
    pub earliest: u64,
    /// Offset after the last valid frame.
    pub end: u64,
    /// Bytes after the last frame that hold no valid frame: a write cut short by a crash,
    /// which the next open zeroes. (offset, length)
    pub torn_tail: Option<(u64, u64)>,
    /// Damage found.
    pub damage: Vec<Damage>,
}

/// A damaged place: where the data is not what ringbus wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damage {
    /// The file.
    pub file: PathBuf,
    /// Log offset of the damage (for segments: the partition offset; else 0).
    pub offset: u64,
    /// Byte position in the file.
    pub file_position: u64,
    /// What is wrong.
    pub reason: String,
}

/// Checks every persisted topic in `dir`, reading only, also while a bus in another process
/// has it open (see the module docs). Errors: [`Error::Io`] when `dir` is not a readable
/// directory.
pub fn verify_data_dir(dir: &Path) -> Result<VerifyReport, Error> {
    let meta = fs::metadata(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), &e))?;
    if !meta.is_dir() {
        return Err(Error::Io {
            context: dir.display().to_string(),
            message: "not a directory".into(),
            kind: std::io::ErrorKind::InvalidInput,
        });
    }
    let (names, live_owner, _lock) = match DataDir::open(dir) {
        Ok(data) => (data.topic_names()?, None, Some(data)),
        Err(Error::Locked { .. }) => (topic_names(dir)?, Some(lock_holder(dir).map_or(0, |(pid, _)| pid)), None),
        Err(e) => return Err(e),
    };
    let live = live_owner.is_some();
    let mut topics = Vec::new();
    for name in names {
        topics.push(verify_topic(&dir.join(&name), name, live));
    }
    Ok(VerifyReport { dir: dir.to_owned(), topics, live_owner })
}

fn verify_topic(topic_dir: &Path, name: String, live: bool) -> TopicCheck {
    let mut check = TopicCheck { name, partitions: Vec::new(), groups: Vec::new(), damage: Vec::new() };
    let config = match read_topic_conf(topic_dir) {
        Ok(c) => c,
        Err(e) => {
            check.damage.push(Damage {
                file: topic_dir.join(TOPIC_CONF),
                offset: 0,
                file_position: 0,
                reason: e.to_string(),
            });
            return check;
        }
    };
    for p in 0..config.partitions {
        check.partitions.push(verify_partition(&topic_dir.join(p.to_string()), p, config.max_frame(), live));
    }
    if let Ok(entries) = fs::read_dir(topic_dir.join("groups")) {
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".offsets").map(str::to_owned))
            .collect();
        names.sort();
        for group in names {
            if let Err(e) = read_group_offsets(topic_dir, &group, config.partitions) {
                check.damage.push(Damage {
                    file: group_offsets_path(topic_dir, &group),
                    offset: 0,
                    file_position: 0,
                    reason: e.to_string(),
                });
            }
            check.groups.push(group);
        }
    }
    check
}

fn verify_partition(dir: &Path, partition: u32, max_frame: usize, live: bool) -> PartitionCheck {
    let mut check =
        PartitionCheck { partition, segments: 0, events: 0, earliest: 0, end: 0, torn_tail: None, damage: Vec::new() };
    let mut firsts: Vec<u64> = match fs::read_dir(dir) {
        Ok(entries) => entries.flatten().filter_map(|e| parse_segment_name(&e.file_name().to_string_lossy())).collect(),
        Err(e) => {
            check.damage.push(Damage {
                file: dir.to_owned(),
                offset: 0,
                file_position: 0,
                reason: format!("partition directory unreadable: {e}"),
            });
            return check;
        }
    };
    firsts.sort_unstable();
    check.segments = firsts.len();
    check.earliest = firsts.first().copied().unwrap_or(0);
    for (i, &first) in firsts.iter().enumerate() {
        let path = dir.join(segment_name(first));
        let next_first = firsts.get(i + 1).copied();
        let mut found = Vec::new();
        let mut damage = |offset: u64, reason: String| {
            let file_position = SEGMENT_HEADER_LEN + offset.saturating_sub(first);
            found.push(Damage { file: path.clone(), offset, file_position, reason });
        };
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            // Retention deleted it while the owner runs.
            Err(e) if live && e.kind() == std::io::ErrorKind::NotFound => {
                check.segments -= 1;
                continue;
            }
            Err(e) => {
                damage(first, format!("unreadable: {e}"));
                check.damage.append(&mut found);
                continue;
            }
        };
        let header = match SegmentHeader::decode(&bytes) {
            Ok(h) => h,
            Err(e) => {
                check.damage.push(Damage {
                    file: path.clone(),
                    offset: first,
                    file_position: 0,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if header.first_offset != first {
            check.damage.push(Damage {
                file: path.clone(),
                offset: first,
                file_position: 0,
                reason: format!("header says the segment starts at {}", header.first_offset),
            });
            continue;
        }
        // Sealed segments must hold whole frames up to where the next segment starts; the
        // last one up to its durable mark, and after that only a torn tail. The walk is
        // recovery's; where it stops on damage, the search for the next valid frame is too.
        let must_reach = next_first.unwrap_or(header.durable);
        let body = &bytes[SEGMENT_HEADER_LEN as usize..];
        let body = match next_first {
            Some(n) => &body[..body.len().min(n.saturating_sub(first) as usize)],
            None => body,
        };
        let mut at = 0usize;
        loop {
            let position = first + at as u64;
            let Walked { end, events, stop } = walk(&body[at..], position, max_frame);
            check.events += events;
            at = (end - first) as usize;
            let Some(e) = stop else { break };
            let (position, rest) = (end, &body[at..]);
            let resume = find_valid_frame(rest, position, max_frame);
            if position < must_reach {
                let why = match resume {
                    Some(p) => format!("{e}; valid frames resume at offset {p}"),
                    None => format!("{e}, before the durable mark {must_reach}"),
                };
                damage(position, why);
                match resume {
                    Some(p) => {
                        at = (p - first) as usize;
                        continue;
                    }
                    None => break,
                }
            }
            // Past the durable mark: zeros (the end of the log) or a torn tail, which may hold
            // whole frames after the damage (writes not yet synced persist out of order);
            // recovery cuts it off.
            // Live, the last segment's tail is what the owner is writing now: the end.
            if let Some(last) = last_nonzero(rest).filter(|_| !(live && next_first.is_none())) {
                check.torn_tail = Some((position, last as u64 + 1));
            }
            break;
        }
        check.end = first + at as u64;
        check.damage.append(&mut found);
    }
    check
}
