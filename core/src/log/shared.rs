//! What every reader and publisher of one persisted partition shares with its persister: the
//! segment list, how far the log is written and durable, the poison latch, retention pins.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;

use super::format::segment_name;
use crate::error::Error;
use crate::ring::notify::Notifier;
use crate::ring::wait::WaitStrategy;
use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, Ordering, RwLock, Weak};

/// One persisted partition's shared log state.
///
/// The persister is the only writer of `segments` (appends; retention removes the oldest),
/// `written`, `durable`, `fsyncs` and the poison latch; readers and publishers only load them.
#[derive(Debug)]
pub(crate) struct LogShared {
    pub(crate) partition: u32,
    pub(crate) dir: PathBuf,
    pub(crate) max_frame: usize,
    /// First offsets of the segments, ascending.
    pub(crate) segments: RwLock<Vec<u64>>,
    /// Bytes below this position are in segment files (maybe not yet durable). Release-stored
    /// by the persister after the write completed; readers of segment files Acquire-load it
    /// and read only below it.
    written: AtomicU64,
    /// Bytes below this position are durable (fsynced). Release-stored by the persister after
    /// the fsync completed; `Sync` publishers Acquire-load it (then are acknowledged).
    durable: AtomicU64,
    /// Set by the persister when a write or fsync fails; never cleared.
    poisoned: Mutex<Option<String>>,
    /// `poisoned.is_some()`, readable without the lock: set (Release) after the message.
    poisoned_flag: AtomicBool,
    /// `Sync` publishers wait here for `durable`.
    pub(crate) synced: Notifier,
    /// fsyncs so far (a statistic: Relaxed).
    fsyncs: AtomicU64,
    /// How long each durable round took (see [`observe_fsync`](Self::observe_fsync)).
    fsync_seconds: Histogram,
    /// Torn-tail bytes recovery cut off when the partition was opened (a statistic).
    truncated_on_open: AtomicU64,
    /// `Topic::flush` wants everything below this durable now (a request the persister reads).
    flush_target: AtomicU64,
    /// Positions of readers of segment files: retention deletes no segment at or after the
    /// lowest.
    pins: Mutex<Vec<Weak<AtomicU64>>>,
    /// The last retention failure (deleting a segment), if any.
    pub(crate) retention_error: Mutex<Option<String>>,
}

impl LogShared {
    /// State for partition `partition` in `dir`, whose log holds `segments` and ends at `next`
    /// (recovery cut `truncated` torn bytes off it).
    pub(crate) fn new(
        partition: u32,
        dir: PathBuf,
        max_frame: usize,
        segments: Vec<u64>,
        next: u64,
        truncated: u64,
    ) -> Self {
        Self {
            partition,
            dir,
            max_frame,
            segments: RwLock::new(segments),
            written: AtomicU64::new(next),
            durable: AtomicU64::new(next),
            poisoned: Mutex::new(None),
            poisoned_flag: AtomicBool::new(false),
            synced: Notifier::new(),
            fsyncs: AtomicU64::new(0),
            fsync_seconds: Histogram::new(FSYNC_BUCKETS),
            truncated_on_open: AtomicU64::new(truncated),
            flush_target: AtomicU64::new(0),
            pins: Mutex::new(Vec::new()),
            retention_error: Mutex::new(None),
        }
    }

    /// The oldest offset kept on disk.
    pub(crate) fn earliest(&self) -> u64 {
        self.segments.read().first().copied().unwrap_or(0)
    }

    /// Everything below this offset is in segment files (Acquire: pairs with
    /// [`publish_written`](Self::publish_written), so the bytes below can be read).
    #[inline]
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// The persister: bytes below `to` are written to segment files (Release: readers that
    /// load `written` see them in the files).
    pub(crate) fn publish_written(&self, to: u64) {
        self.written.store(to, Ordering::Release);
    }

    /// Everything below this offset is durable (Acquire: pairs with
    /// [`publish_durable`](Self::publish_durable)).
    #[inline]
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// The persister: bytes below `to` are fsynced. Counts the fsync and wakes the `Sync`
    /// publishers waiting for it.
    pub(crate) fn publish_durable(&self, to: u64) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.durable.store(to, Ordering::Release);
        self.synced.notify();
    }

    /// The persister: one durable round took `took` (a `Sync` topic's write and fsync, or
    /// an `Async` topic's fsync). Once per fsync, never on a publish or read path.
    pub(crate) fn observe_fsync(&self, took: Duration) {
        self.fsync_seconds.observe(took.as_secs_f64());
    }

    /// The durable rounds' durations so far (a shared handle, for metrics).
    pub(crate) fn fsync_histogram(&self) -> Histogram {
        self.fsync_seconds.clone()
    }

    /// Asks the persister to make everything below `target` durable now (`Topic::flush`).
    pub(crate) fn request_flush(&self, target: u64) {
        self.flush_target.fetch_max(target, Ordering::AcqRel);
    }

    /// What a flush asked to make durable.
    pub(crate) fn flush_target(&self) -> u64 {
        self.flush_target.load(Ordering::Acquire)
    }

    /// Registers a reader of segment files at `position` (it stores its position there as it
    /// reads).
    pub(crate) fn pin(&self, position: u64) -> Arc<AtomicU64> {
        let pin = Arc::new(AtomicU64::new(position));
        let mut pins = self.pins.lock();
        pins.retain(|w| w.strong_count() > 0);
        pins.push(Arc::downgrade(&pin));
        pin
    }

    /// The lowest position a reader of segment files is at (u64::MAX: none).
    pub(crate) fn lowest_pin(&self) -> u64 {
        let pins = self.pins.lock();
        pins.iter().filter_map(Weak::upgrade).map(|p| p.load(Ordering::Acquire)).min().unwrap_or(u64::MAX)
    }

    /// Latches the partition as failed with `reason` (the persister, once): publishers and
    /// waiters get [`Error::Poisoned`] from now on.
    pub(crate) fn poison(&self, reason: String) {
        *self.poisoned.lock() = Some(reason);
        self.poisoned_flag.store(true, Ordering::Release);
        self.synced.wake_all();
    }

    /// The error a poisoned partition returns, if it is poisoned.
    pub(crate) fn poison_error(&self) -> Option<Error> {
        self.poisoned.lock().as_ref().map(|r| Error::Poisoned { partition: self.partition, reason: r.clone() })
    }

    /// A snapshot for [`PartitionStats`](crate::PartitionStats).
    pub(crate) fn stats(&self) -> LogStats {
        let segments = self.segments.read();
        LogStats {
            earliest_offset: segments.first().copied().unwrap_or(0),
            segments: segments.len(),
            written_offset: self.written(),
            durable_offset: self.durable(),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            truncated_on_open: self.truncated_on_open.load(Ordering::Relaxed),
            poisoned: self.poisoned.lock().clone(),
            retention_error: self.retention_error.lock().clone(),
        }
    }

    /// The path of the segment that starts at `first`.
    pub(crate) fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment_name(first))
    }

    /// Whether everything below `end` is durable, or the partition is poisoned (Acquire loads:
    /// a waiter's condition).
    pub(crate) fn durable_or_poisoned(&self, end: u64) -> bool {
        self.durable() >= end || self.poisoned_flag.load(Ordering::Acquire)
    }

    /// `Ok(true)` if everything below `end` is durable, `Ok(false)` if not yet,
    /// [`Error::Poisoned`] if it never will be.
    pub(crate) fn check_durable(&self, end: u64) -> Result<bool, Error> {
        if self.durable() >= end {
            return Ok(true);
        }
        match self.poisoned_flag.load(Ordering::Acquire) {
            true => Err(self.poison_error().expect("the flag is set after the message")),
            false => Ok(false),
        }
    }

    /// Waits until everything below `end` is durable (Ok), the partition is poisoned
    /// ([`Error::Poisoned`]), or the deadline passes ([`Error::FlushTimeout`]).
    pub(crate) fn wait_durable(&self, end: u64, wait: WaitStrategy, deadline: Option<Instant>) -> Result<(), Error> {
        let ready = || self.durable_or_poisoned(end);
        if !ready() && !wait.wait(&self.synced, ready, deadline) {
            return Err(Error::FlushTimeout);
        }
        if self.durable() >= end {
            return Ok(());
        }
        Err(self.poison_error().unwrap_or(Error::FlushTimeout))
    }
}

/// Upper bounds (seconds) of the fsync-latency histogram's buckets: 50 µs to 1 s.
pub(crate) const FSYNC_BUCKETS: [f64; 13] =
    [0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// A snapshot of a persisted partition's log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// The oldest offset kept on disk.
    pub earliest_offset: u64,
    /// Everything below this offset is written to segment files.
    pub written_offset: u64,
    /// Everything below this offset is durable (fsynced).
    pub durable_offset: u64,
    /// Segment files.
    pub segments: usize,
    /// fsyncs since the bus opened.
    pub fsyncs: u64,
    /// Bytes of a torn tail cut off when the bus opened (a crash left a partial write).
    pub truncated_on_open: u64,
    /// Why the partition stopped accepting events, if a write or fsync failed.
    pub poisoned: Option<String>,
    /// The last failure to delete a segment for retention (retried every second).
    pub retention_error: Option<String>,
}
