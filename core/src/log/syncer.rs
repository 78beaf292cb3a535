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

use std::collections::VecDeque;
use std::fs::File;

use super::format::DURABLE_FIELD;
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

/// A finished job: its partition, target, the field it wrote, and the error if it failed.
pub(crate) type Done = (usize, u64, Option<u64>, Result<(), String>);

#[derive(Debug, Default)]
struct Queues {
    jobs: VecDeque<Job>,
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
        self.shared.has_done.store(false, Ordering::Relaxed);
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
        self.shared.has_done.store(!others.is_empty(), Ordering::Relaxed);
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

/// The fsync thread: runs jobs in order until stopped with nothing queued.
fn run(shared: &Shared, io: &mut dyn Io) {
    loop {
        let job = {
            let mut q = shared.queues.lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    q.running = Some(job.part);
                    break job;
                }
                if q.stop {
                    return;
                }
                q = shared.changed.wait(q, None).0;
            }
        };
        let field = job.field.map(u64::to_le_bytes);
        let writes: Vec<Write<'_>> =
            field.iter().map(|bytes| Write { offset: DURABLE_FIELD, bytes: bytes.as_slice() }).collect();
        let result = io.write(&job.file, &writes, true).map_err(|e| e.to_string());
        let mut q = shared.queues.lock();
        q.running = None;
        q.done.push((job.part, job.target, job.field, result));
        shared.has_done.store(true, Ordering::Release);
        drop(q);
        shared.changed.notify_all();
        shared.wake.notify();
    }
}
