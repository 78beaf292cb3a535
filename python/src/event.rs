//! Events: `Event` (one, copied out once), `EventBatch` (many, in Arrow layout) and its
//! iterator.
#![deny(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBytes, PyDict, PyList, PyMemoryView, PyTuple};
use ringbus_core as rb;

use crate::arrow::{self, Columns};

/// One event, its payload and key copied out of the bus once.
#[pyclass(frozen, module = "ringbus")]
pub(crate) struct Event {
    #[pyo3(get)]
    offset: u64,
    #[pyo3(get)]
    partition: u32,
    /// ns since the Unix epoch.
    #[pyo3(get)]
    timestamp: u64,
    #[pyo3(get)]
    key: Option<Py<PyBytes>>,
    #[pyo3(get)]
    payload: Py<PyBytes>,
}

impl Event {
    pub(crate) fn from_ref(py: Python<'_>, e: &rb::EventRef<'_>) -> Self {
        Self {
            offset: e.offset,
            partition: e.partition,
            timestamp: e.timestamp,
            key: e.key.map(|k| PyBytes::new(py, k).unbind()),
            payload: PyBytes::new(py, e.payload).unbind(),
        }
    }
}

#[pymethods]
impl Event {
    /// The timestamp as an aware UTC datetime (microsecond precision).
    #[getter]
    fn datetime<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dt = py.import("datetime")?;
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        let epoch = dt.getattr("datetime")?.call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
        let kwargs = [("microseconds", self.timestamp / 1000)].into_py_dict(py)?;
        let delta = dt.getattr("timedelta")?.call((), Some(&kwargs))?;
        epoch.call_method1("__add__", (delta,))
    }

    /// A memoryview of the payload, without copying it.
    fn view<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyMemoryView>> {
        PyMemoryView::from(self.payload.bind(py).as_any())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let key = match &self.key {
            Some(k) => k.bind(py).repr()?.to_string(),
            None => "None".into(),
        };
        Ok(format!(
            "Event(offset={}, partition={}, timestamp={}, key={key}, payload=<{} bytes>)",
            self.offset,
            self.partition,
            self.timestamp,
            self.payload.bind(py).as_bytes().len()
        ))
    }
}

/// Events polled together, held in Arrow layout: export them to pyarrow, polars or pandas
/// without another copy, or read them one by one.
#[pyclass(frozen, sequence, module = "ringbus")]
pub(crate) struct EventBatch {
    columns: Arc<Columns>,
}

impl EventBatch {
    /// A batch over `columns`.
    pub(crate) fn new(columns: Arc<Columns>) -> Self {
        Self { columns }
    }
}

#[pymethods]
impl EventBatch {
    fn __len__(&self) -> usize {
        self.columns.len
    }

    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Event> {
        let len = self.columns.len as isize;
        let i = if index < 0 { index + len } else { index };
        if i < 0 || i >= len {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "index {index} out of range for a batch of {len} events"
            )));
        }
        Ok(event_at(py, &self.columns, i as usize))
    }

    fn __iter__(&self) -> BatchIter {
        BatchIter { columns: self.columns.clone(), next: AtomicUsize::new(0) }
    }

    /// The events as dicts: offset, partition, timestamp (ns), key (bytes or None), payload.
    fn to_pylist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let c = &self.columns;
        for i in 0..c.len {
            let d = PyDict::new(py);
            d.set_item("offset", c.offsets[i])?;
            d.set_item("partition", c.partitions[i])?;
            d.set_item("timestamp", c.timestamps[i])?;
            d.set_item("key", c.key(i).map(|k| PyBytes::new(py, k)))?;
            d.set_item("payload", PyBytes::new(py, c.payload(i)))?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// A pandas DataFrame (through pyarrow when installed, so timestamps are datetimes).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._convert")?.getattr("to_pandas")?.call1((slf,))
    }

    /// A polars DataFrame.
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("ringbus._convert")?.getattr("to_polars")?.call1((slf,))
    }

    /// The Arrow schema of the batch (PyCapsule interface).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(arrow::capsule(py, arrow::export_schema(), c"arrow_schema")?.into_any())
    }

    /// The batch as an Arrow struct array (PyCapsule interface); `requested_schema` is
    /// ignored: the batch has one layout.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let schema = arrow::capsule(py, arrow::export_schema(), c"arrow_schema")?;
        let array = arrow::capsule(py, arrow::export_array(&self.columns), c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    /// The batch as an Arrow stream of one record batch (PyCapsule interface).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = requested_schema;
        Ok(arrow::capsule(py, arrow::export_stream(&self.columns), c"arrow_array_stream")?.into_any())
    }

    fn __repr__(&self) -> String {
        format!("EventBatch(events={}, payload_bytes={})", self.columns.len, self.columns.payload_data.len())
    }
}

/// Iterates over a batch's events.
#[pyclass(frozen, module = "ringbus")]
pub(crate) struct BatchIter {
    columns: Arc<Columns>,
    next: AtomicUsize,
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> Option<Event> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.columns.len).then(|| event_at(py, &self.columns, i))
    }
}

fn event_at(py: Python<'_>, c: &Columns, i: usize) -> Event {
    Event {
        offset: c.offsets[i],
        partition: c.partitions[i],
        timestamp: c.timestamps[i] as u64,
        key: c.key(i).map(|k| PyBytes::new(py, k).unbind()),
        payload: PyBytes::new(py, c.payload(i)).unbind(),
    }
}
