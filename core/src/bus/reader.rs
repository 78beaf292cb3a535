//! What every reader shares: joining a ring, switching from segment files to the ring, backing
//! off while a producer streams, and the poll loop. [`Subscription`](crate::Subscription) and
//! [`Member`](crate::Member) implement [`ReaderCore`] (find the next event, take it, wait) and
//! get `try_poll`, `poll` and the batch loop from here, once, so both behave alike: an error
//! met after some events of a batch were handed out is kept and returned by the next call.
#![deny(unsafe_code)]

use std::time::{Duration, Instant};

use super::event::EventRef;
use crate::config::Start;
use crate::error::Error;
use crate::ring::notify::Notifier;
use crate::ring::{GateSpec, JoinAt, JoinError, Joined, Ring};
use crate::sync::{thread, Arc};

/// A batch call that returned at least this many events found the producer streaming: the
/// next call that finds nothing waits [`BACK_OFF`] before it looks at the ring again.
pub(super) const STREAMING: usize = 2;

/// How long a streaming reader stays off the ring once it caught up. Reading the frame a
/// producer is writing takes its cache line away mid-write (a cross-core round trip for each
/// of the producer's next stores to it); letting the producer fill a few lines first turns
/// that into one transfer per line, read in a batch. A reader that gets one event per call
/// (a request-reply exchange) never waits here. 20 µs lets a producer at 40 M events/s fill
/// about 800 frames (26 KB of 32-byte frames, against a default ring of 4 MiB; a ring smaller
/// than that makes its producer wait for room meanwhile); shorter back-offs measured slower (5 µs:
/// MPSC 8-byte 19.5-25 M/s against 30-45 at 20 µs; the README's table of steps).
pub(super) const BACK_OFF: Duration = Duration::from_micros(20);

/// Pauses between two clock reads in [`back_off`].
const PAUSES_PER_CLOCK_READ: u32 = 16;

/// Spins for [`BACK_OFF`] (or until `deadline`) without touching shared memory.
#[cold]
fn back_off(deadline: Option<Instant>) {
    let now = Instant::now();
    let until = deadline.map_or(now + BACK_OFF, |d| d.min(now + BACK_OFF));
    // A clock read costs more than a pause: look at the clock every few pauses only (a
    // deadline is overshot by at most those pauses, about a microsecond).
    while Instant::now() < until {
        for _ in 0..PAUSES_PER_CLOCK_READ {
            std::hint::spin_loop();
        }
    }
}

/// `i % n` for `i < 2 * n`, without a division (on the per-event path).
#[inline]
pub(crate) fn wrap(i: usize, n: usize) -> usize {
    if i >= n {
        i - n
    } else {
        i
    }
}

/// The error a failed join of `partition` at `offset` reports.
pub(crate) fn join_error(partition: u32, offset: u64, e: JoinError) -> Error {
    match e {
        JoinError::Trimmed { earliest } => Error::OffsetTrimmed { partition, offset, earliest },
        JoinError::Beyond { next } => Error::OffsetBeyondEnd { partition, offset, next },
        JoinError::NotABoundary => Error::NotAnEventOffset { partition, offset },
        JoinError::Pending => Error::JoinPending { partition, offset },
    }
}

/// Joins a ring at `start`, retrying for a moment (a second) when the offset sits behind a
/// frame whose producer has not committed it yet.
pub(crate) fn join_ring(ring: &Ring, partition: u32, start: Start, gate: Option<GateSpec>) -> Result<Joined, Error> {
    let at = match start {
        Start::Earliest => JoinAt::Earliest,
        Start::Latest => JoinAt::Latest,
        Start::Offset(n) => JoinAt::Offset(n),
        // The reader skips what is older (see `Subscription`).
        Start::Timestamp(_) => JoinAt::Earliest,
        Start::Committed => {
            return Err(Error::InvalidConfig {
                field: "start",
                reason: "Start::Committed is for groups of persisted topics".into(),
            })
        }
    };
    let offset = if let Start::Offset(n) = start { n } else { 0 };
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match ring.join(at, gate.clone()) {
            Ok(j) => return Ok(j),
            Err(JoinError::Pending) if Instant::now() < deadline => thread::yield_now(),
            Err(e) => return Err(join_error(partition, offset, e)),
        }
    }
}

/// The disk-to-ring switch: a reader of segment files has reached `at`. If the ring still holds
/// `at`, joins it there, with `gate` (`Ok(Some)`: read the ring from now on, no gap and no
/// duplicate); if the ring has moved on past it meanwhile, `Ok(None)`: keep reading disk.
pub(crate) fn switch_to_ring(
    ring: &Ring,
    partition: u32,
    at: u64,
    gate: Option<GateSpec>,
) -> Result<Option<Joined>, Error> {
    if at < ring.earliest_hint() {
        return Ok(None);
    }
    match ring.join(JoinAt::Offset(at), gate) {
        Ok(joined) => Ok(Some(joined)),
        Err(JoinError::Trimmed { .. }) => Ok(None),
        Err(e) => Err(join_error(partition, at, e)),
    }
}

/// The poll loop's own state, kept by each reader.
#[derive(Debug, Default)]
pub(crate) struct LoopState {
    /// An error met after some events of a batch were handed out, returned by the next call.
    pending: Option<Error>,
    /// Events the last batch call returned (see [`STREAMING`]).
    pub(super) last_batch: usize,
}

/// What a kind of reader provides to the shared poll loop.
pub(crate) trait ReaderCore {
    /// Where a found event lies, until it is taken.
    type Found: Copy;

    /// The loop's state.
    fn loop_state(&mut self) -> &mut LoopState;

    /// Releases what the previous call handed out, so producers may reuse it (a gated
    /// subscription moves its gate). Called at the start of every poll.
    fn release(&mut self) {}

    /// The next event, if one is ready; never waits. A reader that claims runs of events
    /// claims at most `max_run` at once.
    fn find(&mut self, max_run: usize) -> Result<Option<Self::Found>, Error>;

    /// Moves past `found` and returns it, with whether it lies in the ring (valid, unchanged,
    /// until the reader's next `&mut` call) rather than in a copy (valid for the call of `f`).
    fn take(&mut self, found: Self::Found) -> (EventRef<'_>, bool);

    /// Whether some event may be ready (or the topic is drained): the condition [`wait`]
    /// and the async API's tasks wait for. Reads with Acquire loads.
    ///
    /// [`wait`]: Self::wait
    fn is_ready(&self) -> bool;

    /// The notifier producers wake when events are committed.
    fn readable(&self) -> &Arc<Notifier>;

    /// Waits until [`is_ready`](Self::is_ready); false once `deadline` passed.
    fn wait(&self, deadline: Option<Instant>) -> bool;

    /// Hands up to `max` ready events to `f` straight from the ring, without a `find` and
    /// `take` per event, until `f` returns false: (events handed out, whether `f` wants
    /// more). Readers without such a path hand out none.
    fn drain<F: FnMut(EventRef<'_>, bool) -> bool>(&mut self, _max: usize, _f: &mut F) -> (usize, bool) {
        (0, true)
    }

    /// Called after every batch call (a member releases a run it has handed out whole).
    fn end_batch(&mut self) {}
}

/// The start of a single-event poll: releases what the last call handed out, then reports
/// the error a batch kept for this call, if any.
fn begin<R: ReaderCore>(r: &mut R) -> Result<(), Error> {
    r.release();
    r.loop_state().pending.take().map_or(Ok(()), Err)
}

/// The next event if one is ready; never waits. Takes a run of at most `run` events.
pub(crate) fn try_poll<R: ReaderCore>(r: &mut R, run: usize) -> Result<Option<EventRef<'_>>, Error> {
    begin(r)?;
    match r.find(run)? {
        Some(found) => Ok(Some(r.take(found).0)),
        None => Ok(None),
    }
}

/// The next event, waiting until `timeout` (`None`: no limit); `Ok(None)` when it passed.
pub(crate) fn poll<R: ReaderCore>(
    r: &mut R,
    run: usize,
    timeout: Option<Duration>,
) -> Result<Option<EventRef<'_>>, Error> {
    begin(r)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let found = loop {
        if let Some(found) = r.find(run)? {
            break found;
        }
        if !r.wait(deadline) {
            return Ok(None);
        }
    };
    Ok(Some(r.take(found).0))
}

/// The batch loop: releases what the last call handed out, then hands up to `max` events to
/// `f` with whether each is in place, waiting until `timeout` for the first, and stops after an
/// event for which `f` returns false. Returns how many were handed out. An error before the
/// first event is returned; one after it is kept for the next call.
pub(crate) fn batch<R, F>(r: &mut R, max: usize, timeout: Option<Duration>, f: &mut F) -> Result<usize, Error>
where
    R: ReaderCore,
    F: FnMut(EventRef<'_>, bool) -> bool,
{
    r.release();
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut n = 0;
    while n < max {
        if r.loop_state().pending.is_none() {
            let (k, go_on) = r.drain(max - n, f);
            n += k;
            if !go_on {
                break;
            }
            if k > 0 {
                continue;
            }
        }
        let found = match r.loop_state().pending.take() {
            Some(e) => Err(e),
            None => r.find(max - n),
        };
        match found {
            Ok(Some(found)) => {
                n += 1;
                let (event, in_place) = r.take(found);
                if !f(event, in_place) {
                    break;
                }
            }
            Ok(None) if n > 0 || timeout == Some(Duration::ZERO) => break,
            Ok(None) => {
                if r.loop_state().last_batch >= STREAMING {
                    back_off(deadline);
                }
                if !r.wait(deadline) {
                    break;
                }
            }
            Err(e) if n == 0 => return Err(e),
            Err(e) => {
                r.loop_state().pending = Some(e);
                break;
            }
        }
    }
    r.end_batch();
    r.loop_state().last_batch = n;
    Ok(n)
}
