//! Errors: every core error becomes an exception of `ringbus._errors` in one place. A binding
//! call returns [`Result`], whose error is the core's error or a Python exception, so `?`
//! works on both and pyo3 raises the mapped exception.
#![deny(unsafe_code)]

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use ringbus_core as rb;

/// Why a binding call failed: the core's error (mapped to its exception when raised) or an
/// exception already made.
pub(crate) enum Failure {
    Core(rb::Error),
    Python(PyErr),
}

/// The result of a binding call.
pub(crate) type Result<T> = std::result::Result<T, Failure>;

impl From<rb::Error> for Failure {
    fn from(e: rb::Error) -> Self {
        Failure::Core(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Python(e)
    }
}

impl From<std::convert::Infallible> for Failure {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<std::ffi::NulError> for Failure {
    fn from(e: std::ffi::NulError) -> Self {
        Failure::Python(e.into())
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Core(e) => Python::attach(|py| exception(py, e)),
            Failure::Python(e) => e,
        }
    }
}

/// The exception for a core error: one mapping for the whole module.
fn exception(py: Python<'_>, e: rb::Error) -> PyErr {
    use rb::Error as E;
    let (class, attrs): (&str, Vec<(&str, Py<PyAny>)>) = match &e {
        E::InvalidName { .. }
        | E::InvalidConfig { .. }
        | E::PayloadTooLarge { .. }
        | E::KeyTooLarge { .. }
        | E::NoSuchPartition { .. } => ("InvalidArgumentError", vec![]),
        E::TopicExists(_) | E::PublisherExists(_) => ("ExistsError", vec![]),
        E::Full => ("FullError", vec![]),
        E::FlushTimeout => ("FlushTimeoutError", vec![]),
        E::JoinPending { .. } => ("OffsetPendingError", vec![]),
        E::Closed => ("ClosedError", vec![]),
        E::OffsetTrimmed { .. } | E::OffsetBeyondEnd { .. } | E::NotAnEventOffset { .. } => ("OffsetError", vec![]),
        E::Lagged { partition, lost } => (
            "LaggedError",
            vec![
                ("partition", partition.into_pyobject(py).map(|o| o.into_any().unbind()).unwrap_or_else(|_| py.None())),
                ("lost", lost.into_pyobject(py).map(|o| o.into_any().unbind()).unwrap_or_else(|_| py.None())),
            ],
        ),
        E::Evicted => ("EvictedError", vec![]),
        E::Locked { .. } => ("LockedError", vec![]),
        E::Io { .. } => ("StorageError", vec![]),
        E::CorruptLog { segment, position, .. } => (
            "CorruptLogError",
            vec![
                ("segment", PyString::new(py, segment).into_any().unbind()),
                ("position", position.into_pyobject(py).map(|o| o.into_any().unbind()).unwrap_or_else(|_| py.None())),
            ],
        ),
        E::Poisoned { .. } => ("PoisonedError", vec![]),
        E::NotPersisted(_) => ("NotPersistedError", vec![]),
        _ => ("RingbusError", vec![]),
    };
    let message = e.to_string();
    let made = (|| -> PyResult<PyErr> {
        let cls = py.import("ringbus._errors")?.getattr(class)?;
        let exc = cls.call1((message.clone(),))?;
        for (name, value) in attrs {
            exc.setattr(name, value)?;
        }
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|import_error| import_error)
}

/// A reader used from two threads at once.
pub(crate) fn busy() -> PyErr {
    PyRuntimeError::new_err("this reader is in use by another thread (use one reader per thread)")
}

/// A reader after `close()`.
pub(crate) fn closed_reader() -> Failure {
    Failure::Core(rb::Error::Closed)
}
