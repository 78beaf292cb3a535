//! The persister: one thread per persisted topic that copies committed ring bytes into the
//! partitions' active segments and makes them durable.
//!
//! For each partition it is one more gating reader of the ring (producers never overwrite what
//! it has not written). Each round writes everything committed since the last round in one
//! submission (group commit) and, for `Sync` topics, fsyncs it in the same linked chain; then it
//! raises `durable` and wakes the `Sync` publishers waiting for it. `Async { max_delay }`
//! topics are fsynced once the oldest unsynced write is `max_delay` old, and when the topic
//! closes. A failed write or fsync poisons the partition: it is closed, its waiters get
//! [`Error::Poisoned`](crate::Error::Poisoned), and nothing after the failure is acknowledged.

use std::fs::File;
use std::time::{Duration, Instant};

use super::dir::sync_dir;
use super::format::{DURABLE_FIELD, SEGMENT_HEADER_LEN};
use super::fs;
use super::io::{self, Io, IoChoice, Write};
use super::recovery::Recovered;
use super::segment::{create_segment, segment_created_ns, segment_from_spare, SPARE};
use super::shared::LogShared;
use super::syncer::{Job, SpareJob, Syncer};
use super::timeindex;
use crate::config::{Durability, TimestampSource, TopicConfig};
use crate::error::Error;
use crate::ring::frame::align;
use crate::ring::{Cursor, GateKind, GateSpec, JoinAt, Partitions, Ring};
use crate::sync::{thread, Arc};

/// Where a partition's spare segment stands (see `syncer.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spare {
    Absent,
    /// Asked for, being written by the fsync thread.
    Preparing,
    /// Written and fsynced: the next rotation uses it.
    Ready,
}

/// The persister's state for one partition.
#[derive(Debug)]
pub(crate) struct PartWriter {
    pub(crate) log: Arc<LogShared>,
    cursor: Arc<Cursor>,
    gate_id: u64,
    active: File,
    active_first: u64,
    segment_bytes: u64,
    /// Bytes below this are written to files.
    written: u64,
    /// Bytes below this are fsynced.
    durable: u64,
    /// The value of the active segment's durable field on disk (or in flight).
    durable_field: u64,
    /// When the oldest write not yet fsynced was made.
    unsynced_since: Option<Instant>,
    /// An `Async` topic's fsync running on the fsync thread: the end of the writes it covers.
    syncing: Option<u64>,
    /// The next segment, prepared ahead by the fsync thread (`Async` topics).
    spare: Spare,
    poisoned: bool,
    /// When retention was last checked.
    retention_checked: Option<Instant>,
    /// The active segment's time index and its open interval.
    index: timeindex::IndexFile,
    interval: timeindex::Builder,
}

impl PartWriter {
    /// Joins `ring` as a gate at `next` (the recovered end of the log, where the ring starts).
    fn new(ring: &Ring, log: Arc<LogShared>, recovered: Recovered, segment_bytes: u64) -> Self {
        let active_first = *recovered.segments.last().expect("a partition has a segment");
        let Recovered { active, next, durable_mark: durable_field, index, interval, .. } = recovered;
        let cursor = Arc::new(Cursor::new(next));
        let gate = GateSpec::new(GateKind::Cursor(cursor.clone()), "the persister");
        let joined =
            ring.join(JoinAt::Offset(next), Some(gate)).expect("a new ring starts at the recovered end of its log");
        Self {
            log,
            cursor,
            gate_id: joined.gate_id.expect("joined with a gate"),
            active,
            active_first,
            segment_bytes,
            written: next,
            durable: next,
            durable_field,
            unsynced_since: None,
            syncing: None,
            spare: Spare::Absent,
            poisoned: false,
            retention_checked: None,
            index,
            interval,
        }
    }

    /// Deletes the oldest sealed segments that the topic's retention no longer keeps (checked
    /// after a rotation and at most once a second): while the partition holds more than
    /// `retention_bytes` of log, or the segment after the oldest was created more than
    /// `retention_age` ago. Never the segment being written, never one a reader is in (or
    /// after). The list shrinks before the file goes, so new readers get `OffsetTrimmed`.
    fn apply_retention(&mut self, config: &TopicConfig, now: Instant, rotated: bool) -> Result<(), Error> {
        if config.retention_bytes.is_none() && config.retention_age.is_none() {
            return Ok(());
        }
        if !rotated && self.retention_checked.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return Ok(());
        }
        self.retention_checked = Some(now);
        let now_ns = crate::clock::now(TimestampSource::Precise);
        loop {
            let (oldest, next) = {
                let segments = self.log.segments.read();
                if segments.len() < 2 {
                    return Ok(());
                }
                (segments[0], segments[1])
            };
            let by_bytes = config.retention_bytes.is_some_and(|max| self.written - oldest > max);
            let by_age = match config.retention_age {
                Some(age) => {
                    let created = segment_created_ns(&self.log.segment_path(next))?;
                    now_ns.saturating_sub(created) > age.as_nanos() as u64
                }
                None => false,
            };
            if !(by_bytes || by_age) || self.log.lowest_pin() < next {
                return Ok(());
            }
            self.log.segments.write().remove(0);
            let path = self.log.segment_path(oldest);
            fs::remove_file(&path).map_err(|e| Error::io(format!("deleting {}", path.display()), &e))?;
            // The index is a hint; a left-over one is removed when the directory is opened.
            let _ = fs::remove_file(&timeindex::index_path(&self.log.dir, oldest));
            sync_dir(&self.log.dir)?;
            super::fuzz_entry::reached(&super::fuzz_entry::SEGMENTS_RETIRED);
            crate::diag::info!(
                "retention deleted {} (offsets {oldest} to {next}; by {})",
                path.display(),
                if by_bytes { "size" } else { "age" }
            );
        }
    }

    /// Writes what is committed; fsyncs per the durability. Returns whether it did anything.
    fn step(
        &mut self,
        ring: &Ring,
        io: &mut dyn Io,
        syncer: Option<&Syncer>,
        part: usize,
        config: &TopicConfig,
        now: Instant,
    ) -> Result<bool, Error> {
        let durability = config.durability;
        let mut busy = false;
        // Claimed by now: this round writes at most up to here, so it ends under a steady
        // stream of publishes too.
        let tail = ring.tail();
        while self.written < tail {
            // What is committed from our gate on (the ring has no commit frontier: we walk the
            // frames), up to the active segment's end.
            let segment_end = self.active_first + self.segment_bytes - SEGMENT_HEADER_LEN;
            let to = ring.committed_run(self.written, segment_end);
            // Rotate when the next frame is committed and would not fit in the segment.
            let rotate = ring.is_ready_at(to) && !self.fits(ring, to, segment_end);
            if to == self.written && !rotate {
                break;
            }
            if to > self.written {
                let sync = rotate || durability == Durability::Sync;
                self.write(ring, io, to, sync)?;
                if sync {
                    self.mark_durable(to);
                } else {
                    self.unsynced_since.get_or_insert(now);
                }
            }
            if rotate {
                if let Some(syncer) = syncer {
                    self.settle(syncer, part)?;
                }
                self.rotate(io)?;
            }
            busy = true;
        }
        // Half way through a segment, the next one is prepared in the background.
        if let Some(syncer) = syncer {
            if self.spare == Spare::Absent && self.written - self.active_first >= self.segment_bytes / 2 {
                syncer.prepare_spare(SpareJob { part, path: self.log.dir.join(SPARE), bytes: self.segment_bytes });
                self.spare = Spare::Preparing;
            }
        }
        if let Err(e) = self.apply_retention(config, now, busy) {
            // Not fatal to writing: reported in stats and tried again a second later.
            *self.log.retention_error.lock() = Some(e.to_string());
        }
        let flush = self.log.flush_target() > self.durable;
        if let Durability::Async { max_delay } = durability {
            if self.durable < self.written
                && self.syncing.is_none()
                && (flush || self.unsynced_since.is_some_and(|t| now.duration_since(t) >= max_delay))
            {
                match syncer {
                    Some(syncer) => self.start_sync(syncer, part)?,
                    None => self.sync(io)?,
                }
            }
        }
        Ok(busy)
    }

    /// Hands the fsync of everything written so far to the fsync thread.
    fn start_sync(&mut self, syncer: &Syncer, part: usize) -> Result<(), Error> {
        let file = self.active.try_clone().map_err(|e| {
            Error::io(format!("duplicating {} for its fsync", self.log.segment_path(self.active_first).display()), &e)
        })?;
        let field = (self.durable > self.durable_field).then_some(self.durable);
        syncer.start(Job { part, file, field, target: self.written });
        self.syncing = Some(self.written);
        self.unsynced_since = None;
        Ok(())
    }

    /// Applies a finished fsync job of this partition.
    fn synced(&mut self, target: u64, field: Option<u64>, result: Result<Duration, String>) -> Result<(), Error> {
        self.syncing = None;
        match result {
            Ok(took) => self.log.observe_fsync(took),
            Err(e) => {
                return Err(Error::Io {
                    context: format!("syncing {}", self.log.segment_path(self.active_first).display()),
                    message: e,
                    kind: std::io::ErrorKind::Other,
                })
            }
        }
        if let Some(f) = field {
            self.durable_field = self.durable_field.max(f);
        }
        if target > self.durable {
            self.durable = target;
            self.log.publish_durable(target);
        }
        Ok(())
    }

    /// Waits for this partition's fsync job, if one runs (before sealing its segment).
    fn settle(&mut self, syncer: &Syncer, part: usize) -> Result<(), Error> {
        if self.syncing.is_none() {
            return Ok(());
        }
        let mut mine = Ok(());
        for (p, target, field, result) in syncer.wait_for(part) {
            debug_assert_eq!(p, part, "wait_for hands out this partition's jobs only");
            let r = self.synced(target, field, result);
            if mine.is_ok() {
                mine = r;
            }
        }
        mine
    }

    /// Writes ring bytes `written .. to` (committed, below our gate) to the active segment,
    /// with the durable field when it is behind, and fsyncs them if `sync`.
    fn write(&mut self, ring: &Ring, io: &mut dyn Io, to: u64, sync: bool) -> Result<(), Error> {
        let field = self.durable.to_le_bytes();
        let mut writes = Vec::with_capacity(3);
        if self.durable > self.durable_field {
            // The previous round's fsync made `durable` true on disk; saying so is safe.
            writes.push(Write { offset: DURABLE_FIELD, bytes: &field });
        }
        let mut pos = self.written;
        while pos < to {
            let index = pos & (ring.capacity() - 1);
            let n = (to - pos).min(ring.capacity() - index);
            // SAFETY: `pos .. pos + n` holds frames whose words 0 `step` Acquire-loaded
            // (`committed_run`), at or after our gate (`written`), which we move only after this
            // write; it does not cross the buffer's end.
            let bytes = unsafe { ring.log_bytes(pos, n as usize) };
            writes.push(Write { offset: SEGMENT_HEADER_LEN + (pos - self.active_first), bytes });
            pos += n;
        }
        let started = Instant::now();
        io.write(&self.active, &writes, sync)
            .map_err(|e| Error::io(format!("writing {}", self.log.segment_path(self.active_first).display()), &e))?;
        if sync {
            self.log.observe_fsync(started.elapsed());
        }
        // The time index: one entry per completed interval of about 64 KiB.
        let mut pos = self.written;
        while pos < to {
            let (padding, len) = ring.committed_frame(pos);
            let ts = (!padding).then(|| ring.header(pos).0);
            if let Some(entry) = self.interval.frame(pos, ts) {
                self.index.append(entry);
            }
            pos += align(len) as u64;
        }
        self.durable_field = self.durable_field.max(self.durable);
        self.written = to;
        self.log.publish_written(to);
        self.cursor.release(to);
        ring.writable.notify();
        Ok(())
    }

    /// Fsyncs what is written (with the durable field brought up to date).
    fn sync(&mut self, io: &mut dyn Io) -> Result<(), Error> {
        let field = self.durable.to_le_bytes();
        let writes = [Write { offset: DURABLE_FIELD, bytes: &field }];
        let n = usize::from(self.durable > self.durable_field);
        let started = Instant::now();
        io.write(&self.active, &writes[..n], true)
            .map_err(|e| Error::io(format!("syncing {}", self.log.segment_path(self.active_first).display()), &e))?;
        self.log.observe_fsync(started.elapsed());
        self.durable_field = self.durable_field.max(self.durable);
        self.mark_durable(self.written);
        Ok(())
    }

    /// Before the persister sleeps: brings the active segment's durable field up to what the
    /// last fsync made durable (not fsynced itself; the field only claims what is true), so a
    /// follower that reads only durable frames sees the last round without waiting for the
    /// next write.
    fn note_durable(&mut self, io: &mut dyn Io) -> Result<(), Error> {
        if self.durable <= self.durable_field {
            return Ok(());
        }
        let field = self.durable.to_le_bytes();
        io.write(&self.active, &[Write { offset: DURABLE_FIELD, bytes: &field }], false).map_err(|e| {
            Error::io(format!("writing the header of {}", self.log.segment_path(self.active_first).display()), &e)
        })?;
        self.durable_field = self.durable;
        Ok(())
    }

    fn mark_durable(&mut self, to: u64) {
        self.durable = to;
        self.unsynced_since = None;
        self.log.publish_durable(to);
    }

    /// Whether the committed frame at `position` ends at or before `segment_end`.
    fn fits(&self, ring: &Ring, position: u64, segment_end: u64) -> bool {
        let (_, len) = ring.committed_frame(position);
        position + align(len) as u64 <= segment_end
    }

    /// Seals the active segment (everything in it is fsynced; its durable field says where it
    /// ends, fsynced again) and starts the next one at `written`.
    fn rotate(&mut self, io: &mut dyn Io) -> Result<(), Error> {
        if self.durable < self.written {
            self.sync(io)?;
        }
        let field = self.written.to_le_bytes();
        io.write(&self.active, &[Write { offset: DURABLE_FIELD, bytes: &field }], true)
            .map_err(|e| Error::io(format!("sealing {}", self.log.segment_path(self.active_first).display()), &e))?;
        if let Some(entry) = self.interval.finish(self.written) {
            self.index.append(entry);
        }
        let spare = match self.spare {
            Spare::Ready => segment_from_spare(&self.log.dir, self.written, self.segment_bytes, self.written)?,
            _ => None,
        };
        if spare.is_some() {
            self.spare = Spare::Absent;
            super::fuzz_entry::reached(&super::fuzz_entry::SPARES_USED);
        }
        let next = match spare {
            Some(file) => file,
            None => create_segment(&self.log.dir, self.written, self.segment_bytes, self.written)?,
        };
        self.index = timeindex::IndexFile::create(&self.log.dir, self.written, &[])?;
        self.active = next;
        self.active_first = self.written;
        self.durable_field = self.written;
        self.log.segments.write().push(self.written);
        Ok(())
    }

    /// Latches the partition after a failure (see the module docs).
    fn poison(&mut self, ring: &Ring, error: &Error) {
        crate::diag::error!(
            "partition {} ({}) is poisoned and accepts no more events: {error}; nothing after offset {} \
             was acknowledged as durable, and the partition stays closed until the data directory is reopened",
            self.log.partition,
            self.log.dir.display(),
            self.durable
        );
        self.poisoned = true;
        self.log.poison(error.to_string());
        ring.close();
        // Nothing more is written from this ring: stop holding its producers back, so a
        // publisher waiting for space it already claimed gets it (and then sees the close).
        ring.leave(self.gate_id);
    }

    /// After the topic closed and every frame is written: fsync, then record on disk that
    /// everything is durable (a clean close).
    fn finish(&mut self, io: &mut dyn Io, syncer: Option<&Syncer>, part: usize) -> Result<(), Error> {
        if let Some(syncer) = syncer {
            self.settle(syncer, part)?;
        }
        if self.durable < self.written {
            self.sync(io)?;
        }
        if self.durable_field < self.durable {
            self.sync(io)?;
        }
        Ok(())
    }
}

/// Applies retention once, then starts the persister thread of topic `name`: one more gate on
/// each of `parts`' rings, joined where recovery found each log's end (`recovered`, one per partition, with its shared state
/// in `logs`). It runs until the rings are closed and everything is durable (or every
/// partition is poisoned).
pub(crate) fn spawn(
    name: &str,
    parts: Arc<Partitions>,
    config: TopicConfig,
    logs: &[Arc<LogShared>],
    recovered: Vec<Recovered>,
    io_choice: &IoChoice,
) -> Result<thread::JoinHandle<()>, Error> {
    let mut writers: Vec<PartWriter> = recovered
        .into_iter()
        .zip(logs)
        .enumerate()
        .map(|(p, (r, log))| PartWriter::new(&parts.rings[p], log.clone(), r, config.segment_bytes))
        .collect();
    // What retention no longer keeps goes before the topic is handed out, so a reader that
    // joins at once does not pin segments a directory reopened after a long pause should drop.
    let now = Instant::now();
    for w in &mut writers {
        if let Err(e) = w.apply_retention(&config, now, true) {
            *w.log.retention_error.lock() = Some(e.to_string());
        }
    }
    let io = io::instance(io_choice).map_err(|e| Error::io("setting up the persister's I/O", &e))?;
    let syncer = match config.durability {
        Durability::Async { .. } => Some(Syncer::spawn(name, io_choice, parts.readable.clone())?),
        _ => None,
    };
    thread::Builder::new()
        .name(format!("ringbus-persist-{name}"))
        .spawn(move || run(&parts, &config, writers, io, syncer))
        .map_err(|e| Error::io("starting the persister thread", &e))
}

/// The persister's loop over `parts` (see [`spawn`]).
fn run(
    parts: &Partitions,
    config: &TopicConfig,
    mut writers: Vec<PartWriter>,
    mut io: Box<dyn Io>,
    syncer: Option<Syncer>,
) {
    let rings = &parts.rings;
    let owned_syncer = syncer;
    let syncer = owned_syncer.as_ref();
    loop {
        let now = Instant::now();
        let mut busy = false;
        if let Some(s) = syncer.filter(|s| s.has_done()) {
            for (i, target, field, result) in s.take_done() {
                let w = &mut writers[i];
                if !w.poisoned {
                    if let Err(e) = w.synced(target, field, result) {
                        w.poison(&rings[i], &e);
                    }
                }
            }
            for (i, result) in s.take_spares() {
                let w = &mut writers[i];
                w.spare = match result {
                    Ok(()) => Spare::Ready,
                    Err(e) => {
                        // Not fatal: the next segment is made the usual way.
                        crate::diag::warn!("preparing the next segment of {} failed: {e}", w.log.dir.display());
                        Spare::Absent
                    }
                };
            }
        }
        for (i, w) in writers.iter_mut().enumerate() {
            if w.poisoned {
                continue;
            }
            match w.step(&rings[i], io.as_mut(), syncer, i, config, now) {
                Ok(b) => busy |= b,
                Err(e) => w.poison(&rings[i], &e),
            }
        }
        let drained = writers.iter().enumerate().all(|(i, w)| w.poisoned || rings[i].drained_at(w.written));
        if drained {
            for (i, w) in writers.iter_mut().enumerate() {
                if !w.poisoned {
                    if let Err(e) = w.finish(io.as_mut(), syncer, i) {
                        w.poison(&rings[i], &e);
                    }
                }
            }
            break;
        }
        if busy {
            continue;
        }
        for (i, w) in writers.iter_mut().enumerate() {
            if !w.poisoned {
                if let Err(e) = w.note_durable(io.as_mut()) {
                    w.poison(&rings[i], &e);
                }
            }
        }
        let deadline = match config.durability {
            Durability::Async { max_delay } => {
                writers.iter().filter_map(|w| w.unsynced_since).min().map(|t| t + max_delay)
            }
            _ => None,
        };
        let ready = || {
            syncer.is_some_and(Syncer::has_done)
                || writers.iter().enumerate().any(|(i, w)| {
                    !w.poisoned
                        && (rings[i].is_ready_at(w.written)
                            || rings[i].drained_at(w.written)
                            || (w.log.flush_target() > w.durable && w.written > w.durable))
                })
        };
        // A bounded sleep: closing wakes readers, but a persister must never oversleep a close.
        let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_millis(50));
        parts.readable.park_until(ready, Some(deadline));
    }
    for (i, w) in writers.iter().enumerate() {
        rings[i].leave(w.gate_id);
    }
    // A spare holds no data: a closed directory keeps none (one left by a crash is deleted
    // when the directory is opened).
    if syncer.is_some() {
        drop(owned_syncer);
        for w in &writers {
            let _ = fs::remove_file(&w.log.dir.join(SPARE));
        }
    }
}
