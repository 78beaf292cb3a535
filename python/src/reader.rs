//! Readers: `Reader` (polling, iteration, asyncio helpers) and its subclasses `Subscription`
//! (fanout), `Member` (work queue), and the followers' `FollowerSubscription` and
//! `FollowerMember` (`follower.rs`).
#![deny(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use ringbus_core as rb;

use crate::arrow::Columns;
use crate::convert::{deadline, next_slice};
use crate::errors::{busy, closed_reader, Failure, Result};
use crate::event::{Event, EventBatch};
use crate::waiter::{Source, Waiter};

pub(crate) enum Kind {
    Fanout(rb::Subscription),
    Member(rb::Member),
    Follow(rb::FollowerSubscription),
    FollowMember(rb::FollowerMember),
}

impl Kind {
    fn try_poll(&mut self) -> std::result::Result<Option<rb::EventRef<'_>>, rb::Error> {
        match self {
            Kind::Fanout(s) => s.try_poll(),
            Kind::Member(m) => m.try_poll(),
            Kind::Follow(f) => f.try_poll(),
            Kind::FollowMember(m) => m.try_poll(),
        }
    }

    /// A follower's wait for the owner's next write (bus readers wait on their `Readiness`).
    fn wait_follow(&mut self, slice: Duration) -> bool {
        match self {
            Kind::Follow(f) => f.wait_readable(slice),
            Kind::FollowMember(m) => m.wait_readable(slice),
            Kind::Fanout(_) | Kind::Member(_) => true,
        }
    }

    fn poll_batch(
        &mut self,
        max: usize,
        timeout: Duration,
        f: impl FnMut(rb::EventRef<'_>),
    ) -> std::result::Result<usize, rb::Error> {
        match self {
            Kind::Fanout(s) => s.poll_batch(max, Some(timeout), f),
            Kind::Member(m) => m.poll_batch(max, Some(timeout), f),
            Kind::Follow(s) => s.poll_batch(max, Some(timeout), f),
            Kind::FollowMember(m) => m.poll_batch(max, Some(timeout), f),
        }
    }
}

/// What subscriptions and group members share: polling, iteration, async iteration.
#[pyclass(frozen, subclass, module = "ringbus")]
pub(crate) struct Reader {
    pub(crate) state: Mutex<Option<Kind>>,
    /// What a bus reader waits on; a follower (None) waits in its core reader (inotify).
    readiness: Option<rb::Readiness>,
    topic: String,
    /// The waiter this reader's awaits reuse (made at the first; see `_waiter`).
    waiter: Mutex<Option<Py<Waiter>>>,
}

impl Reader {
    /// A reader over `kind`, which `readiness` watches (None for followers), of topic `topic`.
    pub(crate) fn new(kind: Kind, readiness: Option<rb::Readiness>, topic: String) -> Self {
        Self { state: Mutex::new(Some(kind)), readiness, topic, waiter: Mutex::new(None) }
    }

    /// The topic's name.
    pub(crate) fn topic_name(&self) -> &str {
        &self.topic
    }

    /// Waits up to `slice` until the reader may have something; whether it may.
    fn wait(&self, py: Python<'_>, slice: Duration) -> Result<bool> {
        match &self.readiness {
            Some(readiness) => Ok(py.detach(|| readiness.wait(Some(slice)))),
            None => py.detach(|| {
                let mut guard = self.state.try_lock().ok_or_else(|| Failure::from(busy()))?;
                let kind = guard.as_mut().ok_or_else(closed_reader)?;
                Ok(kind.wait_follow(slice))
            }),
        }
    }

    /// Runs `f` on the core reader, which must not be in use by another thread.
    fn with<T>(&self, f: impl FnOnce(&mut Kind) -> Result<T>) -> Result<T> {
        let mut guard = self.state.try_lock().ok_or_else(busy)?;
        let kind = guard.as_mut().ok_or_else(closed_reader)?;
        f(kind)
    }
}

#[pymethods]
impl Reader {
    /// The next event, waiting up to `timeout` seconds (None: until one comes). None when the
    /// timeout passed. ClosedError once the topic is closed and drained.
    #[pyo3(signature = (timeout=None))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> Result<Option<Event>> {
        let deadline = deadline(timeout)?;
        loop {
            let found = self.with(|kind| match kind.try_poll() {
                Ok(Some(e)) => Ok(Some(Event::from_ref(py, &e))),
                Ok(None) => Ok(None),
                Err(e) => Err(e.into()),
            })?;
            if found.is_some() {
                return Ok(found);
            }
            let Some(slice) = next_slice(deadline) else { return Ok(None) };
            self.wait(py, slice)?;
            py.check_signals()?;
        }
    }

    /// Up to `max_events` events, waiting up to `timeout` seconds (None: no limit) for the
    /// first; an empty batch when the timeout passed.
    #[pyo3(signature = (max_events=4096, timeout=None))]
    fn poll_batch(&self, py: Python<'_>, max_events: usize, timeout: Option<f64>) -> Result<EventBatch> {
        if max_events == 0 {
            return Err(PyValueError::new_err("max_events must be at least 1").into());
        }
        let deadline = deadline(timeout)?;
        let mut columns = Columns::with_capacity(max_events.min(1 << 16));
        loop {
            let slice = next_slice(deadline).unwrap_or(Duration::ZERO);
            let polled = py.detach(|| {
                let mut guard = self.state.try_lock().ok_or(Fail::Busy)?;
                let kind = guard.as_mut().ok_or(Fail::Core(rb::Error::Closed))?;
                kind.poll_batch(max_events, slice, |e| columns.push(&e)).map_err(Fail::Core)
            });
            match polled {
                Ok(n) if n > 0 => break,
                Ok(_) => {}
                Err(Fail::Busy) => return Err(busy().into()),
                Err(Fail::Core(e)) => return Err(e.into()),
            }
            if slice.is_zero() {
                break;
            }
            py.check_signals()?;
        }
        Ok(EventBatch::new(Arc::new(columns)))
    }

    /// Waits up to `timeout` seconds until the reader may have something to read; whether it
    /// may. Used by the asyncio helpers; it takes no event.
    fn _wait_ready(&self, py: Python<'_>, timeout: f64) -> Result<bool> {
        let deadline = deadline(Some(timeout))?;
        loop {
            let Some(slice) = next_slice(deadline) else {
                return Ok(self.readiness.as_ref().map_or(true, rb::Readiness::is_ready));
            };
            if self.wait(py, slice)? {
                return Ok(true);
            }
            py.check_signals()?;
        }
    }

    /// A waiter for asyncio (see `_aio.py`); None for followers, whose waits run on a worker
    /// thread.
    /// The waiter is claimed for the caller's await; `release()` it after. The reader keeps
    /// one and hands it out again (a socket pair less per await); an await that finds it held
    /// by another gets one of its own.
    fn _waiter(&self, py: Python<'_>) -> Result<Option<Py<Waiter>>> {
        let Some(readiness) = &self.readiness else { return Ok(None) };
        let mut kept = self.waiter.lock();
        if let Some(w) = kept.as_ref() {
            if w.get().claim() {
                return Ok(Some(w.clone_ref(py)));
            }
        }
        let w = Py::new(py, Waiter::new(Source::Readiness(readiness.clone()))?)?;
        w.get().claim();
        if kept.is_none() {
            *kept = Some(w.clone_ref(py));
        }
        Ok(Some(w))
    }

    /// Awaitable `poll`: waits as an asyncio task (a follower's on a worker thread), taking
    /// events only on the loop's thread.
    #[pyo3(signature = (timeout=None))]
    fn poll_async<'py>(slf: &Bound<'py, Self>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._aio")?.getattr("poll")?.call1((slf, timeout))
    }

    /// Awaitable `poll_batch`.
    #[pyo3(signature = (max_events=4096, timeout=None))]
    fn poll_batch_async<'py>(
        slf: &Bound<'py, Self>,
        max_events: usize,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._aio")?.getattr("poll_batch")?.call1((slf, max_events, timeout))
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Event> {
        match self.poll(py, None).map_err(PyErr::from) {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(PyStopIteration::new_err(())),
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => Err(e),
            Err(e) => {
                let closed = py.import("ringbus._errors")?.getattr("ClosedError")?;
                if e.is_instance(py, &closed) {
                    Err(PyStopIteration::new_err(()))
                } else {
                    Err(e)
                }
            }
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        // The helper raises StopAsyncIteration once the topic is closed and drained.
        slf.py().import("ringbus._aio")?.getattr("anext")?.call1((slf,))
    }

    /// Leaves the topic: a member's unprocessed events go to the other members. Later polls
    /// raise ClosedError. Idempotent.
    fn close(&self) -> Result<()> {
        let mut guard = self.state.try_lock().ok_or_else(busy)?;
        guard.take();
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> Result<bool> {
        self.close()?;
        Ok(false)
    }

    /// The topic's name.
    #[getter]
    fn topic(&self) -> &str {
        &self.topic
    }
}

/// Why a detached poll failed (errors become exceptions once attached again).
enum Fail {
    Busy,
    Core(rb::Error),
}

/// A fanout subscription (`Topic.subscribe`).
#[pyclass(frozen, extends = Reader, module = "ringbus")]
pub(crate) struct Subscription;

#[pymethods]
impl Subscription {
    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("Subscription(topic={:?})", slf.as_super().get().topic)
    }
}

/// A member of a work-queue group (`Topic.group`).
#[pyclass(frozen, extends = Reader, module = "ringbus")]
pub(crate) struct Member {
    group: rb::Group,
}

impl Member {
    /// The Python side of a member of `group`.
    pub(crate) fn new(group: rb::Group) -> Self {
        Self { group }
    }
}

#[pymethods]
impl Member {
    /// Commits for the group: every event this member was handed counts as processed; the
    /// group's offsets are written and fsynced. Returns them, one per partition.
    /// NotPersistedError on an in-memory topic; ClosedError once the bus is closed.
    fn commit(slf: &Bound<'_, Self>) -> Result<Vec<u64>> {
        let py = slf.py();
        let reader = slf.as_super().get();
        let mut guard = reader.state.try_lock().ok_or_else(busy)?;
        let kind = guard.as_mut().ok_or_else(closed_reader)?;
        let Kind::Member(m) = kind else { unreachable!("a Member holds a group member") };
        Ok(py.detach(|| m.commit())?)
    }

    /// The group's name.
    #[getter]
    fn group(&self) -> &str {
        self.group.name()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("Member(topic={:?}, group={:?})", slf.as_super().get().topic, slf.get().group.name())
    }
}
