//! The fsync thread of an `Async` topic: the persister hands it an fsync and goes on writing,
//! so an fsync (milliseconds on many disks) never holds back the writes behind it, which
//! followers in other processes read as soon as they are in the page cache.
//!
//! One job is in flight per partition at a time. A job covers every write the persister
//! completed before it queued the job (an fsync of the file covers all of them); its
//! `target` is where those writes ended, and it first rewrites the segment's durable field
//! with what the previous fsync made durable (the field only claims what is true). The
//! persister applies completions in its own loop (the only writer of the durable mark), and
//! waits for a partition's job before it seals that partition's segment.
//!
//! Between fsyncs the thread prepares each partition's next segment: `spare.seg.tmp`, written
//! with zeros in 1 MiB steps (an fsync job waiting goes first) and fsynced. The persister
//! turns it into the next segment at rotation (header, fsync, rename), so the new segment's
//! blocks are already written: on ext4 (and other filesystems with unwritten extents) an
//! fsync of writes into `fallocate`d space must also convert extents in the journal, and
//! writers stall behind that commit; overwriting written blocks needs no journal at all.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::format::DURABLE_FIELD;
use super::fs;
use super::io::{self, Io, IoChoice, Write};
use crate::error::Error;
use crate::ring::notify::Notifier;
use crate::sync::{thread, Arc, AtomicBool, Condvar, Mutex, Ordering};

/// An fsync for partition `part`.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) part: usize,
    /// The active segment (a duplicate descriptor of the persister's).
    pub(crate) file: File,
    /// Written to the durable field first, if any.
    pub(crate) field: Option<u64>,
    /// The end of the writes it covers.
    pub(crate) target: u64,
}

/// A finished job: its partition, target, the field it wrote, and how long its fsync took
/// (or the error if it failed).
pub(crate) type Done = (usize, u64, Option<u64>, Result<Duration, String>);

/// A spare segment to prepare for partition `part`: `path`, `bytes` long.
#[derive(Debug)]
pub(crate) struct SpareJob {
    pub(crate) part: usize,
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
}

/// A prepared spare: its partition, and the error if preparing it failed.
pub(crate) type SpareDone = (usize, Result<(), String>);

#[derive(Debug, Default)]
struct Queues {
    jobs: VecDeque<Job>,
    spares: VecDeque<SpareJob>,
    spares_done: Vec<SpareDone>,
    /// The partition whose job the fsync thread is running.
    running: Option<usize>,
    done: Vec<Done>,
    stop: bool,
}

/// The fsync thread and its queues.
#[derive(Debug)]
pub(crate) struct Syncer {
    shared: Arc<Shared>,
    handle: Option<thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    queues: Mutex<Queues>,
    /// Jobs to run (the fsync thread waits here) or done (`wait_for` waits here).
    changed: Condvar,
    /// Some job is done and not yet taken (Release after pushing it; the persister's wake-up
    /// check loads it with Acquire).
    has_done: AtomicBool,
    /// The persister's wake-up (it parks on the topic's readable notifier).
    wake: Arc<Notifier>,
}

impl Syncer {
    /// Starts the fsync thread of topic `name`; it wakes the persister through `wake`.
    pub(crate) fn spawn(name: &str, choice: &IoChoice, wake: Arc<Notifier>) -> Result<Self, Error> {
        let mut io = io::instance(choice).map_err(|e| Error::io("setting up the fsync thread's I/O", &e))?;
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            changed: Condvar::new(),
            has_done: AtomicBool::new(false),
            wake,
        });
        let s = shared.clone();
        let handle = thread::Builder::new()
            .name(format!("ringbus-fsync-{name}"))
            .spawn(move || run(&s, io.as_mut()))
            .map_err(|e| Error::io("starting the fsync thread", &e))?;
        Ok(Self { shared, handle: Some(handle) })
    }

    /// Queues the preparation of a spare segment (after every fsync job queued).
    pub(crate) fn prepare_spare(&self, job: SpareJob) {
        self.shared.queues.lock().spares.push_back(job);
        self.shared.changed.notify_all();
    }

    /// Takes the prepared spares.
    pub(crate) fn take_spares(&self) -> Vec<SpareDone> {
        let mut q = self.shared.queues.lock();
        self.shared.has_done.store(!q.done.is_empty(), Ordering::Relaxed);
        std::mem::take(&mut q.spares_done)
    }

    /// Queues a job.
    pub(crate) fn start(&self, job: Job) {
        self.shared.queues.lock().jobs.push_back(job);
        self.shared.changed.notify_all();
    }

    /// Whether a finished job waits to be taken.
    pub(crate) fn has_done(&self) -> bool {
        self.shared.has_done.load(Ordering::Acquire)
    }

    /// Takes the finished jobs.
    pub(crate) fn take_done(&self) -> Vec<Done> {
        let mut q = self.shared.queues.lock();
        self.shared.has_done.store(!q.spares_done.is_empty(), Ordering::Relaxed);
        std::mem::take(&mut q.done)
    }

    /// Waits until partition `part` has no job queued or running, and takes its finished jobs
    /// (other partitions' stay for [`take_done`](Self::take_done)).
    pub(crate) fn wait_for(&self, part: usize) -> Vec<Done> {
        let mut q = self.shared.queues.lock();
        while q.running == Some(part) || q.jobs.iter().any(|j| j.part == part) {
            q = self.shared.changed.wait(q, None).0;
        }
        let (mine, others): (Vec<Done>, Vec<Done>) = std::mem::take(&mut q.done).into_iter().partition(|d| d.0 == part);
        self.shared.has_done.store(!others.is_empty() || !q.spares_done.is_empty(), Ordering::Relaxed);
        q.done = others;
        mine
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shared.queues.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A spare being written: its job, file, and how far the zeros reach.
struct SpareWork {
    job: SpareJob,
    file: File,
    at: u64,
}

/// Bytes of zeros a spare gets per step.
const SPARE_STEP: usize = 1 << 20;

/// The fsync thread: runs fsync jobs in order, and between them prepares spares a step at a
/// time, until stopped (a spare left half written is deleted when the directory is opened).
fn run(shared: &Shared, io: &mut dyn Io) {
    let zeros = vec![0u8; SPARE_STEP];
    let mut spare: Option<SpareWork> = None;
    loop {
        let job = {
            let mut q = shared.queues.lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    q.running = Some(job.part);
                    break Some(job);
                }
                if q.stop {
                    return;
                }
                if spare.is_some() {
                    break None;
                }
                if let Some(next) = q.spares.pop_front() {
                    drop(q);
                    match fs::create_file(&next.path, true) {
                        Ok(file) => spare = Some(SpareWork { job: next, file, at: 0 }),
                        Err(e) => {
                            finish_spare(shared, next.part, Err(format!("creating {}: {e}", next.path.display())))
                        }
                    }
                    q = shared.queues.lock();
                    continue;
                }
                q = shared.changed.wait(q, None).0;
            }
        };
        let Some(job) = job else {
            // One step of the spare; an fsync job queued meanwhile runs before the next.
            let mut work = spare.take().expect("a spare in progress");
            let n = (work.job.bytes - work.at).min(SPARE_STEP as u64) as usize;
            let step = fs::write_at(&work.file, &zeros[..n], work.at);
            work.at += n as u64;
            match step {
                Ok(()) if work.at < work.job.bytes => spare = Some(work),
                Ok(()) => {
                    let synced =
                        fs::sync_data(&work.file).map_err(|e| format!("syncing {}: {e}", work.job.path.display()));
                    finish_spare(shared, work.job.part, synced);
                }
                Err(e) => finish_spare(shared, work.job.part, Err(format!("writing {}: {e}", work.job.path.display()))),
            }
            continue;
        };
        let field = job.field.map(u64::to_le_bytes);
        let writes: Vec<Write<'_>> =
            field.iter().map(|bytes| Write { offset: DURABLE_FIELD, bytes: bytes.as_slice() }).collect();
        let started = Instant::now();
        let result = io.write(&job.file, &writes, true).map(|()| started.elapsed()).map_err(|e| e.to_string());
        let mut q = shared.queues.lock();
        q.running = None;
        q.done.push((job.part, job.target, job.field, result));
        shared.has_done.store(true, Ordering::Release);
        drop(q);
        shared.changed.notify_all();
        shared.wake.notify();
    }
}

/// Reports a spare as prepared (or failed) to the persister.
fn finish_spare(shared: &Shared, part: usize, result: Result<(), String>) {
    let mut q = shared.queues.lock();
    q.spares_done.push((part, result));
    shared.has_done.store(true, Ordering::Release);
    drop(q);
    shared.wake.notify();
}
