//! Benchmark helpers (the `bench` feature, which `scripts/python-tests.sh` turns on): bare
//! calls into the extension that `python/benches/bench.py` times publish's call cost against.
//! Not in the package users install.
#![deny(unsafe_code)]

use pyo3::prelude::*;

/// Does nothing: the benchmarks' measure of a bare call into the extension.
#[pyfunction]
pub(crate) fn _noop() {}

/// A bare call with `Topic.publish`'s shape, for the benchmarks: a method of a frozen class
/// that takes a payload and returns a new int (the payload's address), doing nothing else.
#[pyclass(frozen, module = "ringbus._ringbus")]
pub(crate) struct _BareCall;

#[pymethods]
impl _BareCall {
    #[new]
    fn new() -> Self {
        Self
    }

    /// Returns `payload`'s address.
    fn call(&self, payload: &Bound<'_, PyAny>) -> usize {
        payload.as_ptr() as usize
    }
}

/// Adds the helpers to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_noop, m)?)?;
    m.add_class::<_BareCall>()?;
    Ok(())
}
