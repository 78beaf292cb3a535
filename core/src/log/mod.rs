//! The on-disk log of persisted topics: data directory, segment files, recovery, the persister
//! thread and readers behind the ring.
//!
//! ```text
//! DIR/LOCK                                  held (flock) by the bus that has DIR open
//! DIR/<topic>/topic.conf                    the topic's configuration, key=value lines
//! DIR/<topic>/<partition>/<offset>.seg      segments, named by their first frame's offset
//! DIR/<topic>/<partition>/<offset>.tix      each segment's sparse time index (a hint)
//! DIR/<topic>/groups/<group>.offsets        a durable group's committed offsets
//! ```
//!
//! A frame's offset is its byte position in the partition's log, so the ring's bytes are the
//! file's bytes: the persister copies committed ring bytes into the active segment unchanged
//! (see `format.rs` and FORMAT.md).

pub(crate) mod format;
pub(crate) mod fuzz_entry;
pub(crate) mod io;
pub(crate) mod persister;
pub(crate) mod reader;
pub(crate) mod timeindex;
pub(crate) mod verify;

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::bus::config::{Durability, TimestampSource, TopicConfig};
use crate::bus::error::Error;
use crate::bus::keys::{config_key, format_ms};
use crate::ring::notify::Notifier;
use crate::ring::wait::WaitStrategy;
use format::{decode_frame, parse_segment_name, segment_name, FrameError, SegmentHeader, SEGMENT_HEADER_LEN};

/// Offsets at or above this are refused (a ring position needs its top bit free).
pub(crate) const MAX_OFFSET: u64 = 1 << 62;

/// Files are created readable and writable by the owner, readable by the group.
pub(crate) const FILE_MODE: u32 = 0o640;
/// Directories likewise (plus search).
pub(crate) const DIR_MODE: u32 = 0o750;

/// What every reader and publisher of one persisted partition shares with its persister.
#[derive(Debug)]
pub(crate) struct LogShared {
    pub(crate) partition: u32,
    pub(crate) dir: PathBuf,
    pub(crate) max_frame: usize,
    /// First offsets of the segments, ascending. The persister appends; retention removes.
    pub(crate) segments: RwLock<Vec<u64>>,
    /// Bytes below this position are in segment files (maybe not yet durable).
    pub(crate) written: AtomicU64,
    /// Bytes below this position are durable (fsynced).
    pub(crate) durable: AtomicU64,
    /// Set by the persister when a write or fsync fails; never cleared.
    pub(crate) poisoned: Mutex<Option<String>>,
    /// `poisoned.is_some()`, readable without the lock (publishers check it).
    pub(crate) poisoned_flag: std::sync::atomic::AtomicBool,
    /// `Sync` publishers wait here for `durable`.
    pub(crate) synced: Notifier,
    /// fsyncs so far.
    pub(crate) fsyncs: AtomicU64,
    /// Torn-tail bytes recovery cut off when the partition was opened.
    pub(crate) truncated_on_open: AtomicU64,
    /// `Topic::flush` wants everything below this durable now.
    pub(crate) flush_target: AtomicU64,
    /// Positions of readers of segment files: retention deletes no segment at or after the
    /// lowest.
    pub(crate) pins: Mutex<Vec<std::sync::Weak<AtomicU64>>>,
    /// The last retention failure (deleting a segment), if any.
    pub(crate) retention_error: Mutex<Option<String>>,
}

impl LogShared {
    /// State for partition `partition` in `dir`, whose log holds `segments` and ends at `next`.
    pub(crate) fn new(partition: u32, dir: PathBuf, max_frame: usize, segments: Vec<u64>, next: u64) -> Self {
        Self {
            partition,
            dir,
            max_frame,
            segments: RwLock::new(segments),
            written: AtomicU64::new(next),
            durable: AtomicU64::new(next),
            poisoned: Mutex::new(None),
            poisoned_flag: std::sync::atomic::AtomicBool::new(false),
            synced: Notifier::new(),
            fsyncs: AtomicU64::new(0),
            truncated_on_open: AtomicU64::new(0),
            flush_target: AtomicU64::new(0),
            pins: Mutex::new(Vec::new()),
            retention_error: Mutex::new(None),
        }
    }

    /// The oldest offset kept on disk.
    pub(crate) fn earliest(&self) -> u64 {
        self.segments.read().first().copied().unwrap_or(0)
    }

    /// Registers a reader of segment files at `position` (it stores its position there as it
    /// reads).
    pub(crate) fn pin(&self, position: u64) -> std::sync::Arc<AtomicU64> {
        let pin = std::sync::Arc::new(AtomicU64::new(position));
        let mut pins = self.pins.lock();
        pins.retain(|w| w.strong_count() > 0);
        pins.push(std::sync::Arc::downgrade(&pin));
        pin
    }

    /// The lowest position a reader of segment files is at (u64::MAX: none).
    pub(crate) fn lowest_pin(&self) -> u64 {
        let pins = self.pins.lock();
        pins.iter().filter_map(std::sync::Weak::upgrade).map(|p| p.load(Ordering::Acquire)).min().unwrap_or(u64::MAX)
    }

    /// A snapshot for [`PartitionStats`](crate::PartitionStats).
    pub(crate) fn stats(&self) -> crate::bus::stats::LogStats {
        let segments = self.segments.read();
        crate::bus::stats::LogStats {
            earliest_offset: segments.first().copied().unwrap_or(0),
            segments: segments.len(),
            written_offset: self.written.load(Ordering::Acquire),
            durable_offset: self.durable.load(Ordering::Acquire),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            truncated_on_open: self.truncated_on_open.load(Ordering::Relaxed),
            poisoned: self.poisoned.lock().clone(),
            retention_error: self.retention_error.lock().clone(),
        }
    }

    /// The error a poisoned partition returns, if it is poisoned.
    pub(crate) fn poison_error(&self) -> Option<Error> {
        self.poisoned.lock().as_ref().map(|r| Error::Poisoned { partition: self.partition, reason: r.clone() })
    }

    /// The path of the segment that starts at `first`.
    pub(crate) fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment_name(first))
    }

    /// Waits until everything below `end` is durable (Ok), the partition is poisoned, or the
    /// deadline passes ([`Error::Timeout`]).
    pub(crate) fn wait_durable(
        &self,
        end: u64,
        wait: WaitStrategy,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), Error> {
        let ready = || self.durable.load(Ordering::Acquire) >= end || self.poisoned_flag.load(Ordering::Acquire);
        if !ready() && !wait.wait(&self.synced, ready, deadline) {
            return Err(Error::Timeout);
        }
        if self.durable.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        Err(self.poison_error().unwrap_or(Error::Timeout))
    }
}

/// The data directory a bus has open: its path and lock.
#[derive(Debug)]
pub(crate) struct DataDir {
    pub(crate) path: PathBuf,
    /// Held open: the flock lives as long as this file.
    _lock: File,
}

impl DataDir {
    /// Creates `path` if needed and takes its lock.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(path)
            .map_err(|e| Error::io(format!("creating data directory {}", path.display()), &e))?;
        let lock_path = path.join("LOCK");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("opening {}", lock_path.display()), &e))?;
        lock_exclusive(&lock).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked { dir: path.display().to_string() }
            } else {
                Error::io(format!("locking {}", lock_path.display()), &e)
            }
        })?;
        Ok(Self { path: path.to_owned(), _lock: lock })
    }

    /// Names of the topics persisted here (directories with a `topic.conf`), sorted.
    pub(crate) fn topic_names(&self) -> Result<Vec<String>, Error> {
        let entries =
            fs::read_dir(&self.path).map_err(|e| Error::io(format!("listing {}", self.path.display()), &e))?;
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join(TOPIC_CONF).is_file() && crate::bus::config::validate_name(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: fails with `WouldBlock` if another open file description holds it.
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Fsyncs a directory (after creating, renaming or deleting entries in it).
pub(crate) fn sync_dir(path: &Path) -> Result<(), Error> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", path.display()), &e))
}

/// The configuration file's name in a topic directory.
pub(crate) const TOPIC_CONF: &str = "topic.conf";

/// Writes `config` as the topic's `topic.conf`, one `key=value` line per entry of the
/// configuration table ([`TopicConfig::entries`]), atomically: temporary file, fsync, rename,
/// directory fsync.
pub(crate) fn write_topic_conf(topic_dir: &Path, config: &TopicConfig) -> Result<(), Error> {
    let mut text =
        String::from("# ringbus topic configuration, written by ringbus; read when the data directory is opened\n");
    for (key, value) in config.entries() {
        match (key, config.durability) {
            // Version 1's form, which every build reads (older ones refuse a bare `async`);
            // `async_max_delay_ms` follows with the exact delay, which older builds ignore.
            ("durability", Durability::Async { max_delay }) => {
                text.push_str(&format!("durability=async:{}\n", max_delay.as_micros()));
            }
            _ => text.push_str(&format!("{key}={value}\n")),
        }
    }
    replace_file(&topic_dir.join(TOPIC_CONF), text.as_bytes())
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old or the new content
/// whole: writes `<path>.tmp` (mode 0640), fsyncs it, renames it over `path`, fsyncs the
/// directory.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().expect("a file in a directory");
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let write = || -> std::io::Result<()> {
        let f = OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(&tmp)?;
        f.write_all_at(bytes, 0)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), &e))?;
    sync_dir(dir)
}

/// Reads a topic's `topic.conf`.
pub(crate) fn read_topic_conf(topic_dir: &Path) -> Result<TopicConfig, Error> {
    let path = topic_dir.join(TOPIC_CONF);
    let text = fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
    let bad = |line: &str| Error::CorruptLog {
        segment: path.display().to_string(),
        position: 0,
        reason: format!("unreadable configuration line {line:?}"),
    };
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, value) = line.split_once('=').ok_or_else(|| bad(line))?;
        match (key, value.strip_prefix("async:")) {
            // Written before the configuration table: the async delay in microseconds.
            ("durability", Some(micros)) => {
                let micros: u64 = micros.parse().map_err(|_| bad(line))?;
                entries.push(("durability".into(), "async".into()));
                entries.push(("async_max_delay_ms".into(), format_ms(Duration::from_micros(micros))));
            }
            // Keys from a later version are ignored (see FORMAT.md: compatibility).
            _ if config_key(key).is_none() => {}
            _ => entries.push((key.to_owned(), value.to_owned())),
        }
    }
    let mut config = TopicConfig::new();
    config.set_all(&entries).map_err(|e| Error::CorruptLog {
        segment: path.display().to_string(),
        position: 0,
        reason: format!("unreadable configuration: {e}"),
    })?;
    config.validate().map_err(|e| Error::CorruptLog {
        segment: path.display().to_string(),
        position: 0,
        reason: format!("stored configuration is invalid: {e}"),
    })?;
    Ok(config)
}

/// Creates a segment file whose first frame is at `first` (temporary name, header, preallocate
/// to `segment_bytes`, fsync, rename, directory fsync) and returns it open for writing.
pub(crate) fn create_segment(dir: &Path, first: u64, segment_bytes: u64, durable: u64) -> Result<File, Error> {
    let path = dir.join(segment_name(first));
    let tmp = dir.join(format!("{}.tmp", segment_name(first)));
    let created_ns = crate::bus::clock::now(TimestampSource::Precise);
    let header = SegmentHeader { first_offset: first, created_ns, durable };
    let make = || -> std::io::Result<File> {
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).mode(FILE_MODE).open(&tmp)?;
        f.write_all_at(&header.encode(), 0)?;
        preallocate(&f, segment_bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        Ok(f)
    };
    let f = make().map_err(|e| Error::io(format!("creating segment {}", path.display()), &e))?;
    sync_dir(dir)?;
    Ok(f)
}

/// Where a `Start::Timestamp(t)` reader of this partition's segment files starts: the start of
/// the first time-index interval whose newest timestamp is at or after `t`, or the start of the
/// unindexed tail of the log (the reader then skips events older than `t`).
pub(crate) fn seek_timestamp(log: &LogShared, t: u64) -> Result<u64, Error> {
    let segments = log.segments.read().clone();
    let written = log.written.load(Ordering::Acquire);
    for (i, &first) in segments.iter().enumerate() {
        let sealed = i + 1 < segments.len();
        let end = segments.get(i + 1).copied().unwrap_or(written);
        let entries = timeindex::load(&log.dir, first, end, sealed, log.max_frame)?;
        if let Some(e) = entries.iter().find(|e| e.max_ts >= t) {
            return Ok(e.start);
        }
        if !sealed {
            return Ok(entries.last().map_or(first, |e| e.end));
        }
    }
    Ok(written)
}

/// Fills each partition's idempotent-producer table from the log: the records of the last
/// `dedup_window` (by event timestamp, found through the time index).
fn remember_producers(topic: &crate::bus::topic::TopicInner) -> Result<(), Error> {
    let now = crate::bus::clock::now(TimestampSource::Precise);
    let window = topic.config.dedup_window;
    let since = now.saturating_sub(window.as_nanos() as u64);
    for (p, log) in topic.logs.as_ref().expect("persisted").iter().enumerate() {
        let from = seek_timestamp(log, since)?.max(log.earliest());
        let mut reader = reader::LogReader::at(log.clone(), from)?;
        let mut frame = Vec::new();
        let mut table = topic.dedup[p].lock();
        loop {
            frame.clear();
            let Some((offset, len)) = reader.next_event(&mut frame)? else { break };
            let meta = u64::from_le_bytes(frame[16..24].try_into().expect("8 bytes"));
            let flags = (meta >> 16) as u16;
            if flags & crate::ring::frame::FLAG_PRODUCER != 0 && len >= 40 {
                let producer = u64::from_le_bytes(frame[24..32].try_into().expect("8 bytes"));
                let sequence = u64::from_le_bytes(frame[32..40].try_into().expect("8 bytes"));
                let ts = u64::from_le_bytes(frame[8..16].try_into().expect("8 bytes"));
                table.accept(producer, sequence, offset, ts.max(since), window);
            }
        }
    }
    Ok(())
}

/// The creation time in a segment's header.
pub(crate) fn segment_created_ns(path: &Path) -> Result<u64, Error> {
    let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
    File::open(path)
        .and_then(|f| f.read_exact_at(&mut head, 0))
        .map_err(|e| Error::io(format!("reading the header of {}", path.display()), &e))?;
    SegmentHeader::decode(&head).map(|h| h.created_ns).map_err(|e| Error::CorruptLog {
        segment: path.display().to_string(),
        position: 0,
        reason: e.to_string(),
    })
}

/// Reserves `len` bytes for the file (so appends do not allocate blocks); files that cannot be
/// preallocated (the filesystem does not support it) are extended instead.
fn preallocate(f: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len as libc::off_t) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return f.set_len(len);
    }
    Err(e)
}

/// A recovered partition: its segments and where its log ends.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) segments: Vec<u64>,
    /// The next frame's offset (the end of the last whole frame).
    pub(crate) next: u64,
    /// The last segment, open for writing.
    pub(crate) active: File,
    /// What the last segment's header says was durable.
    pub(crate) durable_mark: u64,
    /// Bytes of a torn tail that were cut off (0 after a clean close).
    pub(crate) truncated: u64,
    /// The last segment's time index (rebuilt from the frames walked) and its open interval.
    pub(crate) index: timeindex::IndexFile,
    pub(crate) interval: timeindex::Builder,
}

/// The index of the last nonzero byte of `bytes`. Compares 4 KiB blocks with zeros (a
/// `memcmp`, fast in debug builds too) from the end, then bytes within the block: the rest of a
/// preallocated segment is megabytes of zeros, which a byte loop took seconds to scan in a
/// debug build.
fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut end = bytes.len();
    while end > 0 {
        let start = end.saturating_sub(ZEROS.len());
        let block = &bytes[start..end];
        if block != &ZEROS[..block.len()] {
            return block.iter().rposition(|&b| b != 0).map(|i| start + i);
        }
        end = start;
    }
    None
}

/// Opens a partition directory (creating it with a first segment at offset 0 if it is new),
/// checks its segments and finds the end of its log. A torn tail (bytes after the last whole
/// frame that are not followed by any valid frame, at or past the durable mark) is zeroed;
/// anything else invalid is [`Error::CorruptLog`].
pub(crate) fn recover_partition(dir: &Path, max_frame: usize, segment_bytes: u64) -> Result<Recovered, Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), &e))?;
    let mut segments = Vec::new();
    let mut indexes = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(first) = parse_segment_name(&name) {
            segments.push(first);
        } else if let Some(first) = name.strip_suffix(".tix").and_then(|n| parse_segment_name(&format!("{n}.seg"))) {
            indexes.push(first);
        } else if name.ends_with(".seg.tmp") {
            // A segment whose creation did not finish: it never held data.
            let _ = fs::remove_file(entry.path());
        }
    }
    segments.sort_unstable();
    if let Some(&bad) = segments.iter().find(|&&l| l >= MAX_OFFSET || l % 8 != 0) {
        return Err(Error::CorruptLog {
            segment: dir.join(segment_name(bad)).display().to_string(),
            position: bad,
            reason: "segment offset is not a multiple of 8 below 2^62".into(),
        });
    }
    for orphan in indexes.iter().filter(|i| segments.binary_search(i).is_err()) {
        // The index of a segment retention deleted.
        let _ = fs::remove_file(timeindex::index_path(dir, *orphan));
    }
    if segments.is_empty() {
        let active = create_segment(dir, 0, segment_bytes, 0)?;
        let index = timeindex::IndexFile::create(dir, 0, &[])?;
        let interval = timeindex::Builder::new(0);
        return Ok(Recovered { segments: vec![0], next: 0, active, durable_mark: 0, truncated: 0, index, interval });
    }
    let corrupt = |first: u64, position: u64, reason: String| Error::CorruptLog {
        segment: dir.join(segment_name(first)).display().to_string(),
        position,
        reason,
    };
    // Sealed segments: their headers, and that each one's durable mark reaches the next.
    for w in segments.windows(2) {
        let (first, next_first) = (w[0], w[1]);
        let path = dir.join(segment_name(first));
        let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
        let f = File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), &e))?;
        f.read_exact_at(&mut head, 0).map_err(|e| corrupt(first, first, format!("unreadable header: {e}")))?;
        let h = SegmentHeader::decode(&head).map_err(|e| corrupt(first, first, e.to_string()))?;
        if h.first_offset != first {
            return Err(corrupt(first, first, format!("header says it starts at {}", h.first_offset)));
        }
        if h.durable != next_first {
            return Err(corrupt(
                first,
                h.durable,
                format!("sealed segment ends at {} but the next starts at {next_first}", h.durable),
            ));
        }
    }
    let first = *segments.last().expect("not empty");
    let path = dir.join(segment_name(first));
    let active = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), &e))?;
    let data = fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
    let h = SegmentHeader::decode(&data).map_err(|e| corrupt(first, first, e.to_string()))?;
    if h.first_offset != first {
        return Err(corrupt(first, first, format!("header says it starts at {}", h.first_offset)));
    }
    let body = &data[SEGMENT_HEADER_LEN as usize..];
    let (end, stop) = walk(body, first, max_frame);
    let next = end;
    if next < h.durable {
        let reason = stop.map_or("the segment ends".to_owned(), |e| e.to_string());
        return Err(corrupt(first, next, format!("{reason}, before the durable mark {}", h.durable)));
    }
    let rest = &body[(next - first) as usize..];
    let mut truncated = 0;
    if let Some(last_nonzero) = last_nonzero(rest) {
        // Bytes follow the last whole frame. A torn tail holds no valid frame; damage followed
        // by valid frames is corruption of data that may have been acknowledged.
        if let Some(at) = find_valid_frame(rest, next, max_frame) {
            let reason = stop.map_or("invalid frame".to_owned(), |e| e.to_string());
            return Err(corrupt(first, next, format!("{reason}, yet a valid frame follows at {at}")));
        }
        truncated = (last_nonzero + 1) as u64;
        let zeros = vec![0u8; truncated as usize];
        active
            .write_all_at(&zeros, SEGMENT_HEADER_LEN + (next - first))
            .and_then(|()| active.sync_data())
            .map_err(|e| Error::io(format!("cutting the torn tail of {}", path.display()), &e))?;
    }
    let (entries, interval) = timeindex::build(body, first, next, max_frame);
    let index = timeindex::IndexFile::create(dir, first, &entries)?;
    Ok(Recovered { segments, next, active, durable_mark: h.durable, truncated, index, interval })
}

/// Walks frames in `body` (log position `first` at index 0): the end of the last whole valid
/// frame, and why the walk stopped (`None`: it reached the end of `body`).
pub(crate) fn walk(body: &[u8], first: u64, max_frame: usize) -> (u64, Option<FrameError>) {
    let mut at = 0usize;
    while at + 8 <= body.len() {
        match decode_frame(&body[at..], first + at as u64, max_frame) {
            Ok(frame) => at += frame.span(),
            Err(e) => return (first + at as u64, Some(e)),
        }
    }
    (first + at as u64, None)
}

/// The position of the first valid event frame in `bytes` (log position `from` at index 0),
/// looking at every 8-byte boundary.
fn find_valid_frame(bytes: &[u8], from: u64, max_frame: usize) -> Option<u64> {
    (8..bytes.len()).step_by(8).map(|i| from + i as u64).find(|&p| {
        let i = (p - from) as usize;
        matches!(decode_frame(&bytes[i..], p, max_frame), Ok(format::Frame::Event { .. }))
    })
}

/// Opens (or creates) persisted topic `name` in `dir` with `config`: recovers every partition,
/// builds rings that start where the logs end, and starts the topic's persister thread.
pub(crate) fn open_topic(
    dir: &Path,
    name: &str,
    config: crate::bus::config::TopicConfig,
    io_choice: &io::IoChoice,
) -> Result<(std::sync::Arc<crate::bus::topic::TopicInner>, std::thread::JoinHandle<()>), Error> {
    use std::sync::Arc;
    let topic_dir = dir.join(name);
    let mut recovered = Vec::with_capacity(config.partitions as usize);
    for p in 0..config.partitions {
        recovered.push(recover_partition(&topic_dir.join(p.to_string()), config.max_frame(), config.segment_bytes)?);
    }
    let logs: Vec<Arc<LogShared>> = recovered
        .iter()
        .enumerate()
        .map(|(p, r)| {
            let log =
                LogShared::new(p as u32, topic_dir.join(p.to_string()), config.max_frame(), r.segments.clone(), r.next);
            log.truncated_on_open.store(r.truncated, Ordering::Relaxed);
            Arc::new(log)
        })
        .collect();
    let starts: Vec<u64> = recovered.iter().map(|r| r.next).collect();
    let segment_bytes = config.segment_bytes;
    let inner =
        Arc::new(crate::bus::topic::TopicInner::with_logs(name.to_owned(), config, &starts, logs, io_choice.backend));
    let logs = inner.logs.as_ref().expect("persisted");
    let writers: Vec<persister::PartWriter> = recovered
        .into_iter()
        .enumerate()
        .map(|(p, r)| {
            let first = *r.segments.last().expect("a partition has a segment");
            persister::PartWriter::new(&inner.rings[p], logs[p].clone(), r, first, segment_bytes)
        })
        .collect();
    remember_producers(&inner)?;
    let io = io::instance(io_choice).map_err(|e| Error::io("setting up the persister's I/O", &e))?;
    let topic = inner.clone();
    let handle = std::thread::Builder::new()
        .name(format!("ringbus-persist-{name}"))
        .spawn(move || persister::run(topic, writers, io))
        .map_err(|e| Error::io("starting the persister thread", &e))?;
    Ok((inner, handle))
}

/// The file holding group `group`'s committed offsets in a topic directory.
pub(crate) fn group_offsets_path(topic_dir: &Path, group: &str) -> PathBuf {
    topic_dir.join("groups").join(format!("{group}.offsets"))
}

/// Stores a group's committed offsets, one per partition (temporary file, fsync, rename,
/// directory fsync): lines `<partition> <offset>`, then `crc <CRC-32C of the lines above>`.
pub(crate) fn write_group_offsets(topic_dir: &Path, group: &str, offsets: &[u64]) -> Result<(), Error> {
    let dir = topic_dir.join("groups");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), &e))?;
    let mut text = String::from("# ringbus group offsets: partition offset\n");
    for (p, o) in offsets.iter().enumerate() {
        text.push_str(&format!("{p} {o}\n"));
    }
    let crc = crc32c::crc32c(text.as_bytes());
    text.push_str(&format!("crc {crc:08x}\n"));
    replace_file(&group_offsets_path(topic_dir, group), text.as_bytes())
}

/// A group's committed offsets, if it ever committed.
pub(crate) fn read_group_offsets(topic_dir: &Path, group: &str, partitions: u32) -> Result<Option<Vec<u64>>, Error> {
    let path = group_offsets_path(topic_dir, group);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), &e)),
    };
    let corrupt = |reason: String| Error::CorruptLog { segment: path.display().to_string(), position: 0, reason };
    let body_end = text.rfind("crc ").ok_or_else(|| corrupt("no checksum line".into()))?;
    let (body, crc_line) = text.split_at(body_end);
    let crc = u32::from_str_radix(crc_line.trim().trim_start_matches("crc "), 16)
        .map_err(|_| corrupt("unreadable checksum line".into()))?;
    if crc32c::crc32c(body.as_bytes()) != crc {
        return Err(corrupt("group offsets checksum mismatch".into()));
    }
    let mut offsets = vec![None; partitions as usize];
    for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut it = line.split(' ').map(str::parse::<u64>);
        match (it.next(), it.next()) {
            (Some(Ok(p)), Some(Ok(o))) if (p as usize) < offsets.len() => offsets[p as usize] = Some(o),
            _ => return Err(corrupt(format!("unreadable line {line:?}"))),
        }
    }
    offsets
        .into_iter()
        .collect::<Option<Vec<u64>>>()
        .map(Some)
        .ok_or_else(|| corrupt("a partition has no offset".into()))
}

#[cfg(test)]
mod tests {
    use super::last_nonzero;

    #[test]
    fn last_nonzero_finds_the_last_set_byte() {
        for len in [0usize, 1, 4095, 4096, 4097, 10_000] {
            let mut v = vec![0u8; len];
            assert_eq!(last_nonzero(&v), None, "{len} zeros");
            for at in [0, len / 2, len.saturating_sub(1)].into_iter().filter(|&a| a < len) {
                v[at] = 7;
                assert_eq!(last_nonzero(&v), Some(at), "{len} bytes, last set at {at}");
            }
        }
    }
}
