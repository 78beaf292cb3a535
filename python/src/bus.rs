//! `Bus`: in memory, or persisted in a data directory; a context manager.
#![deny(unsafe_code)]

use std::path::PathBuf;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use ringbus_core as rb;

use crate::errors::{Failure, Result};
use crate::options::{durability_name, TopicOptions};
use crate::topic::Topic;

/// An event bus: in memory, or persisted in a data directory.
#[pyclass(frozen, module = "ringbus")]
pub(crate) struct Bus {
    /// None once closed: dropping the core bus releases the data directory's lock, so the
    /// directory can be opened again while this object lives on.
    inner: Mutex<Option<rb::Bus>>,
    path: Option<PathBuf>,
    defaults: TopicOptions,
}

impl Bus {
    /// The core bus (a cheap clone); ClosedError after `close`.
    fn core(&self) -> Result<rb::Bus> {
        self.inner.lock().clone().ok_or(Failure::Core(rb::Error::Closed))
    }
}

#[pymethods]
impl Bus {
    #[new]
    #[pyo3(signature = (path=None, **options))]
    fn new(py: Python<'_>, path: Option<PathBuf>, options: Option<&Bound<'_, PyDict>>) -> Result<Self> {
        let defaults = TopicOptions::from_kwargs(py, options)?;
        let inner = match &path {
            None => rb::Bus::new(),
            Some(path) => py.detach(|| rb::Bus::open(path))?,
        };
        let path = inner.data_dir().map(|p| p.to_path_buf());
        Ok(Self { inner: Mutex::new(Some(inner)), path, defaults })
    }

    /// The topic `name`: opened if it exists, created with the options (over the bus's
    /// defaults) otherwise.
    #[pyo3(signature = (name, partitions=None, durability=None, **options))]
    fn topic(
        &self,
        py: Python<'_>,
        name: &str,
        partitions: Option<u32>,
        durability: Option<String>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> Result<Topic> {
        let mut given = TopicOptions::from_kwargs(py, options)?;
        if let Some(p) = partitions {
            given.give(py, "partitions", &p.into_pyobject(py)?.into_any())?;
        }
        if let Some(d) = durability {
            given.give(py, "durability", &d.into_pyobject(py)?.into_any())?;
        }
        let bus = self.core()?;
        if let Some(existing) = bus.topic(name) {
            let config = existing.config();
            if let Some(p) = given.get("partitions") {
                if p != config.partitions.to_string() {
                    return Err(Failure::from(rb::Error::InvalidConfig {
                        field: "partitions",
                        reason: format!("topic '{name}' exists with {} partitions, not {p}", config.partitions),
                    }));
                }
            }
            if let Some(d) = given.get("durability") {
                if d != durability_name(&config.durability) {
                    return Err(Failure::from(rb::Error::InvalidConfig {
                        field: "durability",
                        reason: format!(
                            "topic '{name}' exists with {} durability, not {d}",
                            durability_name(&config.durability)
                        ),
                    }));
                }
            }
            return Ok(Topic::new(existing));
        }
        let config = given.over(&self.defaults).config()?;
        match py.detach(|| bus.create_topic(name, config)) {
            Ok(topic) => Ok(Topic::new(topic)),
            // Created by another thread meanwhile: open it.
            Err(rb::Error::TopicExists(_)) if bus.topic(name).is_some() => {
                Ok(Topic::new(bus.topic(name).expect("checked")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Names of the bus's topics, sorted (none once closed).
    fn topics(&self) -> Vec<String> {
        let mut names = self.inner.lock().as_ref().map(|b| b.topic_names()).unwrap_or_default();
        names.sort();
        names
    }

    /// Every counter of the bus in the OpenMetrics text format ("" once closed).
    fn metrics(&self) -> String {
        self.inner.lock().as_ref().map(|b| b.metrics()).unwrap_or_default()
    }

    /// The data directory, or None in memory.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// Closes every topic: publishing fails, readers drain, persisted topics are written and
    /// fsynced, and the data directory is released. Idempotent.
    fn close(&self, py: Python<'_>) {
        let bus = self.inner.lock().take();
        if let Some(bus) = bus {
            py.detach(move || {
                bus.close();
                drop(bus);
            });
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let topics = self.topics().len();
        let closed = if self.inner.lock().is_none() { ", closed" } else { "" };
        match &self.path {
            Some(p) => format!("Bus(path={:?}, topics={topics}{closed})", p.display().to_string()),
            None => format!("Bus(path=None, topics={topics}{closed})"),
        }
    }
}
