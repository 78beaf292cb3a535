//! `Follower`: reading a data directory that another process owns, and its readers
//! `FollowerSubscription` and `FollowerMember` (subclasses of `Reader`, so `poll`,
//! `poll_batch` into Arrow, iteration and asyncio work as on a bus's readers).
#![deny(unsafe_code)]

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use ringbus_core as rb;

use crate::convert::start_of;
use crate::errors::{busy, closed_reader, Failure, Result};
use crate::options::durability_name;
use crate::reader::{Kind, Reader};

/// A read-only view of a data directory that another process (a `Bus(path)`) may have open.
#[pyclass(frozen, module = "ringbus")]
pub(crate) struct Follower {
    inner: rb::Follower,
}

#[pymethods]
impl Follower {
    #[new]
    fn new(path: PathBuf) -> Result<Self> {
        Ok(Self { inner: rb::Follower::open(path)? })
    }

    /// The data directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }

    /// The persisted topics in the directory now, sorted.
    fn topics(&self) -> Result<Vec<String>> {
        Ok(self.inner.topic_names()?)
    }

    /// The process id of the bus that has the directory open, or None.
    #[getter]
    fn owner_pid(&self) -> Option<u32> {
        self.inner.owner().map(|o| o.pid)
    }

    /// Per partition of `topic`: earliest, next and durable offsets and segment count, as
    /// the files say now.
    fn partitions<'py>(&self, py: Python<'py>, topic: &str) -> Result<Vec<Bound<'py, PyDict>>> {
        let parts = py.detach(|| self.inner.partitions(topic))?;
        let config = self.inner.topic_config(topic)?;
        parts
            .into_iter()
            .map(|p| {
                let d = PyDict::new(py);
                d.set_item("partition", p.partition)?;
                d.set_item("earliest_offset", p.earliest_offset)?;
                d.set_item("next_offset", p.next_offset)?;
                d.set_item("durable_offset", p.durable_offset)?;
                d.set_item("segments", p.segments)?;
                if let Some(c) = &config {
                    d.set_item("durability", durability_name(&c.durability))?;
                }
                Ok(d)
            })
            .collect()
    }

    /// Follows `topic` (waited for if it does not exist yet): every event of its partitions,
    /// from `start` ("earliest" by default, "latest", an offset, a datetime, or "committed"
    /// with a `name`). `durable_only`: only events the owner has fsynced. `name`: a durable
    /// follower whose `commit()` is resumed by `start="committed"`.
    #[pyo3(signature = (topic, start=None, *, partitions=None, durable_only=false, name=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        topic: &str,
        start: Option<&Bound<'_, PyAny>>,
        partitions: Option<Vec<u32>>,
        durable_only: bool,
        name: Option<String>,
    ) -> Result<Py<FollowerSubscription>> {
        let start = match start {
            None => rb::Start::Earliest,
            Some(s) => start_of(s, name.is_some())?,
        };
        let visibility = if durable_only { rb::Visibility::Durable } else { rb::Visibility::Written };
        let mut options = rb::FollowOptions::new().start(start).visibility(visibility);
        if let Some(parts) = partitions {
            options = options.partitions(parts);
        }
        if let Some(name) = name {
            options = options.name(name);
        }
        let sub = py.detach(|| self.inner.subscribe(topic, options))?;
        let reader = Reader::new(Kind::Follow(sub), None, topic.to_owned());
        Ok(Py::new(py, PyClassInitializer::from(reader).add_subclass(FollowerSubscription))?)
    }

    /// Joins follower group `name` of `topic`: its members, in any processes, share the
    /// partitions; a member that dies has its partitions taken over from their last commit.
    /// `start` ("earliest" by default, or "latest") applies to partitions never committed.
    #[pyo3(signature = (topic, name, start=None))]
    fn group(&self, py: Python<'_>, topic: &str, name: &str, start: Option<&str>) -> Result<Py<FollowerMember>> {
        let start = match start {
            None | Some("earliest") => rb::Start::Earliest,
            Some("latest") => rb::Start::Latest,
            Some(other) => {
                return Err(PyValueError::new_err(format!("start must be 'earliest' or 'latest', not '{other}'")).into())
            }
        };
        let member = py.detach(|| self.inner.join_group(topic, name, start))?;
        let reader = Reader::new(Kind::FollowMember(member), None, topic.to_owned());
        Ok(Py::new(py, PyClassInitializer::from(reader).add_subclass(FollowerMember { group: name.to_owned() }))?)
    }

    fn __repr__(&self) -> String {
        format!("Follower({:?})", self.inner.path())
    }
}

/// Commits a follower reader's positions (`FollowerSubscription` with a name, `FollowerMember`).
fn commit_reader(reader: &Reader, py: Python<'_>) -> Result<()> {
    let mut guard = reader.state.try_lock().ok_or_else(|| Failure::from(busy()))?;
    let kind = guard.as_mut().ok_or_else(closed_reader)?;
    match kind {
        Kind::Follow(f) => Ok(py.detach(|| f.commit())?),
        Kind::FollowMember(m) => Ok(py.detach(|| m.commit())?),
        _ => unreachable!("a follower reader holds a follower"),
    }
}

/// A follower's subscription (`Follower.subscribe`).
#[pyclass(frozen, extends = Reader, module = "ringbus")]
pub(crate) struct FollowerSubscription;

#[pymethods]
impl FollowerSubscription {
    /// Stores the positions of a named follower durably; `start="committed"` resumes after
    /// every event delivered so far.
    fn commit(slf: &Bound<'_, Self>) -> Result<()> {
        commit_reader(slf.as_super().get(), slf.py())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("FollowerSubscription(topic={:?})", slf.as_super().get().topic_name())
    }
}

/// A member of a follower group (`Follower.group`).
#[pyclass(frozen, extends = Reader, module = "ringbus")]
pub(crate) struct FollowerMember {
    group: String,
}

#[pymethods]
impl FollowerMember {
    /// Commits the positions of the partitions this member owns: the events handed out so
    /// far are not delivered again, even if this process dies.
    fn commit(slf: &Bound<'_, Self>) -> Result<()> {
        commit_reader(slf.as_super().get(), slf.py())
    }

    /// The group's name.
    #[getter]
    fn group(&self) -> &str {
        &self.group
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        format!("FollowerMember(topic={:?}, group={:?})", slf.as_super().get().topic_name(), slf.get().group)
    }
}
